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


PERIOD_TENTHS = 10  # a period's loss is read in (at most) ten stretches: its start, its end, and where it settled
MIN_STRETCH = 5     # steps in a stretch at least, so that its mean has a standard error


def period_trend(step: np.ndarray, loss: np.ndarray, start: int, end: int) -> dict | None:
    """How the loss went over the steps (start, end], read in tenths (`width` steps each; the last one ends at
    `end`): the first and the last tenth's means with their standard errors, a change only when means_apart (so
    a fresh run's steep first few hundred steps count, which the means of two halves hide); for a change, the step
    from which on every tenth is within noise of the last (`settled`) and whether it was still moving at the end
    (`still`); without one, whether every tenth is within noise of the first and the last (`flat`), and the range
    of the tenths' means. None when the period has fewer
    than two stretches of MIN_STRETCH steps."""
    count = min(PERIOD_TENTHS, (end - start) // MIN_STRETCH)
    if count < 2:
        return None
    width = (end - start) // count
    bounds = [(start + j * width, start + (j + 1) * width) for j in range(count - 1)] + [(end - width, end)]
    stretches = [loss[(step > a) & (step <= b)] for a, b in bounds]
    if min(s.size for s in stretches) < 2:
        return None
    (first, first_se), (last, last_se) = mean_se(stretches[0]), mean_se(stretches[-1])
    means = [float(s.mean()) for s in stretches]
    out = {"start": start, "end": end, "width": width, "first": first, "first_se": first_se, "last": last,
           "last_se": last_se, "low": min(means), "high": max(means), "moved": means_apart(stretches[0], stretches[-1]),
           "settled": None, "still": None, "flat": None}
    if out["moved"]:
        # the earliest tenth from which on none is apart from the last: where the level it ended at was reached
        settled = count - 1
        while settled > 0 and not means_apart(stretches[settled - 1], stretches[-1]):
            settled -= 1
        out["settled"] = bounds[settled][0]
        # still moving at the end: the last tenth apart from the one before, or a slow drift the tenths' noise
        # hides, which the two halves of the settled stretch (longer, so less noisy) show in the change's direction
        halves = np.array_split(loss[(step > out["settled"]) & (step <= end)], 2)
        drifting = means_apart(*halves) and (halves[1].mean() - halves[0].mean()) * (last - first) > 0
        out["still"] = bool(settled == count - 1 or drifting)
    else:
        out["flat"] = not any(means_apart(s, stretches[0]) or means_apart(s, stretches[-1]) for s in stretches)
    return out


def steady_change(values: list[float]) -> bool:
    """A change from first to last that a bounce could not undo: more than twice the largest move the other way
    between two consecutive values."""
    if len(values) < 2:
        return False
    change = values[-1] - values[0]
    against = max([0.0] + [-(b - a) if change > 0 else b - a for a, b in zip(values, values[1:])])
    return bool(change != 0 and abs(change) > 2 * against)


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
