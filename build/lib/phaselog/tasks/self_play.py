"""Self-play as a Prefect task: reflections from the segment's end checkpoint (logic in `understanding/selfplay.py`),
stored with the training loss at that step and mirrored into the journal; then the calibrated corpus uptake of
that step (`understanding/uptake.py`). A segment that follows an answered
review (at its start step) reflects with the configured framing first."""
from prefect import get_run_logger, task

from phaselog.core.journal import record_reflections, training_loss_at
from phaselog.core.reviews import review_at
from phaselog.core.runs import RunPaths
from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.prompts import check_prompts_fit
from phaselog.understanding.selfplay import reflect
from phaselog.understanding.uptake import record_uptake, uptake_sentence


@task(name="self-play", task_run_name="self-play-{end_step}")
def self_play_task(config, run_id: str, home: str, index: int, start_step: int, end_step: int) -> dict:
    if not config.self_play.enabled:
        return {"reflections": 0}
    paths = RunPaths.of(home, run_id)
    store = paths.store
    review = review_at(store, run_id, start_step)
    after_review = review is not None and review["status"] == "answered"
    rows = reflect(paths.run_dir, config, run_id, index, end_step, training_loss_at(store, run_id, end_step),
                   after_review)
    record_reflections(store, run_id, end_step, rows)
    for u in record_uptake(store, run_id, paths.run_dir, config, end_step):
        get_run_logger().info(uptake_sentence(u))
    first = rows[0]["text"].strip().replace("\n", " ")[:80]
    get_run_logger().info(f"step {end_step}: {len(rows)} reflections ({rows[0]['prompt_version']}"
                          f"{', framed ' + rows[0]['framing'] if rows[0]['framing'] else ''}), first: {first!r}")
    return {"reflections": len(rows), "prompt_version": rows[0]["prompt_version"], "framing": rows[0]["framing"]}


@task(name="check-prompts")
def check_prompts_task(config, run_id: str, home: str) -> None:
    """Exact prompt length with the run's tokenizer, before the first step trains (`phaselog run` checked a lower
    bound from the config alone)."""
    check_prompts_fit(config, Tokenizer.load(RunPaths.of(home, run_id).tokenizer))
