"""Training and evaluation tasks. A segment's cache key is run id + segment index + config hash, so a retried
or resumed flow run skips finished segments; the checkpoint with its completion marker stays the source of
truth (train_segment returns at once when the segment's end checkpoint is already good)."""
import time
from pathlib import Path

from prefect import get_run_logger, task
from prefect.runtime import flow_run

from model.evaluate import evaluate_checkpoint
from model.train import train_segment
from phaselog.progress import TrainingProgress
from phaselog.runs import ingest_segment, record_evals
from phaselog.store import Store


def segment_cache_key(context, parameters) -> str:
    return f"{parameters['run_id']}-segment-{parameters['index']}-{parameters['config'].hash()}"


@task(name="train-segment", task_run_name="train-segment-{index}", cache_key_fn=segment_cache_key,
      persist_result=True)
def train_segment_task(config, run_id: str, home: str, index: int, start_step: int, end_step: int,
                       peak_flops: float) -> dict:
    logger = get_run_logger()
    run_dir = Path(home) / run_id
    started = time.perf_counter()
    progress = TrainingProgress(start_step, end_step)
    summary = train_segment(run_dir, config, start_step, end_step, peak_flops, home=Path(home),
                            on_step=progress.update, log=logger.info)
    seconds = time.perf_counter() - started
    rows = ingest_segment(Store(Path(home)), run_id, run_dir, index, summary, seconds, flow_run.id)
    logger.info(f"segment {index} [{start_step}, {end_step}): {summary['trained_steps']} steps trained "
                f"(resumed from {summary['resumed_from']}), {rows} metric rows, {seconds:.1f}s")
    return summary


@task(name="evaluate", task_run_name="evaluate-{step}")
def evaluate_task(config, run_id: str, home: str, step: int) -> dict:
    values = evaluate_checkpoint(Path(home) / run_id, config, step)
    record_evals(Store(Path(home)), run_id, step, values)
    get_run_logger().info(f"step {step}: val bpb {values['val_bpb']:.4f}")
    return values
