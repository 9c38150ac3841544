"""The understand task: after each segment, health, learning pattern, concepts and shimmer from
`understanding.segment`, logged as one plain-words sentence. A critical verdict fails the run, unless
understanding.pause_on has health_critical: then the review gate asks a person."""
from prefect import get_run_logger, task

from phaselog.core.errors import PhaselogError
from phaselog.core.runs import RunPaths
from phaselog.understanding.segment import understand_segment


@task(name="understand", task_run_name="understand-{end}")
def understand_task(config, run_id: str, home: str, start: int, end: int) -> dict:
    paths = RunPaths.of(home, run_id)
    summary = understand_segment(paths.store, run_id, paths.run_dir, config, start, end)
    get_run_logger().info(summary["sentence"])
    if summary["critical"] and "health_critical" not in config.understanding.pause_on:
        raise PhaselogError(f"run {run_id}: health is critical after step {end}: {summary['sentence']}; "
                            "`phaselog sql \"select * from health\"` has the reasons")
    return summary
