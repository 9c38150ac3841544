"""Couplings: Pearson correlations across steps between signals the store holds (loss, gradient norm, val bpb,
per-layer activation RMS, shimmer, reflection loop and formatting scores, the most frequent formatting motif).
Two signals are paired on the steps where both exist, only across families (seq-rep-4 against compression
ratio says nothing new). A sentence is written only when the data backs it: enough points and a clear r."""
import json

import numpy as np

from phaselog.reports.document import Heading, Note, Paragraph, Table
from phaselog.reports.gather import ReportData
from phaselog.reports.numbers import num, pearson

MIN_POINTS = 5          # fewer points than this: no r is shown at all
SENTENCE_POINTS = 8     # and a sentence needs at least this many
SENTENCE_R = 0.5        # and |r| at least this (moderate or stronger)
TABLE_ROWS = 12
SENTENCES = 5           # the strongest backed couplings get a sentence; the table holds the rest


def strength(r: float) -> str:
    size = abs(r)
    return "strong" if size >= 0.7 else "moderate" if size >= 0.5 else "weak" if size >= 0.3 else "negligible"


def per_step(rows: list[dict], key: str) -> dict[int, float]:
    """Mean of `key` per step over the rows that have it."""
    sums: dict[int, list[float]] = {}
    for row in rows:
        if row[key] is not None:
            sums.setdefault(int(row["step"]), []).append(float(row[key]))
    return {step: float(np.mean(v)) for step, v in sums.items()}


def motif_counts(motifs) -> dict[str, float]:
    if isinstance(motifs, str):
        try:
            motifs = json.loads(motifs)
        except json.JSONDecodeError:
            return {}
    if isinstance(motifs, dict):
        return {str(k): float(v) for k, v in motifs.items()}
    if isinstance(motifs, list):  # a list of {motif, count} structs
        return {str(m.get("motif")): float(m.get("count", 0)) for m in motifs if isinstance(m, dict)}
    return {}


def signals(data: ReportData) -> list[tuple[str, str, dict[int, float]]]:
    """(family, name, step -> value) for every signal the store holds in this step range."""
    m = data.metrics
    out = [("loss", "loss", dict(zip(m["step"].astype(int).tolist(), m["loss"].tolist()))),
           ("grad", "grad norm", dict(zip(m["step"].astype(int).tolist(), m["grad_norm"].tolist())))]
    out.append(("val", "val bpb", {int(e["step"]): float(e["value"]) for e in data.evals if e["name"] == "val_bpb"}))
    for layer in sorted({int(r["layer"]) for r in data.activation or []}):
        out.append(("activation", f"activation RMS L{layer}",
                    per_step([r for r in data.activation if int(r["layer"]) == layer], "rms")))
    out.append(("shimmer", "shimmer (mean over layers)", per_step(data.shimmer or [], "shimmer")))
    reflections = data.reflections or []
    for key, label in (("seq_rep_4", "reflection seq-rep-4"), ("compression_ratio", "reflection compression"),
                       ("formatting_score", "reflection formatting score")):
        out.append(("reflection", label, per_step(reflections, key)))
    counted = [(r["step"], motif_counts(r["motifs"])) for r in reflections]
    totals: dict[str, float] = {}
    for _, counts in counted:
        for motif, n in counts.items():
            totals[motif] = totals.get(motif, 0) + n
    if totals:
        top = min(totals, key=lambda k: (-totals[k], k))
        out.append(("motif", f"motif '{top}' count",
                    per_step([{"step": s, "n": c.get(top, 0.0)} for s, c in counted], "n")))
    if data.loop_events is not None and reflections:
        repeats = {int(r["step"]): 0.0 for r in reflections}
        for e in data.loop_events:
            repeats[int(e["step"])] = max(repeats.get(int(e["step"]), 0.0), float(e["repeats"] or 0))
        out.append(("loop", "longest loop repeat", repeats))
    return [s for s in out if s[2]]


def couplings(data: ReportData) -> list[dict]:
    found = []
    series = signals(data)
    for i, (family_a, name_a, a) in enumerate(series):
        for family_b, name_b, b in series[i + 1:]:
            if family_a == family_b:
                continue
            shared = sorted(set(a) & set(b))
            x = np.array([a[s] for s in shared])
            y = np.array([b[s] for s in shared])
            keep = np.isfinite(x) & np.isfinite(y)
            if keep.sum() < MIN_POINTS:
                continue
            r = pearson(x[keep], y[keep])
            if r is not None:
                found.append({"a": name_a, "b": name_b, "r": r, "n": int(keep.sum())})
    return sorted(found, key=lambda c: (-abs(c["r"]), c["a"], c["b"]))


def backed(coupling: dict) -> bool:
    return coupling["n"] >= SENTENCE_POINTS and abs(coupling["r"]) >= SENTENCE_R


def sentence(c: dict) -> str:
    direction = "go together" if c["r"] > 0 else "move in opposite directions"
    return f"{c['a']} and {c['b']} {direction} (r = {c['r']:.2f}, {strength(c['r'])}, {c['n']} steps)."


def section(data: ReportData) -> list:
    blocks = [Heading(2, "Couplings")]
    found = couplings(data)
    if not found:
        return blocks + [Note(f"Left out: no two signals share {MIN_POINTS} or more steps in this range.")]
    claims = [c for c in found if backed(c)]
    blocks += [Paragraph(sentence(c)) for c in claims[:SENTENCES]]
    if len(claims) > SENTENCES:
        blocks.append(Paragraph(f"{len(claims) - SENTENCES} more couplings pass the same bar; the strongest "
                                "are in the table."))
    if not claims:
        blocks.append(Note(f"No coupling is backed by the data (r beyond ±{SENTENCE_R} over {SENTENCE_POINTS} or "
                           "more steps), so none is claimed."))
    blocks.append(Table(["signal", "signal", "r", "strength", "steps"],
                        [[c["a"], c["b"], num(c["r"], 2), strength(c["r"]), str(c["n"])]
                         for c in found[:TABLE_ROWS]]))
    return blocks
