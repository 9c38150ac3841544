"""The review gate the flow calls right after a segment's loops-and-bias task (and where training diverged): when
the findings (bias, or health as understanding.pause_on allows) need a person, the flow pauses in Prefect with a
form (ReviewInput), or, with no Prefect server to show that form, stops as awaiting_review for `phaselog review`.
Flow code, not a task: pause_flow_run pauses the flow run itself."""
import os
from typing import Literal

from prefect import get_run_logger, pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL
from pydantic import Field

from phaselog.core.reviews import (DECISIONS, TEMPORARY_API_ENV, answer_review, apply_decision, request_review,
                                   review_at)
from phaselog.core.runs import RunPaths, set_status
from phaselog.core.store import Store
from phaselog.understanding.health_review import with_health


class ReviewInput(RunInput):
    """The form a reviewer fills in the Prefect UI to resume a paused run."""
    decision: Literal[DECISIONS] = Field(
        "resume", description="resume_with_counterexamples adds the configured review.counterexample_source to "
        "the mix from the next segment; with none configured it carries on like resume. false_positive: the "
        "detectors were wrong; carries on like resume and marks the step's findings for the dev set")
    note: str = Field("", description="what you saw and why you decided so; it goes into the journal, tagged "
                      "with what the review was about (bias, health)")


def server_can_show_form(mode: str) -> bool:
    # an ephemeral Prefect (no PREFECT_API_URL), or the temporary server a command starts for itself (its URL is
    # in TEMPORARY_API_ENV), has no UI where anyone could answer: pausing would just hang
    api = PREFECT_API_URL.value()
    return mode == "pause" or (mode == "auto" and bool(api) and api != os.environ.get(TEMPORARY_API_ENV))


def carry_on(store: Store, run_id: str, step: int, decision: str, counterexample_source: str) -> bool:
    logger = get_run_logger()
    if decision == "stop":
        set_status(store, run_id, "stopped")
        logger.info(f"run {run_id} stopped at step {step} by review")
        return False
    # the mix itself comes from the reviews table (phaselog.reviews.counterexample_starts) when a segment trains
    if decision == "resume_with_counterexamples" and counterexample_source:
        logger.info(f"review at step {step}: {counterexample_source} joins the mix from step {step + 1}")
    elif decision == "resume_with_counterexamples":
        logger.warning(f"review at step {step}: resume_with_counterexamples, but review.counterexample_source is "
                       "empty; the run carries on with its configured sources")
    return True


def review_gate(config, run_id: str, home: str, summary: dict) -> bool:
    """True: the run carries on. False: it stops here (awaiting review, or the reviewer chose stop). Runs in the
    flow body, not a task, because pause_flow_run pauses the flow run itself. `summary`: loops_bias_task's, or
    {step, reasons: [], description: ""} at the step where training diverged."""
    store, step = RunPaths.of(home, run_id).store, summary["step"]
    earlier = review_at(store, run_id, step)
    if earlier and earlier["status"] == "answered":
        # a resumed run comes back here with the step's findings (stored, or analysed again when the store lost
        # them, which rewrites its events): the answer given before still holds
        apply_decision(store, run_id, step, earlier["decision"])
        return carry_on(store, run_id, step, earlier["decision"], config.review.counterexample_source)
    summary = with_health(store, run_id, config, summary)
    if not summary["reasons"] or not config.review.enabled:
        return True
    request_review(store, run_id, step, summary["reasons"], summary["description"], flow_run.id, summary["topics"])
    if not server_can_show_form(config.review.mode):
        set_status(store, run_id, "awaiting_review")
        get_run_logger().warning(f"run {run_id} awaits review at step {step}: {'; '.join(summary['reasons'])}. "
                                 f"Answer with `phaselog review {run_id} --decision resume|resume_with_"
                                 "counterexamples|stop|false_positive --note TEXT`, which also continues the run")
        return False
    # runs.status stays running: the flow is alive, waiting on the form (awaiting_review means stopped)
    form = ReviewInput.with_initial_data(description=summary["description"], decision="resume", note="")
    answer = pause_flow_run(wait_for_input=form, timeout=config.review.timeout_seconds,
                            poll_interval=config.review.poll_seconds)
    answer_review(store, run_id, step, answer.decision, answer.note, "prefect")
    return carry_on(store, run_id, step, answer.decision, config.review.counterexample_source)
