"""Health: healthy / needs_attention / critical, with machine-readable reasons and one sentence. The rules read
the per-step metrics (loss, total gradient norm) and the per-layer probe stats; thresholds live in
`UnderstandingConfig` and docs/understanding.md says where each comes from."""
import math
import statistics

HEALTHY, ATTENTION, CRITICAL = "healthy", "needs_attention", "critical"


def reason(code: str, step: int, layer: int | None, value: float, threshold: float | None) -> dict:
    return {"code": code, "step": step, "layer": layer, "value": value, "threshold": threshold}


def sustained_spikes(steps: list[int], values: list[float], first_step: int, window: int, factor: float,
                     longer_than: int, reducer, min_history: int = 20) -> list[tuple[int, float, int]]:
    """Runs of more than `longer_than` consecutive steps (from `first_step` on) whose value is >= factor x the
    `reducer` (mean or median) of the `window` values before it: (first step of the run, peak ratio, length)."""
    runs, current = [], None
    for i, (step, value) in enumerate(zip(steps, values)):
        history = [v for v in values[max(0, i - window):i] if math.isfinite(v)]
        if step < first_step or len(history) < min_history:
            continue
        ratio = value / max(reducer(history), 1e-30)
        if ratio >= factor:
            current = [step, ratio, 1] if current is None else [current[0], max(current[1], ratio), current[2] + 1]
        else:
            if current is not None and current[2] > longer_than:
                runs.append(tuple(current))
            current = None
    if current is not None and current[2] > longer_than:
        runs.append(tuple(current))
    return runs


def metric_reasons(metrics: list[dict], first_step: int, cfg) -> list[dict]:
    """Rules over the per-step metrics: non-finite values, a sustained loss spike, a gradient-norm explosion.
    `metrics` holds earlier steps too, as the rolling history."""
    steps = [m["step"] for m in metrics]
    found = []
    for m in metrics:
        for name in ("loss", "grad_norm"):
            if m["step"] >= first_step and not math.isfinite(m[name]):
                found.append(reason(f"non_finite_{'grad' if name == 'grad_norm' else 'loss'}", m["step"], None,
                                    m[name], None))
    losses = [m["loss"] for m in metrics]
    for start, ratio, length in sustained_spikes(steps, losses, first_step, cfg.loss_spike_window,
                                                 cfg.loss_spike_factor, cfg.loss_spike_steps, statistics.fmean):
        found.append(reason("loss_spike", start, None, ratio, cfg.loss_spike_factor) | {"steps": length})
    grads = [m["grad_norm"] for m in metrics]
    # one exploding step is enough: a healthy run's gradient norm moves by 2-3x, not by 10x
    for start, ratio, length in sustained_spikes(steps, grads, first_step, cfg.loss_spike_window,
                                                 cfg.grad_explosion_factor, 0, statistics.median):
        found.append(reason("grad_norm_explosion", start, None, ratio, cfg.grad_explosion_factor) | {"steps": length})
    return found


def layer_reasons(stats: list[dict], first_step: int, cfg) -> list[dict]:
    """Rules over the per-layer probe stats: non-finite activations, RMS growth against the layer's own history,
    update/weight ratio outside its band, attention entropy collapse."""
    found = []
    by_layer: dict[int, list[dict]] = {}
    for row in sorted(stats, key=lambda r: r["step"]):
        by_layer.setdefault(row["layer"], []).append(row)
    for layer, rows in by_layer.items():
        for i, row in enumerate(rows):
            step = row["step"]
            if step < first_step:
                continue
            if not all(math.isfinite(row[k]) for k in ("resid_rms", "resid_max_abs", "update_ratio")):
                found.append(reason("non_finite_activation", step, layer, row["resid_rms"], None))
                continue
            # the last ten probe points, not the first: a layer's RMS legitimately grows out of its initialisation
            history = [r["resid_rms"] for r in rows[max(0, i - 10):i]]
            if len(history) >= 3 and row["resid_rms"] >= cfg.rms_growth_factor * statistics.median(history):
                found.append(reason("activation_rms_growth", step, layer, row["resid_rms"] / statistics.median(history),
                                    cfg.rms_growth_factor) | {"rms": row["resid_rms"]})
            if row["update_ratio"] > cfg.update_ratio_high:
                found.append(reason("update_ratio_high", step, layer, row["update_ratio"], cfg.update_ratio_high))
            elif row["update_ratio"] < cfg.update_ratio_low:
                found.append(reason("update_ratio_low", step, layer, row["update_ratio"], cfg.update_ratio_low))
            entropy = row.get("attn_entropy")
            if entropy is not None and math.isfinite(entropy) and entropy < cfg.entropy_floor:
                found.append(reason("attention_entropy_collapse", step, layer, entropy, cfg.entropy_floor))
    return found


CRITICAL_CODES = {"non_finite_loss", "non_finite_grad", "non_finite_activation"}

DESCRIPTIONS = {
    "non_finite_loss": "the loss became non-finite",
    "non_finite_grad": "the gradients became non-finite",
    "non_finite_activation": "activations became non-finite",
    "loss_spike": "the loss spiked to {value:.1f}x its rolling mean for {steps} steps",
    "grad_norm_explosion": "the gradient norm jumped to {value:.0f}x its rolling median",
    "activation_rms_growth": "activation RMS grew {value:.1f}x over its recent history (to {rms:.3g})",
    "update_ratio_high": "the update/weight ratio reached {value:.2g} (above {threshold:.0e})",
    "update_ratio_low": "the update/weight ratio fell to {value:.2g} (below {threshold:.0e})",
    "attention_entropy_collapse": "attention entropy collapsed to {value:.3f}",
}


def describe(r: dict) -> str:
    where = f" in layer {r['layer']}" if r["layer"] is not None else ""
    return DESCRIPTIONS[r["code"]].format(**r) + f"{where} at step {r['step']}"


def verdict(reasons: list[dict], first_step: int, last_step: int) -> dict:
    """The status, the reasons and one sentence; the sentence names at most three reasons, the first ones."""
    status = CRITICAL if any(r["code"] in CRITICAL_CODES for r in reasons) else ATTENTION if reasons else HEALTHY
    reasons = sorted(reasons, key=lambda r: r["step"])
    if status == HEALTHY:
        sentence = f"healthy: no health rule fired over steps {first_step}-{last_step}"
    else:
        more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
        sentence = f"{status.replace('_', ' ')}: " + "; ".join(describe(r) for r in reasons[:3]) + more
    return {"status": status, "reasons": reasons, "sentence": sentence,
            "first_flagged_step": reasons[0]["step"] if reasons else None}


def assess_health(metrics: list[dict], stats: list[dict], first_step: int, last_step: int, cfg) -> dict:
    """Health of steps [first_step, last_step]; `metrics` and `stats` may hold earlier steps as history."""
    return verdict(metric_reasons(metrics, first_step, cfg) + layer_reasons(stats, first_step, cfg),
                   first_step, last_step)
