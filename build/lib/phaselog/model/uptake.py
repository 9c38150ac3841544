"""Corpus uptake as a statistic that can be calibrated: how much a text reads like one data source rather than the
others. A text's score for source S is the mean, over its tokens, of log p_S(token) - log p_rest(token), the two
unigram models counted on the training splits (add-one smoothed). Tokens every source uses alike (" the", "\\n")
score near 0 and carry no weight; the share of "distinctive" tokens it replaces counted them in full.

The same score on held-out validation windows of every source, cut to reflection length, gives the separation
check (AUC: does the score tell S's own text from the others' at this length?) and a baseline band (what text of
the other sources scores, averaged over as many windows as there are reflections)."""
from pathlib import Path

import numpy as np

from phaselog.datasets.shards import load_stream

Z95 = 1.96


def log_ratios(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per source, log p_source(t) - log p_rest(t) for every token id. Needs two sources or more."""
    if len(counts) < 2:
        return {}
    pooled = sum(counts.values()).astype(np.float64)
    ratios = {}
    for name, mine in counts.items():
        mine = mine.astype(np.float64)
        rest = pooled - mine
        ratios[name] = np.log((mine + 1) / (mine.sum() + len(mine))) - np.log((rest + 1) / (rest.sum() + len(rest)))
    return ratios


def uptake_score(tokens, ratio: np.ndarray) -> float:
    return float(ratio[np.asarray(tokens, dtype=np.int64)].mean()) if len(tokens) else 0.0


def held_out_windows(run_dir: Path, source: str, length: int, count: int) -> list[np.ndarray]:
    """Up to `count` non-overlapping windows of `length` tokens from the source's validation split."""
    stream = load_stream(Path(run_dir) / "shards", source, "val")
    return [stream[i * length:(i + 1) * length] for i in range(min(count, len(stream) // max(length, 1)))]


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """P(a positive scores above a negative), ties counting half (the Mann-Whitney U over n_pos x n_neg)."""
    if not positives or not negatives:
        return None
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def mean_band(scores: list[float], n: int) -> tuple[float, float]:
    """Where the mean of n new texts falls 95% of the time if they score like `scores`: the two-sample interval
    mean +- 1.96 sd sqrt(1/len(scores) + 1/n)."""
    values = np.asarray(scores, dtype=np.float64)
    half = Z95 * values.std(ddof=1) * np.sqrt(1 / len(values) + 1 / n)
    return float(values.mean() - half), float(values.mean() + half)
