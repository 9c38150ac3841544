"""Review bookkeeping in the store: a pending review, its answer (from the Prefect form or `phaselog review`), the
decision copied onto the step's bias events, and the note as a human journal entry tagged with the review's
topics (`bias`, `health`)."""
import json
import uuid

from phaselog.core.errors import PhaselogError
from phaselog.core.store import Store, now

# false_positive carries on like resume and says the detector was wrong: those findings can feed the dev set
DECISIONS = ("resume", "resume_with_counterexamples", "stop", "false_positive")
# the API address of the temporary Prefect server a command starts for itself (phaselog/ui.py): it has no UI,
# so a review pause cannot wait for an answer there (flows/review.py)
TEMPORARY_API_ENV = "PHASELOG_TEMPORARY_PREFECT_API"
# per run, the counterexample starts last read from the store itself: while a lake's catalog is down the run reads
# only what it wrote since, and its mix must not lose a source a review added before
KNOWN_STARTS: dict[str, dict[str, int]] = {}


def review_at(store: Store, run_id: str, step: int) -> dict | None:
    columns, rows = store.query("SELECT * FROM reviews WHERE run_id = ? AND step = ?", [run_id, step])
    return dict(zip(columns, rows[0])) if rows else None


def pending_review(store: Store, run_id: str) -> dict:
    columns, rows = store.query("SELECT * FROM reviews WHERE run_id = ? AND status = 'pending' ORDER BY step",
                                [run_id])
    if not rows:
        raise PhaselogError(f"run {run_id} has no pending review; `phaselog sql \"select step, status, decision "
                            f"from reviews where run_id = '{run_id}'\"` lists its reviews")
    return dict(zip(columns, rows[0]))


def request_review(store: Store, run_id: str, step: int, reasons: list[str], description: str,
                   flow_run_id: str | None, topics: list[str] = ("bias",)) -> None:
    store.replace_rows("reviews", [{
        "run_id": run_id, "step": step, "status": "pending", "reasons": json.dumps(reasons),
        "description": description, "decision": None, "note": None, "answered_via": None,
        "flow_run_id": flow_run_id, "requested_at": now(), "answered_at": None, "topics": list(topics)}],
        "run_id = ? AND step = ?", [run_id, step])


def apply_decision(store: Store, run_id: str, step: int, decision: str) -> None:
    store.execute("UPDATE bias_events SET decision = ? WHERE run_id = ? AND step = ?", [decision, run_id, step])


def add_review_journal_entry(store: Store, run_id: str, step: int, text: str, tags: list[str]) -> None:
    """The reviewer's note as a human journal entry tagged with the review's topics (the journal is self-play's
    table, 003)."""
    store.replace_rows("journal", [{"id": uuid.uuid4().hex, "run_id": run_id, "step": step, "author": "human",
                                    "text": text, "tags": tags, "created_at": now()}], "false", [])


def answer_review(store: Store, run_id: str, step: int, decision: str, note: str, via: str) -> None:
    """Record the answer on the review and the step's bias events, and the note in the journal."""
    if decision not in DECISIONS:
        raise PhaselogError(f"--decision {decision!r}: choose one of {', '.join(DECISIONS)}")
    store.execute("UPDATE reviews SET status = 'answered', decision = ?, note = ?, answered_via = ?, answered_at = ? "
                  "WHERE run_id = ? AND step = ?", [decision, note, via, now(), run_id, step])
    apply_decision(store, run_id, step, decision)
    text = f"Review at step {step}: {decision}." + (f" {note}" if note else "")
    # reviews recorded before migration 008 have no topics: they were all about bias
    add_review_journal_entry(store, run_id, step, text, list(review_at(store, run_id, step)["topics"] or ["bias"]))


def counterexample_starts(store: Store, run_id: str, config) -> dict[str, int]:
    """{source: step} for mix_from_config: the configured counterexample source joins the mix at the first answered
    resume_with_counterexamples review. Batch position `step` feeds update step+1, the first of the next segment."""
    source = config.review.counterexample_source
    if not source:
        return {}
    _, rows = store.query("SELECT min(step) FROM reviews WHERE run_id = ? AND status = 'answered' "
                          "AND decision = 'resume_with_counterexamples'", [run_id])
    starts = {source: rows[0][0]} if rows[0][0] is not None else {}
    if store.unreachable():  # a review answered during the outage is in what the run queued
        return KNOWN_STARTS.get(run_id) or starts
    KNOWN_STARTS[run_id] = starts
    return starts
