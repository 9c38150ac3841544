"""A phase is a chain of runs: the first starts from its config, each later one continues its parent's newest good
checkpoint with a few changes (`phaselog continue`). This module builds a continuation's config (what may change,
what is refused), the run's place in the chain for the `runs` table, and the config diff against the parent."""
import contextlib
import json
from pathlib import Path

from pydantic import ValidationError

from phaselog.core.config import (ModelConfig, PhaseConfig, TokenizerConfig, TrainConfig, apply_override,
                                  config_from_dict, parse_override)
from phaselog.core.errors import PhaselogError

# written by `continue` itself: the checkpoint step, the checkpoint, and the schedule's start carried over
MANAGED = ("train.start_step", "train.continue_from", "train.schedule_start", "train.init_from")


def refused_change(parent: PhaseConfig, model: ModelConfig, tokenizer: TokenizerConfig) -> str | None:
    """Why the parent's checkpoint would be meaningless under the child's model and tokenizer sections, naming the
    field; None if not."""
    p, c = parent.model, model
    if c.depth != p.depth:
        return f"model.depth: {p.depth} -> {c.depth} changes the number of layers of the checkpoint"
    if c.width != p.width:
        field = "model.d_model" if c.d_model != p.d_model else "model.aspect_ratio"
        return f"{field}: the width {p.width} -> {c.width} does not fit the checkpoint's weights"
    if c.n_head != p.n_head:
        return f"model.head_dim: the heads {p.n_head} -> {c.n_head} do not fit the checkpoint's attention"
    for field in ("vocab_size", "sample_chars"):
        old, new = getattr(parent.tokenizer, field), getattr(tokenizer, field)
        if old != new:
            return (f"tokenizer.{field}: {old} -> {new}; a continued run keeps its parent's tokenizer, the "
                    "checkpoint's token ids mean nothing under another")
    if c.seq_len > 2 * p.seq_len:
        return (f"model.seq_len: {c.seq_len} is beyond the checkpoint's rotary tables "
                f"(2 x {p.seq_len} = {2 * p.seq_len} positions)")
    return None


def continuation_config(parent: PhaseConfig, checkpoint: Path, step: int, raw: dict | None,
                        overrides: list[str], origin: str) -> PhaseConfig:
    """The child's config: `raw` (a --config file) or the parent's, then the --set overrides, then the managed
    train fields. Refused changes raise a PhaselogError naming the field; nothing is written here."""
    raw = raw if raw is not None else parent.model_dump()
    for text in overrides:
        keys, value = parse_override(text)
        if ".".join(keys) in MANAGED:
            raise PhaselogError(f"--set {text}: {'.'.join(keys)} is set by continue (the parent's checkpoint "
                                f"at step {step})")
        apply_override(raw, keys, value)
    if not raw.get("phase"):
        raw["phase"] = parent.phase_name()
    # refusals first: they say why the checkpoint cannot be continued at all; an invalid section is named by the
    # whole config's validation below
    with contextlib.suppress(ValidationError):
        refusal = refused_change(parent, ModelConfig.model_validate(raw.get("model") or {}),
                                 TokenizerConfig.model_validate(raw.get("tokenizer") or {}))
        if refusal:
            raise PhaselogError(f"{origin}: {refusal}")
    train = raw.setdefault("train", {})
    end = train.get("end_step", TrainConfig.model_fields["end_step"].default)
    if isinstance(end, int) and end <= step:
        raise PhaselogError(f"{origin}: train.end_step: {end} is not after the checkpoint step {step} it continues "
                            f"from; give --set train.end_step=N with N > {step}")
    train.update(start_step=step, continue_from=str(checkpoint), schedule_start=parent.train.lr_schedule()[0],
                 init_from=None)
    return config_from_dict(raw, origin)


def leaves(config: PhaseConfig) -> dict[str, object]:
    """Every config value by its dotted path; sources by name, so reordering them is no change."""
    flat = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            flat[prefix] = value

    raw = config.model_dump()
    sources = raw["data"].pop("sources")
    walk("", raw)
    flat["phase"] = config.phase_name()  # an empty phase means the config's name
    for source in sources:
        flat[f"data.sources.{source['name']}"] = source
    return flat


def config_diff(parent: PhaseConfig, child: PhaseConfig) -> dict[str, list]:
    """{path: [parent's value, child's value]} of what the child changed; a data source compares as a whole
    (None on one side: added or removed). The managed train fields have columns of their own."""
    old, new = leaves(parent), leaves(child)
    return {path: [old.get(path), new.get(path)] for path in sorted(old.keys() | new.keys())
            if path not in MANAGED and old.get(path) != new.get(path)}


def parent_dir(config: PhaseConfig) -> Path | None:
    """A continued run's parent's folder: train.continue_from is <home>/<parent run>/checkpoints/step_*.pt."""
    return Path(config.train.continue_from).parent.parent if config.train.continue_from else None


def lineage(store, config: PhaseConfig) -> dict:
    """The `runs` columns that place a run in its phase: for a continued run its parent (the run folder holding
    the checkpoint), the step, and the diff against the parent's config when the store knows the parent."""
    place = {"phase": config.phase_name(), "parent_run": None, "continued_from": None, "config_diff": None}
    if not config.train.continue_from:
        return place
    parent_run = parent_dir(config).name
    place.update(parent_run=parent_run, continued_from=config.train.start_step)
    _, rows = store.query("SELECT config_json FROM runs WHERE run_id = ?", [parent_run])
    if rows:
        parent = PhaseConfig.model_validate_json(rows[0][0])
        place["config_diff"] = json.dumps(config_diff(parent, config), default=str)
    return place
