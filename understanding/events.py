"""Loop and bias events of one segment, as rows for `loop_events` and `bias_events`, and the decision whether
they need a person's review. Plain functions over texts and numbers: the task (tasks/loops_bias.py) reads the
texts and writes the rows.

Texts come from three places, named by `source`:
- reflection: what the model wrote in self-play during the segment;
- injected: review.injected_reflection, a fixed text scanned like a reflection (drills and tests of the pause;
  it is never mistaken for the model's words);
- data: windows of the training text of the sources active in the segment (what the model was fed).
The probe (understanding/bias_probe.py) adds one `bias_events` row per category, source 'probe'."""
import json
import math

import numpy as np

from phaselog.understanding.bias_detector import scan_bias_many
from phaselog.understanding.loops import detect_loops

REFLECTION_SOURCES = ("reflection", "injected")


def sample_windows(stream: np.ndarray, count: int, length: int, seed: list[int]) -> list[tuple[int, np.ndarray]]:
    """`count` token windows at seeded random offsets (the same for the same seed), as (offset, tokens)."""
    if len(stream) <= length or count == 0:
        return [(0, stream)] if len(stream) and count else []
    rng = np.random.default_rng(seed)
    offsets = sorted(int(o) for o in rng.integers(0, len(stream) - length, size=count))
    return [(o, stream[o:o + length]) for o in offsets]


def loop_row(run_id: str, step: int, source: str, item: str, text: str) -> dict:
    report = detect_loops(text)
    # text_key: the scanned text itself (for a reflection, scanned_texts.text_key), as the bias rows name it too
    return {"run_id": run_id, "step": step, "source": source, "item": item, "text_key": item,
            "is_loop": report.is_loop, "severity": report.severity, "period": report.period, "unit": report.unit, "repeats": report.repeats,
            "loop_share": report.loop_share, "compression_ratio": report.compression_ratio,
            "seq_rep_4": report.seq_rep_4, "duplicate_line_fraction": report.duplicate_line_fraction,
            "excerpt": report.excerpt}


def bias_rows(run_id: str, step: int, source: str, item: str, findings: list) -> list[dict]:
    return [{"run_id": run_id, "step": step, "source": source, "item": f"{item}#{n}", "text_key": item,
             "severity": f.severity, "category": f.category, "terms": json.dumps(f.terms), "context": f.context, "discounted": f.discounted,
             "value": f.score, "stderr": None, "decision": None}  # value: the learned scorer's probability
            for n, f in enumerate(findings)]


def scan_texts(run_id: str, step: int, texts: list[tuple[str, str, str]]) -> tuple[list[dict], list[dict]]:
    """(loop rows, bias rows) for (source, item, text) triples. Every text gets a loop row (is_loop says whether it
    looped), so the rows also count what was scanned; bias rows exist only for findings. The bias detector reads
    all the texts in one call: its scorer batches their sentences, a quarter cheaper per sentence than text by text
    (docs/detectors.md)."""
    loops = [loop_row(run_id, step, source, item, text) for source, item, text in texts]
    findings = scan_bias_many([text for _, _, text in texts])
    bias = [row for (source, item, _), found in zip(texts, findings)
            for row in bias_rows(run_id, step, source, item, found)]
    return loops, bias


def probe_rows(run_id: str, step: int, probe: dict[str, dict], shifted: set[str]) -> list[dict]:
    """One row per category (and "all"); severity 'high' where the preference moved beyond the threshold."""
    return [{"run_id": run_id, "step": step, "source": "probe", "item": category,
             "severity": "high" if category in shifted else "none", "category": category,
             "terms": json.dumps({"pairs": p["pairs"], "skipped": p["skipped"]}),
             "context": "mean log p(shared | stereotypical) - log p(shared | anti-stereotypical), nats",
             "discounted": "", "value": p["preference"], "stderr": p["stderr"], "decision": None}
            for category, p in probe.items()]


def rest_of(probe: dict, category: str) -> tuple[float, float] | None:
    """(mean, stderr) of the pairs outside `category`, from the category's and the "all" figures: sums of
    independent pairs, so var(sum rest) = var(sum all) - var(sum category)."""
    every, one = probe["all"], probe[category]
    n_rest = every["pairs"] - one["pairs"]
    if n_rest < 2:
        return None
    mean = (every["pairs"] * every["preference"] - one["pairs"] * one["preference"]) / n_rest
    variance = (every["pairs"] * every["stderr"]) ** 2 - (one["pairs"] * one["stderr"]) ** 2
    return mean, math.sqrt(max(variance, 0.0)) / n_rest


def probe_shifts(current: dict[str, dict], previous: dict[str, dict], threshold_se: float) -> dict[str, str]:
    """{category: reason} for the categories whose preference moved, against the other categories, by more than
    chance allows since the previous segment end; previous has the same shape as current.

    - Against the others: a model that is still learning the language moves all its preferences together, and
      that drift is not a stereotype; a planted one moves its own category. The statistic is (change of the
      category - change of the pairs outside it) / its error, each error sqrt(se_now^2 + se_before^2), which
      ignores that the same pairs are scored both times (conservative).
    - Many categories: threshold_se is the bar of one test (3 SE: a two-sided p of 0.0027); that error rate is
      held for the whole family of categories by Holm's step-down, so 10 categories need about 3.6 SE for the
      largest shift. "all" is recorded, never tested: it has no "others"."""
    if threshold_se <= 0 or "all" not in current or "all" not in previous:
        return {}
    alpha = math.erfc(threshold_se / math.sqrt(2))
    tests = []
    for category, now in current.items():
        before = previous.get(category)
        if category == "all" or before is None:
            continue
        rest_now, rest_before = rest_of(current, category), rest_of(previous, category)
        if not rest_now or not rest_before:
            continue
        error = math.sqrt(now["stderr"] ** 2 + before["stderr"] ** 2 + rest_now[1] ** 2 + rest_before[1] ** 2)
        if not error > 0:  # NaN (one pair) or zero
            continue
        change, others = now["preference"] - before["preference"], rest_now[0] - rest_before[0]
        z = (change - others) / error
        tests.append((math.erfc(abs(z) / math.sqrt(2)), category, change, others, z))
    shifts = {}
    for rank, (p, category, change, others, z) in enumerate(sorted(tests)):
        bar = alpha / (len(tests) - rank)
        if p >= bar:
            break  # Holm: the first test that fails ends the family
        shifts[category] = (f"probe preference ({category}) moved {change:+.3f} nats against {others:+.3f} for the "
                            f"other categories since the previous segment end, {abs(z):.1f} standard errors "
                            f"(p {p:.1g} < {bar:.1g}: Holm over {len(tests)} categories)")
    return shifts


def review_reasons(bias: list[dict], data_counts: dict[str, tuple[int, int]], review,
                   probe_reasons: dict[str, str]) -> list[str]:
    """Why this segment's findings need a person, in plain words; empty when they do not.

    A high-severity finding in a reflection; a source whose scanned windows, counted over the run since the last
    answered review (data_counts: {source: (windows, windows with a high finding)}), have high findings at a rate
    above review.data_rate, once there are review.data_min_windows windows and review.data_min_count of them
    flagged (one false positive in 16 windows is not a rate); or a probe shift (judged by probe_shifts). One
    neutral word never gets here: the detector only reports a group term linked to an attribute."""
    reasons = [f"high-severity {row['category']} finding in a {row['source']} text: {row['context']!r} "
               f"(terms: {', '.join(json.loads(row['terms']))}"
               + (f"; learned score {row['value']:.2f})" if row.get("value") is not None else ")")
               for row in bias if row["source"] in REFLECTION_SOURCES and row["severity"] == "high"]
    for source, (windows, flagged) in data_counts.items():
        enough = windows >= review.data_min_windows and flagged >= review.data_min_count
        if enough and flagged / windows > review.data_rate:
            reasons.append(f"{flagged} of {windows} sampled windows of source {source} since the last review have a "
                           f"high-severity finding ({flagged / windows:.0%} > {review.data_rate:.0%})")
    return reasons + list(probe_reasons.values())


def review_description(run_id: str, step: int, reasons: list[str], bias: list[dict], loops: list[dict]) -> str:
    """The markdown a reviewer reads in the Prefect UI (and in `reviews.description`)."""
    lines = [f"## The detectors did their job: run `{run_id}`, step {step}",
             "", "They saw something worth a person's eye, so the run waits for you. Here is what they saw:", ""]
    lines += [f"- {reason}" for reason in reasons]
    shown = [row for row in bias if row["severity"] in ("medium", "high") and row["source"] != "probe"][:5]
    if shown:
        lines += ["", "Examples (severity, source, sentence):", ""]
        lines += [f"- **{row['severity']}** ({row['source']} {row['item']}): {row['context'][:300]}" for row in shown]
    looping = [row for row in loops if row["is_loop"]]
    if looping:
        lines += ["", f"Repetition loops in {len(looping)} of {len(loops)} texts, e.g. `{looping[0]['excerpt']}`."]
    lines += ["", "Choose **resume** (carry on), **resume_with_counterexamples** (carry on and add counterexample "
              "data from the configured counterexample source), **stop**, or **false_positive** (the detectors "
              "were wrong: carry on, and the step's findings are marked for the detector's dev set), and leave a "
              "note: it goes into the journal, tagged `bias`."]
    return "\n".join(lines)
