"""Self-play as a Prefect task: reflections from the segment's end checkpoint (logic in `model.selfplay`),
stored with the training loss at that step and mirrored into the journal; then the calibrated corpus uptake of
that step (`understanding.uptake`). A segment that follows an answered
review (at its start step) reflects with the configured framing first."""
from pathlib import Path

from prefect import get_run_logger, task

from model.prompts import check_prompts_fit
from model.selfplay import reflect
from model.tokenizer import Tokenizer
from phaselog.journal import record_reflections, training_loss_at
from phaselog.reviews import review_at
from phaselog.store import Store
from understanding.uptake import record_uptake, uptake_sentence


@task(name="self-play", task_run_name="self-play-{end_step}")
def self_play_task(config, run_id: str, home: str, index: int, start_step: int, end_step: int) -> dict:
    if not config.self_play.enabled:
        return {"reflections": 0}
    store = Store(Path(home))
    review = review_at(store, run_id, start_step)
    after_review = review is not None and review["status"] == "answered"
    rows = reflect(Path(home) / run_id, config, run_id, index, end_step, training_loss_at(store, run_id, end_step),
                   after_review)
    record_reflections(store, run_id, end_step, rows)
    for u in record_uptake(store, run_id, Path(home) / run_id, config, end_step):
        get_run_logger().info(uptake_sentence(u))
    first = rows[0]["text"].strip().replace("\n", " ")[:80]
    get_run_logger().info(f"step {end_step}: {len(rows)} reflections ({rows[0]['prompt_version']}"
                          f"{', framed ' + rows[0]['framing'] if rows[0]['framing'] else ''}), first: {first!r}")
    return {"reflections": len(rows), "prompt_version": rows[0]["prompt_version"], "framing": rows[0]["framing"]}


@task(name="check-prompts")
def check_prompts_task(config, run_id: str, home: str) -> None:
    """Exact prompt length with the run's tokenizer, before the first step trains (`phaselog run` checked a lower
    bound from the config alone)."""
    check_prompts_fit(config, Tokenizer.load(Path(home) / run_id / "tokenizer"))
