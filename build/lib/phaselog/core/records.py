"""The understanding module's store writes, called from the flow process (the only writer): probe rows the
trainer handed back in files become `activation_stats` and `shimmer_history` (and `RUN/shimmer_history.jsonl`);
verdicts become `health`, `learning_pattern` and `concepts` rows. Every write replaces the rows it covers, so a
retried or resumed segment leaves one row per key."""
import json
import math
from pathlib import Path

from phaselog.core.runs import read_segment_metrics
from phaselog.core.store import Store

STAT_FIELDS = ["step", "layer", "resid_rms", "resid_max_abs", "mlp_sparsity", "attn_entropy", "grad_norm",
               "update_ratio", "weight_norm"]
SHIMMER_FIELDS = ["run_id", "step", "previous_step", "layer", "shimmer"]


def ingest_probes(store: Store, run_id: str, run_dir: Path, first_step: int, last_step: int) -> list[dict]:
    """Probe rows for steps [first_step, last_step] into the store and the shimmer jsonl; returns the rows."""
    table = read_segment_metrics(run_dir, first_step, last_step, kind="probes")
    rows = table.to_pylist() if table.num_rows else []
    stats = [{"run_id": run_id, **{k: r[k] for k in STAT_FIELDS}} for r in rows]
    store.replace_rows("activation_stats", stats, "run_id = ? AND step BETWEEN ? AND ?", [run_id, first_step, last_step])
    shimmer = [{"run_id": run_id, **{k: r[k] for k in SHIMMER_FIELDS[1:]}} for r in rows if r["shimmer"] is not None]
    store.replace_rows("shimmer_history", shimmer, "run_id = ? AND step BETWEEN ? AND ?",
                       [run_id, first_step, last_step])
    write_shimmer_jsonl(Path(run_dir) / "shimmer_history.jsonl", shimmer, first_step)
    return stats


def write_shimmer_jsonl(path: Path, rows: list[dict], first_step: int) -> None:
    """Keep the lines before `first_step`, then append `rows`: a re-ingested segment replaces its own lines."""
    kept = []
    if path.is_file():
        kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] < first_step]
    lines = kept + [json.dumps({k: r[k] for k in SHIMMER_FIELDS}) for r in rows]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.replace(path)


def history(store: Store, table: str, columns: list[str], run_id: str, first_step: int, last_step: int) -> list[dict]:
    names, rows = store.query(f"SELECT {', '.join(columns)} FROM {table} WHERE run_id = ? AND step BETWEEN ? AND ? "
                              "ORDER BY step", [run_id, first_step, last_step])
    return [dict(zip(names, row)) for row in rows]


def _finite_or_none(value):
    return value if value is None or math.isfinite(value) else None


def record_health(store: Store, run_id: str, step: int, segment_start: int, health: dict) -> None:
    # JSON has no NaN: non-finite values in reasons are written as strings ("nan", "inf")
    reasons = [{k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in r.items()}
               for r in health["reasons"]]
    store.replace_rows("health", [{
        "run_id": run_id, "step": step, "segment_start": segment_start, "status": health["status"],
        "reasons": json.dumps(reasons), "first_flagged_step": health["first_flagged_step"],
        "sentence": health["sentence"]}], "run_id = ? AND step = ?", [run_id, step])


def record_pattern(store: Store, run_id: str, segment_start: int, segment_end: int, pattern: dict) -> None:
    store.replace_rows("learning_pattern", [{
        "run_id": run_id, "segment_start": segment_start, "segment_end": segment_end, "pattern": pattern["pattern"],
        "most_active_layers": pattern["most_active_layers"],
        "layer_activity": [_finite_or_none(a) for a in pattern["layer_activity"]],
        "sentence": pattern["sentence"]}], "run_id = ? AND segment_start = ?", [run_id, segment_start])


def record_concepts(store: Store, run_id: str, step: int, rows: list[dict]) -> None:
    store.replace_rows("concepts", [{"run_id": run_id, "step": step, **r} for r in rows],
                       "run_id = ? AND step = ?", [run_id, step])
