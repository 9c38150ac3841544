"""The sections that make the phase log read like a researcher's post: what we changed and why (the configuration,
the data joins, the reviews, and the reasons the journal gives), how the model talks now
(a representative reflection from each of up to three self-plays, each with its loss and what it shows), and what's next (reports/next_steps.py,
from the store's open signals)."""
import numpy as np

from phaselog.reports import verdicts
from phaselog.reports.claims import capital, loss_claim, mix_claims
from phaselog.reports.document import Bullets, Excerpt, Heading, Note, Paragraph, Table
from phaselog.reports.gather import ReportData, bucket_width, config_of
from phaselog.reports.model_sections import (FORMATTING_SHARE, LOOP_SEQ_REP, as_list, corpus_uptake, human_entries,
                                             loop_name, looped_samples, missing, note_items, signature)
from phaselog.reports.next_steps import Signals, follow_ups
from phaselog.reports.numbers import buckets, most_common, num, steps
from phaselog.reports.phase_data import run_changes
from phaselog.reports.source_joins import joins
from phaselog.reports.training_sections import overview_table
from phaselog.reports.uptake import surfaced

QUOTES = 3
QUOTE_CHARS = 320
WHY_TAGS = ("why", "plan", "change")


def configuration(data: ReportData) -> str:
    run = {"parent_run": None, "config_diff": None, **data.run, "config": config_of(data)}
    if run["parent_run"] and run["config_diff"]:
        return f"Changed from {run['parent_run']}: {'; '.join(run_changes(run))}."
    # the review setting only when it mattered: a pause, or a high finding (which pauses only with it on)
    review = bool(data.reviews) or any(e["severity"] == "high" and e["source"] != "probe"
                                       for e in data.bias_events or [])
    return f"Configuration: {'; '.join(run_changes(run, review))}."


def reasons(data: ReportData) -> list:
    """The journal entries that give a reason: tagged why/plan/change, or written at or before the first change
    (the config's notes are plans: they go to what's next)."""
    first_change = min([j["step"] for j in joins(data)] + [r["step"] for r in data.reviews or []],
                       default=data.last_step)
    entries = [e for e in human_entries(data)
               if set(as_list(e["tags"])) & set(WHY_TAGS) or (e["step"] is not None and e["step"] <= first_change)]
    blocks = [Excerpt([f"step {steps(e['step'])}", "journal", *[f"#{t}" for t in as_list(e["tags"])]],
                      " ".join(str(e["text"]).split())) for e in entries]
    return blocks or [Note(f"No journal entry says why: phaselog journal add --run "
                           f"{data.run_id} --step N --tag why TEXT records the reason for the next log.")]


def changes(data: ReportData) -> list:
    blocks = [Heading(2, "What we changed and why"), Paragraph(configuration(data))]
    blocks += overview_table(data)
    joined = mix_claims(data)
    if joined:
        blocks.append(Bullets([c.text + "." for c in joined]))
    answered = [r for r in data.reviews or [] if r["step"] is not None]
    if answered:
        blocks.append(Table(["review at step", "decision", "note"],
                            [[steps(r["step"]), str(r["decision"] or "waiting for an answer"),
                              " ".join(str(r["note"] or "").split())] for r in answered]))
    return blocks + reasons(data)


def token_name(token: str) -> str:
    """A token as a reader can see it: quoted text, or what whitespace it is."""
    if token.strip():
        return f"'{token.strip()}'"
    return "a line break" if "\n" in token else "a space"


def uptake_shares(data: ReportData, row: dict) -> str:
    """Every source's share side by side, each with its most frequent distinctive words, then each late source's
    uptake score: a share of one source alone reads as uptake even when the other's is larger."""
    uptake = corpus_uptake(row)
    late = {j["source"]: j["step"] for j in joins(data)}
    if not late or not uptake:
        return ""
    counted = next((u["content_tokens"] for u in uptake.values() if "content_tokens" in u), None)
    head = (f"of its {counted} content words (stop words and punctuation out), " if counted is not None else
            "of all its tokens (stored before content words were counted: punctuation and stop words included), ")
    parts = []
    for source in sorted(uptake, key=lambda s: (s in late, s)):
        mine = uptake[source] or {}
        # " v" and "v" are two tokens but one word to a reader: named once
        words = ", ".join(list(dict.fromkeys(token_name(w) for w in mine.get("top") or []))[:3])
        joined = f", which joined at step {steps(late[source])}" if source in late else ""
        parts.append(f"{100 * (mine.get('share') or 0):.0f}% are distinctive of {source}{joined}"
                     + (f" ({words})" if words else ""))
    scores = [f"{uptake[s]['score']:+.2f} for {s} (> 0 reads more like {s}, < 0 more like the others)"
              for s in late if (uptake.get(s) or {}).get("score") is not None]
    return head + "; ".join(parts) + (f"; uptake score {'; '.join(scores)}" if scores else "")


def what_it_shows(data: ReportData, row: dict, looped: set, loops_of: dict) -> str:
    kind = signature(row, looped)
    if kind == "repetition loops":
        found = loops_of.get((row["step"], row["sample_index"]))
        why = (f"a repetition loop ({found[0]})" if found else
               f"repetition: seq-rep-4 {num(row['seq_rep_4'] or 0)} (>= {LOOP_SEQ_REP}; human text 0.005-0.08)")
    elif kind == "structured formatting":
        why = (f"the formatting channel: {100 * (row['formatting_score'] or 0):.0f}% of its characters are structure "
               f"(>= {100 * FORMATTING_SHARE:.0f}%)")
    else:
        why = f"plain prose, no loop (seq-rep-4 {num(row['seq_rep_4'] or 0)}, formatting score " \
              f"{num(row['formatting_score'] or 0)})"
    shares = uptake_shares(data, row)
    return f"It shows {why}" + (f"; {shares}" if shares else "") + "."


def late_share(data: ReportData, row: dict) -> float:
    uptake = corpus_uptake(row)
    return max([(uptake.get(j["source"]) or {}).get("share") or 0 for j in joins(data)], default=0)


def by_representativeness(data: ReportData, rows: list[dict], looped: set) -> list[dict]:
    """A step's reflections, the one that stands for it first: of the step's most common kind (loops, formatting,
    prose), the middle one by its share of words distinctive of a late source (not the most marked); then the
    others of that kind nearest the middle, then the other kinds."""
    kind = most_common([signature(r, looped) for r in rows])
    of_kind = sorted((r for r in rows if signature(r, looped) == kind),
                     key=lambda r: (late_share(data, r), r["sample_index"]))
    middle = (len(of_kind) - 1) // 2
    rest = sorted((r for r in rows if signature(r, looped) != kind), key=lambda r: r["sample_index"])
    return sorted(of_kind, key=lambda r: (abs(of_kind.index(r) - middle), of_kind.index(r))) + rest


def quoted(data: ReportData) -> list[dict]:
    """Up to QUOTES reflections from self-plays spread over the range (the last, the first and one between), the
    representative one of each; a text the model wrote twice is quoted once (the step's next one stands in)."""
    looped = looped_samples(data)
    plays = sorted({r["step"] for r in data.reflections})
    picked_steps = sorted({plays[round(i)] for i in np.linspace(0, len(plays) - 1, min(QUOTES, len(plays)))})
    texts, out = set(), []
    for step in reversed(picked_steps):  # the last self-play first: it is always quoted
        rows = by_representativeness(data, [r for r in data.reflections if r["step"] == step], looped)
        row = next((r for r in rows if r["text"] not in texts), None)
        if row:
            texts.add(row["text"])
            out.append(row)
    return out[::-1]


def loss_at(data: ReportData, row: dict) -> float | None:
    """The training loss at the reflection's step: as self-play stored it, else the metrics row of that step."""
    if row["loss"] is not None:
        return float(row["loss"])
    at = np.nonzero(data.metrics["step"] == row["step"])[0]
    return float(data.metrics["loss"][at[0]]) if at.size else None


def model_talk(data: ReportData) -> list:
    blocks = [Heading(2, "How the model talks now")]
    note = missing("reflections", data.reflections, "self-play")
    if note:
        return blocks + [note]
    looped = looped_samples(data)
    loops_of: dict = {}
    for e in data.loop_events or []:
        loops_of.setdefault((e["step"], e["sample_index"]), []).append(loop_name(e))
    counts: dict[str, int] = {}
    for r in data.reflections:
        counts[signature(r, looped)] = counts.get(signature(r, looped), 0) + 1
    picked = quoted(data)
    listed = [steps(r["step"]) for r in picked]
    at = (f"step {listed[0]}, the one that represents it" if len(listed) == 1 else
          f"each of steps {', '.join(listed[:-1])} and {listed[-1]}, each the one that represents its step")
    blocks.append(Paragraph(
        f"One reflection from {at} (of the step's most common kind, the middle one by its share of words "
        "distinctive of a late source), with the training loss there"
        + (f"; the newest is at step {steps(picked[-1]['step'])}, the last self-play" if len(listed) > 1 else "")
        + f". Of the {len(data.reflections)} "
        "reflections in the range: "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) + "."))
    for r in picked:
        text = " ".join(str(r["text"] or "").split())
        loss = loss_at(data, r)
        badges = [f"step {steps(r['step'])}", f"sample {r['sample_index']}", f"prompt {r['prompt_version']}",
                  signature(r, looped)] + ([f"loss {num(loss)}"] if loss is not None else [])
        blocks.append(Excerpt(badges, text[:QUOTE_CHARS] + ("..." if len(text) > QUOTE_CHARS else "")))
        blocks.append(Paragraph(what_it_shows(data, r, looped, loops_of)))
    # the uptake claim's own sentence: said here only when the TL;DR did not say it (document.without_repeats)
    blocks += [Paragraph(capital(text) + ".") for _, text in surfaced(data)]
    return blocks


def signals(data: ReportData) -> Signals:
    width = bucket_width(data)
    step, loss = data.metrics["step"], data.metrics["loss"]
    groups = buckets(step, width)
    slope = None
    if groups and len(groups[-1][2]) >= 3:
        index = groups[-1][2]
        slope = 1000 * float(np.polyfit(step[index], loss[index], 1)[0])
    looped = looped_samples(data)
    last_loop = None
    if data.reflections:
        last = max(r["step"] for r in data.reflections)
        latest = [r for r in data.reflections if r["step"] == last]
        last_loop = (last, sum(signature(r, looped) == "repetition loops" for r in latest) / len(latest))
    plans = [f"(journal, step {steps(e['step'])}) {' '.join(str(e['text']).split())}"
             for e in human_entries(data) if "next" in as_list(e["tags"])]
    plans += [f"(config notes) {item}" for item in note_items(str(config_of(data).get("notes") or ""))]
    health = (data.health or [None])[-1]
    return Signals(
        run_id=data.run_id, first_step=data.first_step, last_step=data.last_step,
        loss=loss_claim(data), last_slope=slope, uptake=surfaced(data),
        pending_reviews=[r["step"] for r in data.reviews or [] if r["status"] == "pending"],
        last_health={"step": health["step"], "status": health["status"], "reasons": as_list(health["reasons"])}
        if health else None,
        last_loop_share=last_loop, unheard=[] if data.reflections else [j["source"] for j in joins(data)],
        unpaused_high=verdicts.unpaused_high(data), plans=plans)


def whats_next(data: ReportData) -> list:
    blocks = [Heading(2, "What's next")]
    items = follow_ups(signals(data))
    if not items:
        return blocks + [Note("Nothing in the store is left open: the loss has settled, no review waits, health "
                              "is healthy, and no journal entry is tagged next.")]
    return blocks + [Bullets(items)]
