"""Understanding one finished segment: ingest its probe rows, judge its health, name its learning pattern,
track concepts across checkpoints, and say it in plain words. Called by tasks/understanding.py."""
from pathlib import Path

from phaselog.core.errors import TrainingDiverged
from phaselog.core.records import history, ingest_probes, record_concepts, record_health, record_pattern
from phaselog.core.store import Store
from phaselog.model.freezing import frozen_units, write_frozen_units
from phaselog.understanding.concepts import track_concepts
from phaselog.understanding.health import CRITICAL, assess_health, verdict
from phaselog.understanding.pattern import learning_pattern

STAT_COLUMNS = ["step", "layer", "resid_rms", "resid_max_abs", "mlp_sparsity", "attn_entropy", "grad_norm",
                "update_ratio"]


def understand_segment(store: Store, run_id: str, run_dir: Path, config, start: int, end: int) -> dict:
    cfg = config.understanding
    stats = ingest_probes(store, run_id, run_dir, start + 1, end)
    metrics = history(store, "metrics", ["step", "loss", "grad_norm"], run_id, start + 1 - cfg.loss_spike_window, end)
    # ten probe points of history for the per-layer RMS rule
    stat_history = history(store, "activation_stats", STAT_COLUMNS, run_id,
                           start + 1 - 10 * max(cfg.probe_every, 1), end)
    health = assess_health(metrics, stat_history, start + 1, end, cfg)
    record_health(store, run_id, end, start, health)
    pattern = learning_pattern(stats, cfg.uniform_tolerance)
    record_pattern(store, run_id, start, end, pattern)
    concepts = track_concepts(store, run_id, Path(run_dir), config, start, end)
    record_concepts(store, run_id, end, concepts["rows"])
    if cfg.freeze:
        candidates = {(r["layer"], r["unit"]) for r in concepts["rows"] if r["tier"] == "candidate_to_freeze"}
        # once frozen, a unit stays frozen for the rest of the phase
        write_frozen_units(run_dir, end, sorted(candidates | set(frozen_units(run_dir, start))))
    sentence = f"steps {start}-{end}: {pattern['sentence']}; {health['sentence']}; {concepts['sentence']}"
    return {"status": health["status"], "pattern": pattern["pattern"],
            "most_active_layers": pattern["most_active_layers"], "concepts": concepts["counts"],
            "sentence": sentence, "critical": health["status"] == CRITICAL}


def record_divergence(store: Store, run_id: str, segment_start: int, err: TrainingDiverged) -> str:
    """The critical verdict of a segment that stopped on non-finite values; its row sits at the failing step."""
    health = verdict(err.reasons(), segment_start + 1, err.step)
    record_health(store, run_id, err.step, segment_start, health)
    return health["sentence"]
