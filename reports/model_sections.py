"""The model's half of the phase log: how the understanding signals evolved (when they moved), the judgements on
reflections the other sections share (signature, loops), and the human journal. Every section reads tables that
other stages fill; an absent or empty table leaves the section out with a one-line note."""
import json
import re

import numpy as np

from phaselog.reports.document import Bullets, Figure, Heading, Note, Paragraph, Table
from phaselog.reports.gather import ReportData
from phaselog.reports.numbers import mean_per, most_common, num, steps, thirds

# a reflection counts as looping at seq-rep-4 >= 0.3 (human text: 0.005-0.08) or a compression ratio >= 10
# (the design's loop threshold); as formatting-channel when >= 30% of it is structure characters
LOOP_SEQ_REP = 0.3
LOOP_COMPRESSION = 10.0
FORMATTING_SHARE = 0.3


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


def corpus_uptake(row: dict) -> dict:
    """A reflection's corpus_uptake, {source: {share, top}}: self-play stores it as JSON."""
    value = row["corpus_uptake"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    return value if isinstance(value, dict) else {}


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


MOVED = 0.1   # a layer's activation RMS or the mean shimmer moved when its late-third mean is 10% off the early one


def movements(data: ReportData) -> list[str]:
    """What moved between the early and the late third: health left healthy, the learning pattern changed, a
    layer's activation RMS or the mean shimmer changed by MOVED or more, the concepts' tiers changed."""
    (_, a0, a1), _, (_, b0, b1) = thirds(data.first_step, data.last_step)

    def inside(rows, low, high):
        return [r for r in rows or [] if r["step"] is not None and low <= r["step"] <= high]
    out = []
    unhealthy = [h for h in data.health or [] if h["status"] != "healthy"]
    if unhealthy:
        out.append(f"health left healthy at {len(unhealthy)} of {len(data.health)} checks "
                   f"({health_summary(data.health)})")
    patterns = []
    for _, low, high in thirds(data.first_step, data.last_step):
        pattern = most_common([pattern_name(r) for r in inside(data.patterns, low, high)])
        if pattern and (not patterns or patterns[-1] != pattern):
            patterns.append(pattern)
    if len(patterns) > 1:
        out.append(f"the learning pattern went {' -> '.join(patterns)}")
    early, late = (mean_per(inside(data.activation, low, high), "layer", "rms") for low, high in ((a0, a1), (b0, b1)))
    for layer in sorted(set(early) & set(late)):
        if early[layer] and abs(late[layer] / early[layer] - 1) >= MOVED:
            out.append(f"layer {layer} activation RMS {num(early[layer])} -> {num(late[layer])} "
                       f"({100 * (late[layer] / early[layer] - 1):+.0f}%)")
    shimmer = [np.mean(list(mean_per(inside(data.shimmer, low, high), "layer", "shimmer").values()) or [np.nan])
               for low, high in ((a0, a1), (b0, b1))]
    if all(np.isfinite(shimmer)) and shimmer[0] and abs(shimmer[1] / shimmer[0] - 1) >= MOVED:
        out.append(f"mean shimmer {num(shimmer[0])} -> {num(shimmer[1])} ({100 * (shimmer[1] / shimmer[0] - 1):+.0f}%)")
    probes = sorted({r["step"] for r in data.concepts or [] if r["step"] is not None})
    if len(probes) > 1:
        first, last = (concept_summary([r for r in data.concepts if r["step"] == s]) for s in (probes[0], probes[-1]))
        if first != last:
            out.append(f"concepts went from {first} at step {steps(probes[0])} to {last} at step {steps(probes[-1])}")
    return out


def understanding(data: ReportData) -> list:
    """Where learning happens, shimmer and the concept tiers, only when something moved (else one line)."""
    blocks = [Heading(2, "Understanding module")]
    tables = (("health", data.health), ("learning_pattern", data.patterns), ("activation_stats", data.activation),
              ("concepts", data.concepts))
    if all(rows is None for _, rows in tables):
        return blocks + [Note("Left out: the store has no health, learning_pattern, activation_stats or concepts "
                              "tables yet (the understanding stage has not run on this store).")]
    if not any(rows for _, rows in tables):
        return blocks + [Note("Left out: health, learning_pattern, activation_stats and concepts hold no rows for "
                              "this step range.")]
    moved = movements(data)
    if not moved:
        return blocks + [Note(f"Nothing moved between the early and the late third (health, learning pattern, "
                              f"activation RMS and shimmer within {100 * MOVED:.0f}%, concept tiers), so the "
                              "table and charts are left out.")]
    blocks.append(Paragraph(f"What moved from the early to the late third: {'; '.join(moved)}."))
    rows = []
    for label, low, high in thirds(data.first_step, data.last_step):
        def inside(table):
            return [r for r in table or [] if r["step"] is not None and low <= r["step"] <= high]
        health = inside(data.health)
        concepts = inside(data.concepts)
        if label == "late" and data.concepts and all(r["step"] is None for r in data.concepts):
            concepts = data.concepts
        shimmer = [r["shimmer"] for r in inside(data.shimmer) if r["shimmer"] is not None]
        rows.append([f"{label} ({steps(low)}-{steps(high)})",
                     most_common([pattern_name(r) for r in inside(data.patterns)]) or "n/a",
                     health_summary(health), rms_by_layer(inside(data.activation)),
                     num(float(np.mean(shimmer))) if shimmer else "n/a", concept_summary(concepts)])
    blocks.append(Table(["period", "learning pattern", "health", "activation RMS by layer", "shimmer (mean)",
                         "concepts"], rows))
    for table, rows_ in tables:
        note = missing(table, rows_, "the understanding stage")
        if note:
            blocks.append(note)
    blocks += [Figure("activation_rms.png", "per-layer activation RMS over steps"),
               Figure("health.png", "health status over steps")]
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
