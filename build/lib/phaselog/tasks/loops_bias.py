"""Loops and bias after each segment: the findings and whether they need a person (the flow's review gate,
flows/review.py, acts on that)."""
from prefect import get_run_logger, task

from phaselog.core.runs import RunPaths
from phaselog.understanding.loops_bias import analyse_segment


@task(name="loops-bias", task_run_name="loops-bias-{end}")
def loops_bias_task(config, run_id: str, home: str, start: int, end: int) -> dict:
    paths = RunPaths.of(home, run_id)
    summary = analyse_segment(paths.store, run_id, paths.run_dir, config, start, end)
    get_run_logger().info(f"loops and bias at step {end}: {summary['texts']} texts, {summary['loops']} loops, "
                          f"{summary['findings']} bias findings; review: {'; '.join(summary['reasons']) or 'none'}")
    return summary
