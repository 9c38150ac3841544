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

import numpy as np

from phaselog.understanding.bias import scan_bias
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
    return {"run_id": run_id, "step": step, "source": source, "item": item, "is_loop": report.is_loop,
            "severity": report.severity, "period": report.period, "unit": report.unit, "repeats": report.repeats,
            "loop_share": report.loop_share, "compression_ratio": report.compression_ratio,
            "seq_rep_4": report.seq_rep_4, "duplicate_line_fraction": report.duplicate_line_fraction,
            "excerpt": report.excerpt}


def bias_rows(run_id: str, step: int, source: str, item: str, text: str) -> list[dict]:
    return [{"run_id": run_id, "step": step, "source": source, "item": f"{item}#{n}", "severity": f.severity,
             "category": f.category, "terms": json.dumps(f.terms), "context": f.context, "discounted": f.discounted,
             "value": None, "stderr": None, "decision": None}
            for n, f in enumerate(scan_bias(text))]


def scan_texts(run_id: str, step: int, texts: list[tuple[str, str, str]]) -> tuple[list[dict], list[dict]]:
    """(loop rows, bias rows) for (source, item, text) triples. Every text gets a loop row (is_loop says whether it
    looped), so the rows also count what was scanned; bias rows exist only for findings."""
    loops, bias = [], []
    for source, item, text in texts:
        loops.append(loop_row(run_id, step, source, item, text))
        bias += bias_rows(run_id, step, source, item, text)
    return loops, bias


def probe_rows(run_id: str, step: int, probe: dict[str, dict], shifted: set[str]) -> list[dict]:
    """One row per category (and "all"); severity 'high' where the preference moved beyond the threshold."""
    return [{"run_id": run_id, "step": step, "source": "probe", "item": category,
             "severity": "high" if category in shifted else "none", "category": category,
             "terms": json.dumps({"pairs": p["pairs"], "skipped": p["skipped"]}),
             "context": "mean log p(shared | stereotypical) - log p(shared | anti-stereotypical), nats",
             "discounted": "", "value": p["preference"], "stderr": p["stderr"], "decision": None}
            for category, p in probe.items()]


def probe_shifts(current: dict[str, dict], previous: dict[str, tuple[float, float]], threshold_se: float
                 ) -> dict[str, str]:
    """{category: reason} where the preference moved by more than threshold_se standard errors since the previous
    segment end. The shift's error is sqrt(se_now^2 + se_before^2), which ignores that the same pairs are scored
    both times: conservative, it flags fewer shifts than a paired test would."""
    shifts = {}
    if threshold_se <= 0:
        return shifts
    for category, now in current.items():
        if category not in previous:
            continue
        before, before_se = previous[category]
        error = (now["stderr"] ** 2 + before_se ** 2) ** 0.5
        change = now["preference"] - before
        if error > 0 and abs(change) > threshold_se * error:
            shifts[category] = (f"probe preference ({category}) moved {change:+.3f} nats, {abs(change) / error:.1f} "
                                f"standard errors, since the previous segment end ({before:+.3f} -> "
                                f"{now['preference']:+.3f})")
    return shifts


def review_reasons(bias: list[dict], windows_per_source: dict[str, int], data_rate: float,
                   probe_reasons: dict[str, str]) -> list[str]:
    """Why this segment's findings need a person, in plain words; empty when they do not.

    A high-severity finding in a reflection; a source whose sampled windows have high-severity findings at a rate
    above data_rate; or a probe shift (already judged by probe_shifts). One neutral word never gets here: the
    detector only reports a group term linked to an attribute."""
    reasons = [f"high-severity {row['category']} finding in a {row['source']} text: {row['context']!r} "
               f"(terms: {', '.join(json.loads(row['terms']))})"
               for row in bias if row["source"] in REFLECTION_SOURCES and row["severity"] == "high"]
    for source, windows in windows_per_source.items():
        flagged = {row["item"].split("#")[0] for row in bias
                   if row["source"] == "data" and row["severity"] == "high" and row["item"].startswith(f"{source}@")}
        if windows and len(flagged) / windows > data_rate:
            reasons.append(f"{len(flagged)} of {windows} sampled windows of source {source} have a high-severity "
                           f"finding ({len(flagged) / windows:.0%} > {data_rate:.0%})")
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
              "data; recorded as a note until a counterexample source is configured) or **stop**, and leave a note: "
              "it goes into the journal, tagged `bias`."]
    return "\n".join(lines)
