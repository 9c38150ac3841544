"""What's next, drawn from what the store still holds open: a loss still falling at the end (train further, with
the command), a late source whose uptake has not surfaced or cannot be decided, a review waiting for an answer, a
health verdict that is not healthy at the end, reflections that loop at the last self-play, late sources no
reflection could show (self-play off), high findings that did not pause; then the researcher's own plans (journal
entries tagged next, the config's notes). Both the run's log and the phase's log build their list here, from plain
values."""
from dataclasses import dataclass, field

from phaselog.reports.claims import Claim, plateaued, still_falling
from phaselog.reports.numbers import num, steps

LOOPING = 0.5    # a share of looping reflections at the last self-play that asks for another prompt


@dataclass
class Signals:
    run_id: str                        # the run a follow-up command continues or answers
    first_step: int
    last_step: int
    loss: Claim | None                 # claims.loss_claim: how the loss went over the range
    last_slope: float | None           # loss per 1,000 steps over the last bucket
    uptake: list[tuple[dict, str]]     # uptake.surfaced_rows: (a late source's last row, its sentence)
    pending_reviews: list[int] = field(default_factory=list)
    last_health: dict | None = None    # {step, status, reasons}
    last_loop_share: tuple[int, float] | None = None   # (step, share of its reflections that loop)
    unheard: list[str] = field(default_factory=list)         # late sources while self-play wrote nothing
    unpaused_high: list[str] = field(default_factory=list)   # "step N (source)" of high findings that did not pause
    plans: list[str] = field(default_factory=list)           # the journal's next entries and the config's notes


def follow_ups(s: Signals) -> list[str]:
    out = []
    trend = s.loss.facts if s.loss and s.loss.noteworthy else None
    if trend and still_falling(trend):
        more = max(1, s.last_step - s.first_step)
        slope = f" ({num(s.last_slope, 2)} per 1,000 steps over the last stretch)" if s.last_slope is not None else ""
        out.append(f"Train further: {still_falling(trend)}{slope}: phaselog "
                   f"continue {s.run_id} --set train.end_step={s.last_step + more} adds {steps(more)} steps on "
                   "the same mix.")
    elif trend and plateaued(trend):
        out.append(f"The loss has held since step {steps(trend['settled'])}: more steps of this mix are unlikely "
                   "to lower it; a deeper model (model.depth) or a new source is the next lever.")
    for row, _ in s.uptake:
        if row["status"] == "not_yet":
            out.append(f"Keep {row['source']} in the mix and read its uptake again after the next segment: at step "
                       f"{steps(row['step'])} its score {row['score']:.2f} is inside the null band "
                       f"({row['band_low']:.2f} to {row['band_high']:.2f}).")
        elif row["status"] == "undecidable":
            out.append(f"Make {row['source']}'s uptake decidable: its held-out AUC is {row['auc']:.2f} (< 0.8) at "
                       f"{row['window_tokens']}-token reflections; a larger self_play.max_new_tokens gives longer "
                       "ones.")
    if s.unheard:
        out.append(f"{', '.join(s.unheard)} joined the mix, but no reflection was written (self-play off), so "
                   "nothing tells whether the model writes like them yet: set self_play.enabled true in the next "
                   "run, and its corpus uptake is measured against a null band.")
    out += [f"Answer the review waiting at step {steps(step)}: phaselog review {s.run_id} --decision "
            "resume|resume_with_counterexamples|stop|false_positive --note TEXT (it also continues the run)."
            for step in s.pending_reviews]
    if s.last_health and s.last_health["status"] != "healthy":
        out.append(f"Health is {s.last_health['status']} at step {steps(s.last_health['step'])} "
                   f"({', '.join(s.last_health['reasons']) or 'no reason recorded'}): look at the understanding "
                   "section's layers before training further.")
    if s.last_loop_share and s.last_loop_share[1] >= LOOPING:
        step, share = s.last_loop_share
        out.append(f"{share:.0%} of the reflections at step {steps(step)} loop: try another prompt version "
                   "(self_play.prompt_version) or a lower self_play.temperature in the next run.")
    if s.unpaused_high:
        out.append(f"Read the high-severity findings that did not pause ({', '.join(s.unpaused_high[:3])}) and "
                   "decide whether that text should stay in the mix.")
    return out + s.plans
