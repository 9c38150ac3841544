"""Runs: where a run's files are (`RunPaths`, the home), its id, and its bookkeeping in the store: registering a
run, ingesting what a training segment handed back in files (metrics, data mix), recording evaluations and
status. Plain functions over `Store`; the Prefect tasks call them from the flow process, the only writer."""
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from phaselog.core.errors import PhaselogError
from phaselog.core.phases import lineage
from phaselog.core.store import Store, now

METRIC_COLUMNS = ["step", "loss", "lr", "grad_norm", "tokens_per_sec", "mfu", "step_time_ms"]


def resolve_home(home: str | Path | None) -> Path:
    """The phaselog home: given, else $PHASELOG_HOME, else ./runs."""
    return Path(home or os.environ.get("PHASELOG_HOME") or "runs").resolve()


@dataclass(frozen=True)
class RunPaths:
    """Where one run's things are: the store of its home, its folder HOME/RUN_ID and the tokenizer in it."""
    home: Path
    run_id: str

    @classmethod
    def of(cls, home: str | Path | None, run_id: str) -> "RunPaths":
        return cls(resolve_home(home), run_id)

    @property
    def store(self) -> Store:
        return Store(self.home)

    @property
    def run_dir(self) -> Path:
        return self.home / self.run_id

    @property
    def tokenizer(self) -> Path:
        return self.run_dir / "tokenizer"


def slug(name: str) -> str:
    """Lowercase letters, digits and dashes: what run ids and Prefect artifact keys are made of."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "run"


def new_run_id(name: str) -> str:
    return f"{slug(name)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def check_run_id(run_id: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", run_id):
        raise PhaselogError(f"run id {run_id!r}: use letters, digits, '.', '_' and '-' (it names a folder)")


def register_run(store: Store, run_id: str, config, run_dir: Path, device: str, peak_flops: float) -> None:
    """Insert the run, or mark an existing one running again (a resume keeps its first created_at)."""
    if store.run_exists(run_id):
        set_status(store, run_id, "running")
        return
    place = lineage(store, config)
    store.replace_rows("runs", [{
        "run_id": run_id, "name": config.name, "config_json": config.model_dump_json(), "config_hash": config.hash(),
        "run_dir": str(run_dir), "start_step": config.train.start_step, "end_step": config.train.end_step,
        "device": device, "peak_flops": float(peak_flops), "status": "running", "created_at": now(),
        "updated_at": now(), **place}], "run_id = ?", [run_id])


def check_same_config(store: Store, run_id: str, config, run_dir: Path) -> None:
    """A run id names one config. `run` with another one for an existing run would train nothing, or fail on the
    checkpoints' shapes, while the store and config.json disagree: refuse it, naming what differs."""
    if store.run_exists(run_id):
        recorded = json.loads(run_record(store, run_id)["config_json"])
    elif (run_dir / "config.json").is_file():
        recorded = json.loads((run_dir / "config.json").read_text())
    else:
        return
    try:  # with the defaults of today's fields filled in: a field added since the run began is not a change
        recorded = json.loads(type(config).model_validate(recorded).model_dump_json())
    except ValueError:
        pass  # a field since removed: compared as recorded
    changed = differing_keys(recorded, json.loads(config.model_dump_json()))
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise PhaselogError(f"run {run_id} exists with another config ({', '.join(changed[:3])}{more} "
                            f"differ{'s' if len(changed) == 1 else ''}): "
                            f"`phaselog resume {run_id}` continues it as configured; for these changes pick a new "
                            f"--run-id, with --set train.init_from={run_id} to start from its latest checkpoint")


def differing_keys(old, new, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [key for name in sorted(set(old) | set(new))
                for key in differing_keys(old.get(name), new.get(name), f"{prefix}{name}.")]
    return [] if old == new else [prefix.rstrip(".")]


def run_record(store: Store, run_id: str) -> dict:
    columns, rows = store.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if not rows:
        raise PhaselogError(f"unknown run id {run_id!r} in {store}; `phaselog sql \"select run_id from runs\"` "
                            "lists the runs")
    return dict(zip(columns, rows[0]))


def phase_chain(store: Store, run_id: str) -> list[str]:
    """The run and the runs it continues, back to its phase's first run (just the run when the store has no row)."""
    _, rows = store.query("WITH RECURSIVE chain(run_id) AS (SELECT ?::VARCHAR UNION SELECT r.parent_run FROM runs r "
                          "JOIN chain c ON r.run_id = c.run_id WHERE r.parent_run IS NOT NULL) SELECT run_id FROM chain",
                          [run_id])
    return [run_id] + sorted(r[0] for r in rows if r[0] != run_id)


def set_status(store: Store, run_id: str, status: str) -> None:
    """The run's status; a run that stops (completed, failed, stopped, awaiting review) ends now, a running one has
    not ended."""
    at = now()
    store.execute("UPDATE runs SET status = ?, updated_at = ?, ended_at = ? WHERE run_id = ?",
                  [status, at, None if status == "running" else at, run_id])


def mark_failed(store: Store, run_id: str) -> None:
    """Where the store can still be written: the full disk that failed the run may fail this write too, and then
    the error that says why the run failed is the one to show, not this one."""
    try:
        set_status(store, run_id, "failed")
    except PhaselogError as err:
        print(f"phaselog: warning: run {run_id} is not marked failed in the store: {err}", file=sys.stderr,
              flush=True)


def read_segment_metrics(run_dir: Path, first_step: int, last_step: int, kind: str = "metrics") -> pa.Table:
    """Rows for steps in [first_step, last_step] from the files the trainer wrote beside its checkpoints
    (`kind` "probes": the monitor's per-layer rows)."""
    tables = []
    for path in sorted((Path(run_dir) / kind).glob("upto_*.parquet")):
        if int(path.stem.split("_")[1]) >= first_step:
            tables.append(pq.read_table(path))
    if not tables:
        return pa.table({})
    table = pa.concat_tables(tables, promote_options="default")
    steps = table.column("step").to_pylist()
    keep = [first_step <= s <= last_step for s in steps]
    return table.filter(pa.array(keep))


# what share of the machine a segment's training got (migration 012, model/train.py machine_share); a summary
# cached before 012, or from torchrun's launcher, has none of them: NULL
MACHINE_COLUMNS = ("cpu_seconds", "loop_seconds", "threads", "cores", "load_start", "load_end")


def ingest_segment(store: Store, run_id: str, run_dir: Path, index: int, summary: dict, seconds: float | None,
                   flow_run_id: str | None, finished_at: datetime | None = None) -> int:
    """Metrics and data mix of a finished segment, replacing whatever an earlier attempt wrote for its steps."""
    first = min(summary["start_step"], summary["resumed_from"]) + 1
    last = summary["end_step"]
    table = read_segment_metrics(run_dir, first, last)
    if table.num_rows == 0:
        return 0
    metrics = table.select(METRIC_COLUMNS).append_column("run_id", pa.array([run_id] * table.num_rows))
    store.replace_rows("metrics", metrics, "run_id = ? AND step BETWEEN ? AND ?", [run_id, first, last])
    # the data mix is per segment, so read the whole segment's steps (not only the resumed part)
    segment = read_segment_metrics(run_dir, summary["start_step"] + 1, last)
    token_columns = [c for c in segment.column_names if c.startswith("tokens/")]
    totals = {c.split("/", 1)[1]: sum(v or 0 for v in segment.column(c).to_pylist()) for c in token_columns}
    all_tokens = sum(totals.values()) or 1
    # share: the same figure under its name from before migration 010, for queries written then
    mix = [{"run_id": run_id, "segment_start": summary["start_step"], "segment_end": last, "source": name,
            "tokens": tokens, "token_share": tokens / all_tokens, "share": tokens / all_tokens}
           for name, tokens in totals.items()]
    store.replace_rows("data_mix", mix, "run_id = ? AND segment_start = ?", [run_id, summary["start_step"]])
    store.replace_rows("segments", [{
        "run_id": run_id, "index": index, "start_step": summary["start_step"], "end_step": last,
        "status": "completed", "checkpoint": summary["checkpoint"], "resumed_from": summary["resumed_from"],
        "trained_steps": summary["trained_steps"], "seconds": seconds, "flow_run_id": flow_run_id,
        "finished_at": finished_at or now(), **{name: summary.get(name) for name in MACHINE_COLUMNS}}],
        "run_id = ? AND \"index\" = ?", [run_id, index])
    if seconds is not None:
        # the run started training when its earliest recorded segment began
        began = (finished_at or now()) - timedelta(seconds=seconds)
        store.execute("UPDATE runs SET started_at = least(coalesce(started_at, ?), ?) WHERE run_id = ?",
                      [began, began, run_id])
    return metrics.num_rows


def record_segment_analysis(store: Store, run_id: str, index: int, start_step: int, end_step: int, seconds: float,
                            flow_run_id: str | None, loops_bias: dict) -> None:
    """The segment's analysis finished; `loops_bias` is the summary the review gate reads, kept so that a resume
    gives the gate the same summary without analysing again."""
    store.replace_rows("segment_analysis", [{
        "run_id": run_id, "end_step": end_step, "index": index, "start_step": start_step, "seconds": seconds,
        "flow_run_id": flow_run_id, "finished_at": now(), "loops_bias": json.dumps(loops_bias)}],
        "run_id = ? AND end_step = ?", [run_id, end_step])


def finished_segment_analysis(store: Store, run_id: str, end_step: int) -> dict | None:
    """The stored loops-and-bias summary of the segment ending at `end_step`, None when its analysis never
    finished."""
    _, rows = store.query("SELECT loops_bias FROM segment_analysis WHERE run_id = ? AND end_step = ?",
                          [run_id, end_step])
    return json.loads(rows[0][0]) if rows else None


def mean_analysis_seconds(store: Store, run_id: str) -> float | None:
    """What a segment's analysis has taken in this run, None before one finished: the run's ETA adds it."""
    _, rows = store.query("SELECT avg(seconds) FROM segment_analysis WHERE run_id = ?", [run_id])
    return rows[0][0]


def record_evals(store: Store, run_id: str, step: int, values: dict[str, float]) -> None:
    rows = [{"run_id": run_id, "step": step, "name": name, "value": value} for name, value in values.items()]
    names = list(values)
    placeholders = ", ".join("?" for _ in names)
    store.replace_rows("evals", rows, f"run_id = ? AND step = ? AND name IN ({placeholders})", [run_id, step, *names])


def record_evaluation(store: Store, run_id: str, step: int, result: dict) -> None:
    record_evals(store, run_id, step, result["values"])
    skips = [{"run_id": run_id, "step": step, "task": s["task"], "reason": s["reason"], "recorded_at": now()}
             for s in result["skipped"]]
    # a re-evaluation of the step replaces the earlier verdicts: a task that now runs is no longer skipped
    store.replace_rows("eval_skips", skips, "run_id = ? AND step = ?", [run_id, step])


def record_documents(store: Store, run_id: str, documents: pa.Table) -> None:
    rows = documents.append_column("run_id", pa.array([run_id] * documents.num_rows, pa.string()))
    store.replace_rows("documents", rows, "run_id = ?", [run_id])


def record_tokenizer_training(store: Store, run_id: str, training: dict) -> None:
    """One row per source of the tokenizer's training sample (datasets/prepare.py writes `training`)."""
    store.replace_rows("tokenizer_training", [
        {"run_id": run_id, "source": name, "sample_chars": chars, "sample_documents": training["sample_documents"][name],
         "vocab_size": training["vocab_size"], "pattern": training["pattern"], "sample_sha1": training["sample_sha1"]}
        for name, chars in training["sample_chars"].items()], "run_id = ?", [run_id])


def record_data_quality(store: Store, run_id: str, rows: list[dict]) -> None:
    checked_at = now()
    store.replace_rows("data_quality", [{"run_id": run_id, "checked_at": checked_at, **r} for r in rows],
                       "run_id = ?", [run_id])


def save_config_file(run_dir: Path, config) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.model_dump(), indent=2))
