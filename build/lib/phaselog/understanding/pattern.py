"""Learning pattern: where across depth a segment's learning concentrated. A layer's activity is its mean
update/weight ratio and its mean gradient norm over the segment's probe points, each relative to the mean layer,
averaged. The depth is cut into thirds; the third with the highest mean activity names the pattern, unless the
most and least active layers are within `uniform_tolerance` of each other."""
import math
import statistics

THIRDS = ("early", "middle", "late")


def layer_activity(stats: list[dict]) -> list[float]:
    layers = sorted({r["layer"] for r in stats})
    activity = [0.0] * len(layers)
    for key in ("update_ratio", "grad_norm"):
        means = [statistics.fmean([r[key] for r in stats if r["layer"] == layer and math.isfinite(r[key])] or [0.0])
                 for layer in layers]
        overall = statistics.fmean(means) or 1.0
        activity = [a + m / overall / 2 for a, m in zip(activity, means)]
    return activity


def third_of(layer: int, n_layers: int) -> str:
    # by the layer's centre, so the cut is symmetric: 4 layers are early, middle, middle, late (not early, early,
    # middle, late), and 2 layers have no middle
    return THIRDS[min(2, int((layer + 0.5) * 3 / n_layers))]


def learning_pattern(stats: list[dict], tolerance: float) -> dict:
    """{pattern, most_active_layers, layer_activity, sentence} for one segment's probe stats."""
    if not stats:
        return {"pattern": "unknown", "most_active_layers": [], "layer_activity": [],
                "sentence": "learning pattern unknown: no probe points in this segment (understanding.probe_every)"}
    activity = layer_activity(stats)
    n = len(activity)
    ranked = sorted(range(n), key=lambda layer: -activity[layer])
    # the most active layers: within 10% of the top one, at most three
    top = [layer for layer in ranked if activity[layer] >= 0.9 * activity[ranked[0]]][:3]
    if n == 1 or max(activity) < tolerance * min(activity):
        pattern = "uniform"
    else:
        by_third = {}
        for layer, a in enumerate(activity):
            by_third.setdefault(third_of(layer, n), []).append(a)
        pattern = max(by_third, key=lambda third: statistics.fmean(by_third[third]))
    names = " and ".join(str(layer) for layer in sorted(top))
    focus = "uniform" if pattern == "uniform" else f"{pattern}-focused"
    sentence = f"learning is {focus} (layer{'s' if len(top) > 1 else ''} {names} most active)"
    return {"pattern": pattern, "most_active_layers": sorted(top), "layer_activity": activity, "sentence": sentence}
