"""Concepts: MLP units tracked on the fixed probe batch from one segment's end checkpoint to the next. A unit
counts as a concept when it fires on some but not most probe tokens (`concept_active_range`). Its stability is the
smaller of two agreements between consecutive checkpoints: the correlation of its activation profile over the
probe tokens, and the cosine of its weights (its c_fc row and c_proj column). Tiers: forming below
`concept_maturing`, maturing from it, candidate_to_freeze at `concept_freeze` or more twice in a row. A continued
run's first segment compares with its parent's checkpoint and stabilities, so tracking carries on across
`phaselog continue` instead of restarting."""
from pathlib import Path

import torch

from phaselog.core.phases import parent_dir
from phaselog.core.store import Store
from phaselog.model.checkpoint import checkpoint_path, is_good, load_model
from phaselog.model.freezing import frozen_units
from phaselog.model.gpt import GPT
from phaselog.model.monitor import probe_batch, probe_records


def model_at(run_dir: Path, config, step: int) -> GPT | None:
    path = checkpoint_path(run_dir / "checkpoints", step)
    if not is_good(path):
        return None
    return load_model(run_dir, config.model, path)[0]


def unit_weights(model: GPT, layer: int) -> torch.Tensor:
    mlp = model.blocks[layer].mlp
    return torch.cat([mlp.c_fc.weight, mlp.c_proj.weight.T], dim=1)  # one row per unit


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per column of two (tokens, units) matrices; 0 where a column is constant."""
    a, b = a - a.mean(0), b - b.mean(0)
    denominator = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(denominator > 0, (a * b).sum(0) / denominator.clamp_min(1e-30), torch.zeros_like(denominator))


def where_step_lives(run_id: str, run_dir: Path, config, step: int) -> tuple[str, Path]:
    """The run (id, folder) holding the checkpoint of `step`: the parent's for a continued run's first step."""
    parent = parent_dir(config)
    if parent and step == config.train.start_step:
        return parent.name, parent
    return run_id, Path(run_dir)


def previous_stability(store: Store, run_id: str, step: int) -> dict[str, float]:
    _, rows = store.query("SELECT concept_id, stability FROM concepts WHERE run_id = ? AND step = ?", [run_id, step])
    return dict(rows)


def tier_of(stability: float, before: float | None, cfg) -> str:
    if stability >= cfg.concept_freeze and before is not None and before >= cfg.concept_freeze:
        return "candidate_to_freeze"
    return "maturing" if stability >= cfg.concept_maturing else "forming"


def track_concepts(store: Store, run_id: str, run_dir: Path, config, start: int, end: int) -> dict:
    """Concept rows at checkpoint `end` against checkpoint `start`; counts per tier and one sentence."""
    cfg = config.understanding
    before_run, before_dir = where_step_lives(run_id, run_dir, config, start)
    previous, current = model_at(before_dir, config, start), model_at(run_dir, config, end)
    if previous is None or current is None:
        return {"rows": [], "counts": {}, "sentence": f"no concepts ready yet (no checkpoint at step {start} to "
                                                      "compare with: concepts need two segment ends)"}
    probe = probe_batch(run_dir, config)
    before_stability = previous_stability(store, before_run, start)
    frozen = set(frozen_units(run_dir, start))  # the units the segment just trained with frozen
    low, high = cfg.concept_active_range
    rows = []
    for layer, (old, new) in enumerate(zip(probe_records(previous, probe), probe_records(current, probe))):
        old_h, new_h = old["mlp"].flatten(0, 1).float(), new["mlp"].flatten(0, 1).float()
        active = (new_h > 0).float().mean(0)
        profile = correlation(old_h, new_h)
        weights = torch.cosine_similarity(unit_weights(previous, layer), unit_weights(current, layer), dim=1)
        for unit in torch.nonzero((active >= low) & (active <= high)).flatten().tolist():
            concept_id = f"L{layer}U{unit}"
            stability = min(profile[unit].item(), weights[unit].item())
            rows.append({"concept_id": concept_id, "previous_step": start, "layer": layer, "unit": unit,
                         "tier": tier_of(stability, before_stability.get(concept_id), cfg), "stability": stability,
                         "profile_corr": profile[unit].item(), "weight_cos": weights[unit].item(),
                         "active_fraction": active[unit].item(), "frozen": (layer, unit) in frozen})
    counts = {tier: sum(r["tier"] == tier for r in rows) for tier in ("forming", "maturing", "candidate_to_freeze")}
    if counts["maturing"] + counts["candidate_to_freeze"] == 0:
        sentence = f"no concepts ready yet ({counts['forming']} forming)"
    else:
        sentence = (f"concepts: {counts['candidate_to_freeze']} candidate to freeze, {counts['maturing']} maturing, "
                    f"{counts['forming']} forming")
    return {"rows": rows, "counts": counts, "sentence": sentence}

