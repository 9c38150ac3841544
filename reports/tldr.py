"""The TL;DR: at most five claims of reports/claims.py, most important first, each a sentence stating figures the
sections below show in full. A claim enters only when it passed its own test against noise (`noteworthy`); the
order is the claims' GROUPS (what changed, whether it mattered, what the model now does, what needs attention,
couplings), and something that needs attention always keeps a place. A join that has its own event sentence (the
join with what changed around it) is said once, by that sentence."""
from phaselog.reports.claims import GROUPS, Claim, claims
from phaselog.reports.document import Bullets, Heading
from phaselog.reports.gather import ReportData

MAX_BULLETS = 5


def ranked(found: list[Claim]) -> list[Claim]:
    event_steps = {c.facts["step"] for c in found if c.name.startswith("event/")}
    candidates = [c for c in found if c.noteworthy
                  and not (c.name.startswith("join/") and c.facts["step"] in event_steps)]
    order = sorted(candidates, key=lambda c: GROUPS.index(c.group))  # stable: the registry's order within a group
    chosen = order[:MAX_BULLETS]
    attention = [c for c in order if c.group == "attention"]
    if attention and not any(c.group == "attention" for c in chosen):
        chosen[-1] = attention[0]
    return chosen


def section(data: ReportData) -> list:
    return [Heading(2, "TL;DR"), Bullets([c.text + "." for c in ranked(claims(data))])]
