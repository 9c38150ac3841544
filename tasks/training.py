"""The training task (evaluation is tasks/evaluation.py). A segment's cache key is run id + segment index +
config hash + home, so a retried or resumed flow run skips finished segments; the checkpoint with its
completion marker stays the source of truth (train_segment returns at once when the segment's end checkpoint
is already good). Recording the segment's rows is a task of its own, run every time."""
import hashlib
import time
from pathlib import Path

from prefect import get_run_logger, task
from prefect.runtime import flow_run

from phaselog.core.errors import TrainingDiverged
from phaselog.core.progress import TrainingProgress
from phaselog.core.reviews import counterexample_starts
from phaselog.core.runs import RunPaths, ingest_segment, mean_analysis_seconds
from phaselog.core.store import Store, now
from phaselog.model.train import train_segment
from phaselog.understanding.segment import record_divergence


def segment_cache_key(context, parameters) -> str:
    # the home is part of the key: the same run id and config under another home (a second test session, a
    # copied config) is another run whose segment has not been trained
    home = hashlib.sha256(str(Path(parameters["home"]).resolve()).encode()).hexdigest()[:12]
    return f"{parameters['run_id']}-segment-{parameters['index']}-{parameters['config'].hash()}-{home}"


@task(name="train-segment", task_run_name="train-segment-{index}", cache_key_fn=segment_cache_key,
      persist_result=True)
def train_segment_task(config, run_id: str, home: str, index: int, start_step: int, end_step: int,
                       peak_flops: float) -> dict:
    logger = get_run_logger()
    paths = RunPaths.of(home, run_id)
    run_dir, store = paths.run_dir, paths.store
    started = time.perf_counter()
    later = sum(1 for start, _ in config.segments() if start >= end_step)
    progress = TrainingProgress(start_step, end_step, config.tokens_per_step(), config.train.end_step, later,
                                mean_analysis_seconds(store, run_id))
    # recorded review decisions, not flow state: a resumed run rebuilds the same mix
    extra_starts = counterexample_starts(store, run_id, config)
    try:
        summary = train_segment(run_dir, config, start_step, end_step, peak_flops, home=paths.home,
                                on_start=progress.begin, on_step=progress.update, log=logger.info,
                                extra_starts=extra_starts)
    except TrainingDiverged as err:
        # the health table must say why the run stopped, even though no understand task runs for this segment
        logger.error(record_divergence(store, run_id, start_step, err))
        raise
    # kept in the cached result: recording the segment again later (a refilled store) writes the same row
    summary.update(seconds=time.perf_counter() - started, flow_run_id=flow_run.id, finished_at=now())
    # "resumed" only when it was: a fresh segment starts at its start step, a finished one trains nothing
    resumed = (f" (resumed from step {summary['resumed_from']})" if start_step < summary["resumed_from"] < end_step
               else " (its end checkpoint was there already)" if summary["resumed_from"] == end_step else "")
    logger.info(f"segment {index} [{start_step}, {end_step}): {summary['trained_steps']} steps trained{resumed}, "
                f"{summary['seconds']:.1f}s")
    return summary


@task(name="record-segment", task_run_name="record-segment-{index}")
def record_segment_task(run_id: str, home: str, index: int, summary: dict) -> int:
    """The segment's rows, from the files the trainer wrote. Not cached, unlike training: a store that lost them
    (deleted, rebuilt, rows removed) is refilled when the run is resumed, even for a segment Prefect skips."""
    # .get: a result cached before these were in it
    store = Store(Path(home))
    rows = ingest_segment(store, run_id, Path(home) / run_id, index, summary, summary.get("seconds"),
                          summary.get("flow_run_id", flow_run.id), summary.get("finished_at"))
    where = "queued on disk until the store is back" if store.unreachable() else "in the store"
    get_run_logger().info(f"segment {index}: {rows} metric rows {where}")
    return rows
