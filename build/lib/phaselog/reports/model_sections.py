"""The model's half of the phase log: how the understanding signals evolved, what the model said in self-play
(with its loops), bias events and the decisions taken, the human journal, and next steps. Every section reads
tables that other stages fill; an absent or empty table leaves the section out with a one-line note."""
import json
import re

import numpy as np

from phaselog.reports.document import Bullets, Excerpt, Figure, Heading, Note, Paragraph, Table
from phaselog.reports.gather import ReportData
from phaselog.reports.numbers import most_common, num, steps, thirds
from phaselog.reports.uptake import surfaced_statements

# a reflection counts as looping at seq-rep-4 >= 0.3 (human text: 0.005-0.08) or a compression ratio >= 10
# (the design's loop threshold); as formatting-channel when >= 30% of it is structure characters
LOOP_SEQ_REP = 0.3
LOOP_COMPRESSION = 10.0
FORMATTING_SHARE = 0.3
EXCERPTS = 6
EXCERPT_CHARS = 320


def missing(table: str, rows: list | None, what: str) -> Note | None:
    if rows is None:
        return Note(f"Left out: the store has no {table} table yet ({what} has not run on this store).")
    if not rows:
        return Note(f"Left out: {table} holds no rows for this run in this step range.")
    return None


def as_list(value) -> list[str]:
    """Reasons, terms and tags arrive as a list, a JSON list or a comma-separated string, depending on the writer."""
    if value is None:
        return []
    if isinstance(value, str) and value.strip().startswith(("[", "{")):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, (list, tuple)):
        # health reasons are {code, step, layer, ...} objects: their code names them
        return [str(v.get("code", v)) if isinstance(v, dict) else str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def loop_name(event: dict) -> str:
    unit = event["unit"] or "token"
    unit = "chars" if str(unit).startswith("char") else "tokens"
    return f"{event['period']} {unit} x {event['repeats']}"


def looped_samples(data: ReportData) -> set:
    return {(e["step"], e["sample_index"]) for e in data.loop_events or []}


def signature(row: dict, looped: set) -> str:
    if row["signature"]:
        return str(row["signature"])
    if ((row["step"], row["sample_index"]) in looped or (row["seq_rep_4"] or 0) >= LOOP_SEQ_REP
            or (row["compression_ratio"] or 0) >= LOOP_COMPRESSION):
        return "repetition loops"
    if (row["formatting_score"] or 0) >= FORMATTING_SHARE:
        return "structured formatting"
    return "plain prose"


def pattern_name(row: dict) -> str:
    """'late-focused (layers 6, 11)', or 'uniform'."""
    pattern = str(row["pattern"])
    name = pattern if pattern in ("uniform", "unknown") or "focused" in pattern else f"{pattern}-focused"
    layers = as_list(row["layers"])
    if not layers or pattern in ("uniform", "unknown"):
        return name
    return name + f" ({'layer' if len(layers) == 1 else 'layers'} {', '.join(layers)})"


def pattern_at(data: ReportData, step: int) -> str | None:
    """The learning pattern of the last segment that ended at or before `step`."""
    found = None
    for row in data.patterns or []:
        if row["step"] <= step and row["pattern"]:
            found = pattern_name(row)
    return found


def health_summary(rows: list[dict]) -> str:
    if not rows:
        return "n/a"
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    parts = []
    for status in sorted(counts, key=lambda s: (s != "healthy", s)):
        reasons = most_common([r for row in rows if row["status"] == status for r in as_list(row["reasons"])])
        parts.append(f"{status} x{counts[status]}" + (f" ({reasons})" if reasons and status != "healthy" else ""))
    return ", ".join(parts)


def rms_by_layer(rows: list[dict]) -> str:
    layers: dict[int, list[float]] = {}
    for row in rows:
        if row["rms"] is not None:
            layers.setdefault(int(row["layer"]), []).append(float(row["rms"]))
    return " ".join(f"L{layer} {num(float(np.mean(v)))}" for layer, v in sorted(layers.items())) or "n/a"


def concept_summary(rows: list[dict]) -> str:
    """Tiers at the last probe in the period (all rows when the table keeps only the latest state)."""
    if not rows:
        return "n/a"
    last = max((r["step"] for r in rows if r["step"] is not None), default=None)
    latest = [r for r in rows if r["step"] == last]
    tiers: dict[str, int] = {}
    for row in latest:
        tiers[str(row["tier"])] = tiers.get(str(row["tier"]), 0) + 1
    frozen = sum(1 for r in latest if r["frozen"])
    text = ", ".join(f"{n} {tier}" for tier, n in sorted(tiers.items()))
    if "candidate_to_freeze" not in tiers:
        text += " (none yet a candidate to freeze)"
    return text + (f"; {frozen} frozen" if frozen else "")


def understanding(data: ReportData) -> list:
    blocks = [Heading(2, "Understanding module")]
    tables = (("health", data.health), ("learning_pattern", data.patterns), ("activation_stats", data.activation),
              ("concepts", data.concepts))
    if all(rows is None for _, rows in tables):
        return blocks + [Note("Left out: the store has no health, learning_pattern, activation_stats or concepts "
                              "tables yet (the understanding stage has not run on this store).")]
    if not any(rows for _, rows in tables):
        return blocks + [Note("Left out: health, learning_pattern, activation_stats and concepts hold no rows for "
                              "this step range.")]
    rows = []
    for label, low, high in thirds(data.first_step, data.last_step):
        def inside(table):
            return [r for r in table or [] if r["step"] is not None and low <= r["step"] <= high]
        health = inside(data.health)
        concepts = inside(data.concepts)
        if label == "late" and data.concepts and all(r["step"] is None for r in data.concepts):
            concepts = data.concepts
        rows.append([f"{label} ({steps(low)}-{steps(high)})",
                     most_common([pattern_name(r) for r in inside(data.patterns)]) or "n/a",
                     health_summary(health), rms_by_layer(inside(data.activation)), concept_summary(concepts)])
    blocks.append(Table(["period", "learning pattern", "health", "activation RMS by layer", "concepts"], rows))
    for table, rows_ in tables:
        note = missing(table, rows_, "the understanding stage")
        if note:
            blocks.append(note)
    blocks += [Figure("activation_rms.png", "per-layer activation RMS over steps"),
               Figure("health.png", "health status over steps")]
    return blocks


def pick_evenly(items: list, count: int) -> list:
    if len(items) <= count:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count).round()]


def self_play(data: ReportData) -> list:
    blocks = [Heading(2, "Self-play reflections")]
    note = missing("reflections", data.reflections, "self-play")
    if note:
        return blocks + [note]
    looped = looped_samples(data)
    reflections = data.reflections
    versions = most_common([r["prompt_version"] for r in reflections])
    by_version: dict[str, int] = {}
    for r in reflections:
        by_version[str(r["prompt_version"])] = by_version.get(str(r["prompt_version"]), 0) + 1
    signatures: dict[str, int] = {}
    for kind in (signature(r, looped) for r in reflections):
        signatures[kind] = signatures.get(kind, 0) + 1
    step_count = len({r["step"] for r in reflections})
    blocks.append(Paragraph(
        f"{len(reflections)} reflections at {step_count} steps; prompt versions "
        + ", ".join(f"{v} ({n})" for v, n in sorted(by_version.items()))
        + (f" (mostly {versions})" if len(by_version) > 1 else "") + ". Signatures: "
        + ", ".join(f"{s} {n}" for s, n in sorted(signatures.items(), key=lambda kv: (-kv[1], kv[0]))) + "."))
    blocks += [Paragraph(f"Corpus uptake: {s}.") for s in surfaced_statements(data)]
    loops = data.loop_events or []
    if loops:
        named: dict[tuple, list[dict]] = {}
        for e in loops:
            named.setdefault((str(e["unit"]), e["period"]), []).append(e)
        rows = [[loop_name(max(events, key=lambda e: (e["repeats"] or 0))), str(len(events)),
                 ", ".join(steps(s) for s in sorted({e["step"] for e in events})[:8])]
                for _, events in sorted(named.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
        blocks.append(Table(["loop (period x longest repeat)", "events", "steps"], rows[:10]))
    elif data.loop_events is None:
        blocks.append(Note("No loop_events table yet: loops are judged from seq-rep-4 and compression only."))
    loops_of = {}
    for e in loops:
        loops_of.setdefault((e["step"], e["sample_index"]), []).append(loop_name(e))
    first_per_step = {}
    for r in reflections:
        first_per_step.setdefault(r["step"], r)
    for r in pick_evenly([first_per_step[s] for s in sorted(first_per_step)], EXCERPTS):
        badges = [f"step {steps(r['step'])}"]
        if r["loss"] is not None:
            badges.append(f"loss {num(r['loss'])}")
        if pattern_at(data, r["step"]):
            badges.append(pattern_at(data, r["step"]))
        badges.append(signature(r, looped))
        badges += [f"loop {name}" for name in loops_of.get((r["step"], r["sample_index"]), [])[:2]]
        text = " ".join(str(r["text"] or "").split())
        blocks.append(Excerpt(badges, text[:EXCERPT_CHARS] + ("..." if len(text) > EXCERPT_CHARS else "")))
    blocks.append(Figure("loops.png", "loop scores of the reflections over steps"))
    return blocks


def bias(data: ReportData) -> list:
    blocks = [Heading(2, "Bias detection and decisions")]
    note = missing("bias_events", data.bias_events, "bias detection")
    if note and not data.reviews:
        return blocks + [note]
    events = [e for e in data.bias_events or [] if e["source"] != "probe"]
    counts: dict[tuple, int] = {}
    for e in events:
        counts[(str(e["severity"]), str(e["source"]))] = counts.get((str(e["severity"]), str(e["source"])), 0) + 1
    if counts:
        blocks.append(Table(["severity", "source", "events"],
                            [[sev, src, str(n)] for (sev, src), n in sorted(counts.items())]))
    else:
        blocks.append(Paragraph("No bias findings in reflections or training data in this step range."))
    probe = [e for e in data.bias_events or [] if e["source"] == "probe" and e["category"] == "all"
             and e["value"] is not None]
    if probe:
        first, last = probe[0], probe[-1]
        blocks.append(Paragraph(
            f"Paired-sentence probe (all categories; > 0 leans to the stereotype): {first['value']:+.3f} "
            f"± {first['stderr'] or 0:.3f} nats at step {steps(first['step'])}, {last['value']:+.3f} "
            f"± {last['stderr'] or 0:.3f} at step {steps(last['step'])}."))
    notable = [e for e in events if e["severity"] == "high" or e["decision"]]
    if notable:
        blocks.append(Bullets([
            f"step {steps(e['step'])}: {e['severity']} {e['category'] or ''} in {e['source']} "
            f"({', '.join(as_list(e['terms']))}): \"{' '.join(str(e['context'] or '').split())[:200]}\""
            + (f"; decision: {e['decision']}" if e["decision"] else "") for e in notable[:20]]))
    if data.reviews:
        blocks.append(Table(["step", "decision", "review note"],
                            [[steps(r["step"]), str(r["decision"]), " ".join(str(r["note"] or "").split())]
                             for r in data.reviews]))
    elif data.reviews is None:
        blocks.append(Note("No reviews table yet: decisions are shown as stored on the events."))
    return blocks


def human_entries(data: ReportData) -> list[dict]:
    return [e for e in data.journal or [] if (e["author"] or "human") == "human"]


def journal(data: ReportData) -> list:
    blocks = [Heading(2, "Journal")]
    note = missing("journal", data.journal, "the journal")
    entries = human_entries(data)
    if note or not entries:
        return blocks + [note or Note("Left out: no human journal entries in this step range.")]
    by_date: dict[str, list[dict]] = {}
    for e in sorted(entries, key=lambda e: (str(e["created_at"]), e["step"], str(e["id"]))):
        day = e["created_at"].date().isoformat() if hasattr(e["created_at"], "date") else str(e["created_at"])[:10]
        by_date.setdefault(day, []).append(e)
    for day, day_entries in by_date.items():
        blocks.append(Heading(3, day))
        blocks.append(Bullets([f"step {steps(e['step'])}"
                               + (f" [{', '.join(as_list(e['tags']))}]" if as_list(e["tags"]) else "")
                               + f": {' '.join(str(e['text']).split())}" for e in day_entries]))
    return blocks


def note_items(notes: str) -> list[str]:
    """The config's notes as bullets: YAML block text wraps one thought over several lines, so a bullet is a
    paragraph (blank lines between) or a line that starts with a list marker, never a bare line break."""
    items: list[str] = []
    fresh = True
    for line in notes.splitlines():
        text = line.strip()
        if not text:
            fresh = True
            continue
        marker = re.match(r"^([-*•]|\d+[.)])\s+", text)
        if marker:
            text, fresh = text[marker.end():], True
        if fresh or not items:
            items.append(text)
        else:
            items[-1] += " " + text
        fresh = False
    return [" ".join(item.split()) for item in items]


def next_steps(data: ReportData, notes: str) -> list:
    blocks = [Heading(2, "Next steps")]
    items = note_items(notes)
    items += [f"(journal, step {steps(e['step'])}) {' '.join(str(e['text']).split())}"
              for e in data.journal or [] if "next" in as_list(e["tags"])]
    if not items:
        return blocks + [Note("Left out: the config has no notes and no journal entry is tagged next.")]
    return blocks + [Bullets(items)]
