"""Couplings: Pearson correlations across steps between signals the store holds (loss, gradient norm, val bpb,
per-layer activation RMS, shimmer, reflection loop and formatting scores, the most frequent formatting motif).
Two signals are paired on the steps where both exist, only across families (seq-rep-4 against compression
ratio says nothing new). Two signals that both simply fall with step correlate strongly without telling anything,
so each pair is also correlated with step partialled out (each signal's straight-line trend over step removed,
then r of what is left): the partial r decides. Many pairs are tried, so some pass any fixed bar by chance: a
coupling is backed only with enough points, a clear partial r, and a p-value that survives Holm's step-down over
every pair tried (the family-wise error held at ALPHA); only backed couplings appear in the log."""
import json
import math

import numpy as np

from phaselog.reports.document import Heading, Note, Paragraph, Table
from phaselog.reports.gather import ReportData
from phaselog.reports.numbers import mean_per, num, pearson

MIN_POINTS = 5          # fewer points than this: no r is shown at all
SENTENCE_POINTS = 8     # and a sentence needs at least this many
SENTENCE_R = 0.5        # and |r| at least this (moderate or stronger)
TABLE_ROWS = 12
ALPHA = 0.05            # family-wise error rate over all the pairs tried (Holm)


def strength(r: float) -> str:
    size = abs(r)
    return "strong" if size >= 0.7 else "moderate" if size >= 0.5 else "weak" if size >= 0.3 else "negligible"


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
                    mean_per([r for r in data.activation if int(r["layer"]) == layer], "step", "rms")))
    # shimmer is the change of the very probe activations whose RMS is measured: one family, never paired
    out.append(("activation", "shimmer (mean over layers)", mean_per(data.shimmer or [], "step", "shimmer")))
    reflections = data.reflections or []
    for key, label in (("seq_rep_4", "reflection seq-rep-4"), ("compression_ratio", "reflection compression"),
                       ("formatting_score", "reflection formatting score")):
        out.append(("reflection", label, mean_per(reflections, "step", key)))
    counted = [(r["step"], motif_counts(r["motifs"])) for r in reflections]
    totals: dict[str, float] = {}
    for _, counts in counted:
        for motif, n in counts.items():
            totals[motif] = totals.get(motif, 0) + n
    if totals:
        top = min(totals, key=lambda k: (-totals[k], k))
        out.append(("motif", f"motif '{top}' count",
                    mean_per([{"step": s, "n": c.get(top, 0.0)} for s, c in counted], "step", "n")))
    if data.loop_events is not None and reflections:
        repeats = {int(r["step"]): 0.0 for r in reflections}
        for e in data.loop_events:
            repeats[int(e["step"])] = max(repeats.get(int(e["step"]), 0.0), float(e["repeats"] or 0))
        out.append(("loop", "longest loop repeat", repeats))
    return [s for s in out if s[2]]


def partial_p(partial: float | None, n: int) -> float | None:
    """Two-sided p of a partial r with one variable (step) partialled out, by Fisher's z: atanh(r) is about normal
    with standard error 1 / sqrt(n - 4) (n - 3 for a plain r, one fewer per variable partialled out)."""
    if partial is None or n < 5:
        return None
    z = math.atanh(min(abs(partial), 1 - 1e-12)) * math.sqrt(n - 4)
    return math.erfc(z / math.sqrt(2))


def holm(found: list[dict]) -> None:
    """Marks each coupling `passes` (and gives its Holm bar): step down from the smallest p, the k-th smallest of m
    against ALPHA / (m - k + 1); the first that fails ends it. Every pair tried counts in m."""
    for c in found:
        c["passes"], c["bar"] = False, None
    ordered = sorted((c for c in found if c["p"] is not None), key=lambda c: (c["p"], c["a"], c["b"]))
    for rank, c in enumerate(ordered):
        c["bar"] = ALPHA / (len(found) - rank)
        if c["p"] >= c["bar"]:
            break
        c["passes"] = True


def couplings(data: ReportData) -> list[dict]:
    """Every pair tried (>= MIN_POINTS shared steps), strongest partial r first, each with its p and Holm verdict."""
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
            at = np.array(shared, dtype=float)[keep]
            r = pearson(x[keep], y[keep])
            if r is not None:
                partial = partial_r(x[keep], y[keep], at)
                found.append({"a": name_a, "b": name_b, "r": r, "n": int(keep.sum()), "partial": partial,
                              "p": partial_p(partial, int(keep.sum()))})
    holm(found)
    return sorted(found, key=lambda c: (-abs(c["partial"] if c["partial"] is not None else 0), -abs(c["r"]),
                                        c["a"], c["b"]))


def detrended(values: np.ndarray, step: np.ndarray) -> np.ndarray:
    """What is left of `values` after its least-squares straight line over step."""
    slope, intercept = np.polyfit(step, values, 1)
    return values - (slope * step + intercept)


def partial_r(x: np.ndarray, y: np.ndarray, step: np.ndarray) -> float | None:
    """r of x and y with step partialled out; None when too few points for a trend and a rest."""
    if x.size < MIN_POINTS or np.std(step) == 0:
        return None
    return pearson(detrended(x, step), detrended(y, step))


def backed(coupling: dict) -> bool:
    return (coupling["n"] >= SENTENCE_POINTS and coupling["partial"] is not None
            and abs(coupling["partial"]) >= SENTENCE_R and coupling["passes"])


def sentence(c: dict) -> str:
    direction = "go together" if c["partial"] > 0 else "move in opposite directions"
    return (f"{c['a']} and {c['b']} {direction} beyond their trends over step (partial r = {c['partial']:.2f}, "
            f"{strength(c['partial'])}; r = {c['r']:.2f} before removing the trends; {c['n']} steps; "
            f"p = {c['p']:.2g}, under its Holm bar of {c['bar']:.2g}).")


def rule() -> str:
    return (f"at least {SENTENCE_POINTS} shared steps, |partial r| >= {SENTENCE_R}, and a p-value under Holm's "
            f"bar for the pairs tried (family-wise error {ALPHA:g})")


def section(data: ReportData) -> list:
    """Only the couplings that pass; the pairs that do not are counted, never shown (each would read as a claim)."""
    blocks = [Heading(3, "Couplings")]
    found = couplings(data)
    if not found:
        return blocks + [Note(f"Left out: no two signals share {MIN_POINTS} or more steps in this range.")]
    claims = [c for c in found if backed(c)]
    blocks.append(Paragraph(
        f"{len(found)} pair{'s' if len(found) != 1 else ''} of signals from different families "
        f"{'were' if len(found) != 1 else 'was'} tried (r with each signal's straight-line "
        f"trend over step removed, so two signals that only fall with time do not count); a coupling is named only "
        f"with {rule()}: {len(claims)} pass."))
    if claims:
        blocks.append(Table(["signal", "signal", "partial r (step removed)", "r", "steps", "p", "Holm bar"],
                            [[c["a"], c["b"], num(c["partial"], 2), num(c["r"], 2), str(c["n"]), f"{c['p']:.2g}",
                              f"{c['bar']:.2g}"] for c in claims[:TABLE_ROWS]]))
        blocks += [Paragraph(sentence(c)) for c in claims[:3]]
    return blocks
