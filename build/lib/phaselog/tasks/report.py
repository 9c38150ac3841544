"""The phase log at the end of a flow: written to RUN/reports/ (and, for a run continuing another, the log of its
whole phase to HOME/phases/PHASE/), each published as a Prefect markdown artifact."""
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from phaselog.core.runs import slug
from phaselog.reports.build import write_report
from phaselog.reports.phase import write_phase_report


def artifact_key(name: str) -> str:
    return "phase-log-" + slug(name)  # artifact keys allow lowercase letters, digits and dashes only


@task(name="write-report")
def write_report_task(run_id: str, home: str) -> dict:
    written = write_report(Path(home), run_id)
    create_markdown_artifact(key=artifact_key(run_id), markdown=written.pop("artifact"),
                             description=f"phase log of {run_id}")
    get_run_logger().info(f"phase log of {run_id}: {written['markdown']} and {written['html']}")
    return written


@task(name="write-phase-report")
def write_phase_report_task(phase: str, home: str) -> dict:
    """The phase log across every run of the phase (reports/phase.py), in HOME/phases/PHASE/."""
    written = write_phase_report(Path(home), phase)
    create_markdown_artifact(key=artifact_key(f"phase-{phase}"), markdown=written.pop("artifact"),
                             description=f"phase log of phase {phase} ({len(written['runs'])} runs)")
    get_run_logger().info(f"phase log of phase {phase}: {written['markdown']} and {written['html']}")
    return written
