"""Small numeric helpers the sections share: formatting, ranges that ignore the odd spike, per-bucket summaries,
and the derived sentence about how the loss went."""
import numpy as np


def num(value: float, digits: int = 3) -> str:
    """A figure with `digits` significant digits, without scientific notation for everyday sizes."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def steps(value: int) -> str:
    return f"{int(value):,}"


def span(values: np.ndarray, digits: int = 3) -> str:
    """The 10th-90th percentile range: what a value usually was, without the first step's warm-up or one spike."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "n/a"
    low, high = np.percentile(values, [10, 90])
    return num(low, digits) if num(low, digits) == num(high, digits) else f"{num(low, digits)}-{num(high, digits)}"


def median(values: np.ndarray, digits: int = 3) -> str:
    values = values[np.isfinite(values)]
    return num(float(np.median(values)), digits) if values.size else "n/a"


def buckets(step: np.ndarray, width: int) -> list[tuple[int, int, np.ndarray]]:
    """(first step, last step, indices) per bucket of `width` steps; steps (s, s+width] share a bucket, like a segment."""
    keys = (step - 1) // width
    out = []
    for key in np.unique(keys):
        index = np.nonzero(keys == key)[0]
        out.append((int(step[index[0]]), int(step[index[-1]]), index))
    return out


def mean_per(rows: list[dict], by: str, key: str) -> dict[int, float]:
    """Mean of `key` per value of `by` (a step, a layer) over the rows that have it."""
    groups: dict[int, list[float]] = {}
    for row in rows:
        if row[key] is not None:
            groups.setdefault(int(row[by]), []).append(float(row[key]))
    return {group: float(np.mean(v)) for group, v in groups.items()}


BATCHES = 10          # consecutive batches whose means give a stretch's standard error
MEANS_APART_SE = 3.0  # two stretches differ when their means are this many standard errors of the difference apart


def mean_se(values: np.ndarray) -> tuple[float, float]:
    """A stretch's mean and its standard error from BATCHES consecutive batch means: neighbouring steps' losses
    are correlated, so sd / sqrt(n) would be too small, while the batch means are close to independent (a trend
    inside the stretch widens them, which errs towards saying nothing)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    k = min(BATCHES, values.size)
    if k < 2:
        return (float(values.mean()) if values.size else float("nan")), float("inf")
    means = [batch.mean() for batch in np.array_split(values, k)]
    return float(values.mean()), float(np.std(means, ddof=1) / np.sqrt(k))


def means_apart(a: np.ndarray, b: np.ndarray) -> bool:
    """A change between two stretches beyond their noise: their means differ by more than MEANS_APART_SE standard
    errors of the difference. (Overlapping 10th-90th percentile ranges say how wide the noise of single steps is,
    not whether the level moved: a 0.7-nat fall hides inside ranges 0.8 wide.)"""
    (mean_a, se_a), (mean_b, se_b) = mean_se(a), mean_se(b)
    return bool(abs(mean_a - mean_b) > MEANS_APART_SE * np.hypot(se_a, se_b))


def steady_change(values: list[float]) -> bool:
    """A change from first to last that a bounce could not undo: more than twice the largest move the other way
    between two consecutive values."""
    if len(values) < 2:
        return False
    change = values[-1] - values[0]
    against = max([0.0] + [-(b - a) if change > 0 else b - a for a, b in zip(values, values[1:])])
    return bool(change != 0 and abs(change) > 2 * against)


def loss_story(step: np.ndarray, loss: np.ndarray, width: int) -> dict | None:
    """'loss fell from ~4.1 to ~3.5 by step 13,000 and then held in 3.4-3.6', derived from bucket medians: the
    plateau is the longest run of final buckets whose medians stay within 3% of the last one. Returns the sentence
    and the figures it states: the first bucket's median, the median it reached and the bucket that reached it."""
    groups = buckets(step, width)
    if len(groups) < 2:
        return None
    medians = [float(np.median(loss[index])) for _, _, index in groups]
    final = medians[-1]
    plateau = len(groups) - 1
    while plateau > 0 and abs(medians[plateau - 1] - final) <= 0.03 * abs(final):
        plateau -= 1
    facts = {"from": medians[0], "to": medians[plateau], "bucket_first": groups[plateau][0],
             "bucket_last": groups[plateau][1]}
    verb = "fell" if medians[0] > final else "rose"
    start = f"loss {verb} from ~{num(medians[0], 2)} to ~{num(medians[plateau], 2)}"
    if plateau == 0:
        return {**facts, "text": f"loss held near ~{num(final, 2)} throughout ({span(loss, 2)})"}
    if plateau == len(groups) - 1:
        return {**facts, "text": f"{start} by step {steps(groups[-1][1])}, still "
                                 f"{'falling' if verb == 'fell' else 'rising'} at the end"}
    held = np.concatenate([index for _, _, index in groups[plateau:]])
    return {**facts, "text": f"{start} by step {steps(groups[plateau - 1][1])} and then held in {span(loss[held], 2)}"}


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def most_common(values: list) -> str | None:
    """The most frequent value; ties go to the alphabetically first, so the report is the same every time."""
    counts: dict = {}
    for value in values:
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    return min(counts, key=lambda v: (-counts[v], str(v))) if counts else None


def thirds(first: int, last: int) -> list[tuple[str, int, int]]:
    """Early, mid and late step ranges of [first, last]."""
    cut1 = first + (last - first) // 3
    cut2 = first + 2 * (last - first) // 3
    return [("early", first, cut1), ("mid", cut1 + 1, cut2), ("late", cut2 + 1, last)]


def mfu_percent(data) -> tuple[np.ndarray, dict]:
    """MFU in % and the peak it is measured against. On a CPU the peak is the matmul throughput measured once at the
    run's start, which a loaded machine can underestimate: when the run's own best FLOP/s beats it, that best is
    the peak instead (so MFU never passes 100%), and the report says which it used."""
    mfu = np.asarray(data.metrics["mfu"], dtype=float)
    peak = data.run.get("peak_flops")
    if not str(data.run.get("device") or "").startswith("cpu") or not peak:
        return 100 * mfu, {"short": "of the device's peak", "long": "against the device's datasheet peak",
                           "peak": peak}
    achieved = mfu * peak
    best = float(np.nanmax(achieved)) if np.isfinite(achieved).any() else 0.0
    if best > peak:
        return 100 * achieved / best, {
            "short": "of the run's best FLOP/s", "peak": best,
            "long": f"against the best FLOP/s the run itself reached ({best / 1e9:.3g} GFLOP/s), because it beat the "
                    f"matmul peak measured at the run's start ({peak / 1e9:.3g} GFLOP/s, measured under load)"}
    return 100 * mfu, {"short": "of the measured matmul peak", "peak": peak,
                       "long": f"against the matmul peak measured at the run's start ({peak / 1e9:.3g} GFLOP/s), "
                               "which the run never beat"}
