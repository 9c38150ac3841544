"""The evaluate task: val bpb and the CORE-style suite on a segment's end checkpoint. It never fails the run
for lack of memory: out-of-memory tasks are recorded as skipped (see model/core_eval.py)."""
from prefect import get_run_logger, task

from phaselog.core.runs import RunPaths, record_evaluation
from phaselog.model.evaluate import run_evaluation


@task(name="evaluate", task_run_name="evaluate-{step}")
def evaluate_task(config, run_id: str, home: str, step: int) -> dict:
    paths = RunPaths.of(home, run_id)
    result = run_evaluation(paths.run_dir, config, step)
    record_evaluation(paths.store, run_id, step, result)
    values = result["values"]
    skipped = ", ".join(f"{s['task']} ({s['reason'][:80]})" for s in result["skipped"]) or "none"
    get_run_logger().info(f"step {step}: val bpb {values.get('val_bpb', float('nan')):.4f}, "
                          f"CORE {values.get('core', float('nan')):.4f} over {result['examples']} items; "
                          f"skipped: {skipped}")
    return values
