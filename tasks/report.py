"""The phase log at the end of a flow: written to RUN/reports/ and published as a Prefect markdown artifact."""
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from phaselog.core.runs import slug
from phaselog.reports.build import write_report


@task(name="write-report")
def write_report_task(run_id: str, home: str) -> dict:
    written = write_report(Path(home), run_id)
    key = "phase-log-" + slug(run_id)  # artifact keys allow lowercase letters, digits and dashes only
    create_markdown_artifact(key=key, markdown=written.pop("artifact"), description=f"phase log of {run_id}")
    get_run_logger().info(f"phase log of {run_id}: {written['markdown']} and {written['html']}")
    return written
