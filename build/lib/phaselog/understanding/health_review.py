"""Health as a reason to pause, by choice (`understanding.pause_on`): a critical verdict (`health_critical`; a
non-finite loss is one, recorded at the step training stopped) or `pause_attention_segments` needs_attention
verdicts in a row since the last review (`health_attention`). The review gate (tasks/loops_bias.py) merges these
with the bias reasons into one review: the same form, framing, `reviews` row and journal note."""
from phaselog.core.store import Store
from phaselog.understanding.health import ATTENTION, CRITICAL


def health_reasons(store: Store, run_id: str, config, step: int) -> list[str]:
    """Plain-words reasons to pause for the health verdict recorded at `step` (none when pause_on does not ask)."""
    cfg = config.understanding
    _, last = store.query("SELECT max(step) FROM reviews WHERE run_id = ? AND status = 'answered' AND step < ?",
                          [run_id, step])
    _, rows = store.query("SELECT step, status, sentence FROM health WHERE run_id = ? AND step > ? AND step <= ? "
                          "ORDER BY step DESC", [run_id, last[0][0] if last[0][0] is not None else -1, step])
    if not rows or rows[0][0] != step:
        return []
    status, sentence = rows[0][1], rows[0][2]
    if status == CRITICAL and "health_critical" in cfg.pause_on:
        return [f"health is critical at step {step}: {sentence}"]
    streak = 0
    while streak < len(rows) and rows[streak][1] == ATTENTION:
        streak += 1
    if "health_attention" in cfg.pause_on and streak >= cfg.pause_attention_segments:
        return [f"health has needed attention for {streak} segments in a row (to step {step}): {sentence}"]
    return []


def health_description(run_id: str, step: int, reasons: list[str]) -> str:
    """The reviewer's markdown, framed like the bias review's: the monitor did its job, here is what it saw."""
    return "\n".join([
        f"## The health monitor did its job: run `{run_id}`, step {step}", "",
        "It saw training go somewhere worth a person's eye, so the run waits for you. Here is what it saw:", "",
        *[f"- {reason}" for reason in reasons], "",
        "The checkpoints on disk hold no non-finite weights: training stops before an update that would write "
        "them. Choose **resume** (carry on; after a non-finite loss, the segment is tried once more from the last "
        "good checkpoint and a second divergence fails the run), **resume_with_counterexamples** (the same, and "
        "the configured counterexample source joins the mix) or **stop** (the run ends here, its checkpoints "
        "stay), and leave a note: it goes into the journal, tagged `health`."])


def with_health(store: Store, run_id: str, config, summary: dict) -> dict:
    """The loops-and-bias summary of a step (or an empty one after a divergence) as the review the gate asks
    for: bias reasons when pause_on has `bias`, health reasons as pause_on says, their descriptions and topics."""
    step, pause_on = summary["step"], config.understanding.pause_on
    bias = summary["reasons"] if "bias" in pause_on else []
    health = health_reasons(store, run_id, config, step)
    parts = ([summary["description"]] if bias else []) + ([health_description(run_id, step, health)] if health else [])
    return {**summary, "reasons": bias + health, "description": "\n\n".join(parts),
            "topics": (["bias"] if bias else []) + (["health"] if health else [])}
