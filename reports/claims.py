"""The claim registry: every sentence of the TL;DR and of the list under "What we changed and why", each with a
name and the figures it states (`facts`), so that tests/test_report_claims.py can recompute every figure from the
store with its own SQL. A sentence that is not a claim here does not appear in those two places. Each claim also
says what kind of statement it is (`group`) and whether it passed its own test against noise (`noteworthy`): the
TL;DR takes only those, in GROUPS order."""
from dataclasses import dataclass

from phaselog.reports import couplings, events
from phaselog.reports.gather import ReportData
from phaselog.reports.model_sections import looped_samples, signature
from phaselog.reports.numbers import most_common, num, period_trend, steady_change, steps
from phaselog.reports.probe_drift import drift_sentence, probe_drifts
from phaselog.reports.source_joins import joins, leaves
from phaselog.reports.uptake import surfaced


# the TL;DR's order (reports/tldr.py): what changed, whether it mattered, what the model now does, what needs
# attention, then couplings
GROUPS = ("changed", "mattered", "model", "attention", "coupling")


@dataclass
class Claim:
    name: str     # what it states, e.g. "join/philosophy", "loss", "event/1500/join"
    text: str     # the sentence, without its final full stop
    facts: dict   # the figures the sentence states
    group: str = "changed"     # one of GROUPS, or "summary" / "period" (summary_claims, period_claim: never the TL;DR)
    noteworthy: bool = True    # passed its own test against noise: only then may it enter the TL;DR


def capital(text: str) -> str:
    return text[0].upper() + text[1:]


def mix_claims(data: ReportData) -> list[Claim]:
    """Sources joining (at their own step, with their share of the tokens from then on) and leaving the mix."""
    out = []
    for j in joins(data):
        share = f" ({100 * j['share']:.0f}% of the tokens from then on)" if j["share"] is not None else ""
        out.append(Claim(f"join/{j['source']}", f"{capital(j['source'])} joined the mix at step {steps(j['step'])}"
                         + share, {"step": j["step"], "share": j["share"]}))
    out += [Claim(f"leave/{x['source']}", f"{capital(x['source'])} left the mix at step {steps(x['step'])}",
                  {"step": x["step"]}) for x in leaves(data)]
    return out


def event_claims(data: ReportData) -> list[Claim]:
    """What changed around each join (always), and around any other event when something went beyond noise."""
    out = []
    for found in events.changes(data):
        event = found["event"]
        loss = found.get("loss") or {}
        beyond = [loss.get("jump_beyond"), loss.get("slope_beyond"), *(v["beyond"] for v in found["rms"].values()),
                  *(v["beyond"] for k, v in found.items() if k in ("val bpb", "loop share") or k.endswith(" uptake"))]
        if event["kind"] != "join" and not any(beyond):
            continue
        facts = {"step": event["step"], "window": found["window"], "loss_before": loss.get("before"),
                 "loss_after": loss.get("after"), "jump": loss.get("jump")}
        facts["shares"] = event["shares"]
        group = "changed" if event["kind"] in ("join", "leave") else "attention"
        out.append(Claim(f"event/{event['step']}/{event['kind']}", events.describe(found), facts, group))
    return out


def trend_text(trend: dict) -> str:
    """numbers.period_trend in words: 'loss fell 7.21 ± 0.09 -> 4.42 ± 0.01 (means of its first and last 100
    steps), most of it in its first 300 steps (...)'; 'held near' only when every tenth is within noise of its first
    and last."""
    width = steps(trend["width"])
    ends = (f"{num(trend['first'])} ± {num(trend['first_se'], 2)} -> {num(trend['last'])} ± "
            f"{num(trend['last_se'], 2)} (means of its first and last {width} steps)")
    if trend["moved"]:
        verb = "fell" if trend["last"] < trend["first"] else "rose"
        into = trend["settled"] - trend["start"]
        early = into <= (trend["end"] - trend["start"]) / 2
        if trend["still"]:  # where it settled is moot: it had not stopped
            where = (f", most of it in its first {steps(into)} steps" if early else "") + \
                f", still {'falling' if verb == 'fell' else 'rising'} at its end"
        elif early:
            where = (f", most of it in its first {steps(into)} steps (each {width} steps' mean from step "
                     f"{steps(trend['settled'])} on within noise of the last)")
        else:
            where = f", each {width} steps' mean from step {steps(trend['settled'])} on within noise of the last"
        return f"loss {verb} {ends}{where}"
    if trend["flat"]:
        return (f"loss held near {num((trend['first'] + trend['last']) / 2)} (its first and last {width} steps' means "
                f"{num(trend['first'])} ± {num(trend['first_se'], 2)} and {num(trend['last'])} ± "
                f"{num(trend['last_se'], 2)}, and every {width} steps' mean between them within noise of both)")
    return (f"loss did not change beyond its noise from its first to its last {width} steps (means "
            f"{num(trend['first'])} ± {num(trend['first_se'], 2)} -> {num(trend['last'])} ± {num(trend['last_se'], 2)}), "
            f"though its {width}-step means ranged {num(trend['low'])}-{num(trend['high'])} in between")


def still_falling(trend: dict) -> str | None:
    """Why more steps of the same may still lower a loss that fell: it was still falling at the end
    (numbers.period_trend's `still`), or it settled too late in the range to call that a plateau; None when it did
    not fall, or plateaued."""
    if not trend["moved"] or trend["last"] >= trend["first"] or plateaued(trend):
        return None
    if trend["still"]:
        return f"the loss was still falling at step {steps(trend['end'])}"
    return (f"the loss settled only from step {steps(trend['settled'])} of {steps(trend['end'])}, too late in the "
            "range to call it a plateau")


def plateaued(trend: dict) -> bool:
    """The loss changed, settled within its first half and did not move on: a plateau long enough to say that more
    steps of the same are unlikely to help (a late settling, a few tenths within noise of the last, is too short
    to tell a plateau from a slow fall)."""
    return bool(trend["moved"] and not trend["still"]
                and trend["settled"] - trend["start"] <= (trend["end"] - trend["start"]) / 2)


def loss_claim(data: ReportData) -> Claim | None:
    """How the loss went over the whole range, as a period (its first and last tenth; a change only past
    means_apart, so a steep first few hundred steps count)."""
    trend = period_trend(data.metrics["step"], data.metrics["loss"], data.first_step, data.last_step)
    if trend is None:
        return None
    return Claim("loss", f"Over steps {steps(data.first_step)}-{steps(data.last_step)}, the {trend_text(trend)}",
                 trend, "mattered", trend["moved"])


def period_claim(data: ReportData, start: int, end: int) -> Claim | None:
    """How the loss went over a period (start, end] of segments with one mix and prompt: trend_text of
    numbers.period_trend. None for a period too short to read."""
    trend = period_trend(data.metrics["step"], data.metrics["loss"], start, end)
    return Claim(f"period/{start}-{end}", trend_text(trend), trend, "period") if trend else None


def claims(data: ReportData) -> list[Claim]:
    loss = loss_claim(data)
    out = [loss] if loss else []
    bpb = [e for e in data.evals if e["name"] == "val_bpb"]
    if bpb:
        # one evaluation is a level, not a change
        first = f"{num(bpb[0]['value'])} at step {steps(bpb[0]['step'])} → " if len(bpb) > 1 else ""
        out.append(Claim("val_bpb", f"Validation bpb {first}{num(bpb[-1]['value'])} at step {steps(bpb[-1]['step'])}",
                         {"first_step": bpb[0]["step"], "first": bpb[0]["value"], "last_step": bpb[-1]["step"],
                          "last": bpb[-1]["value"]}, "mattered", steady_change([p["value"] for p in bpb])))
    out += mix_claims(data) + event_claims(data)
    if data.health:
        unhealthy = [h for h in data.health if h["status"] != "healthy"]
        text = ("Health stayed healthy at every check" if not unhealthy else
                f"Health left healthy at {len(unhealthy)} of {len(data.health)} checks "
                f"(first at step {steps(unhealthy[0]['step'])}: {unhealthy[0]['status']})")
        out.append(Claim("health", text, {"unhealthy": len(unhealthy), "checks": len(data.health),
                                          "first_step": unhealthy[0]["step"] if unhealthy else None},
                         "attention", bool(unhealthy)))
    if data.bias_events is not None or data.reviews is not None:
        # probe rows are measurements at every segment end, not findings
        found = [e for e in data.bias_events or [] if e["source"] != "probe"]
        high = sum(1 for e in found if e["severity"] == "high")
        pauses = len(data.reviews or [])
        # a high finding no review read is the detector's grade, not a fact: the sentence says so
        unread = sorted({e["step"] for e in found if e["severity"] == "high"
                         and not any(r["step"] == e["step"] and r["decision"] for r in data.reviews or [])})
        text = (f"{len(found)} bias finding{'s' if len(found) != 1 else ''} ({high} high severity) and {pauses} "
                f"review pause{'s' if pauses != 1 else ''}")
        if unread:
            text += (f"; the high grade at step{'s' if len(unread) > 1 else ''} "
                     f"{', '.join(steps(s) for s in unread)} is the detector's and no review has read it: a "
                     "detector finding to review, not a verdict")
        out.append(Claim("bias", text, {"findings": len(found), "high": high, "reviews": pauses,
                                        "unread_steps": unread}, "attention", bool(high or pauses)))
    drifts = probe_drifts(data)
    out += [Claim(f"probe_drift/{d['category']}", capital(drift_sentence(d, len(drifts))),
                  {k: d[k] for k in ("first_step", "last_step", "first", "last", "others", "z")} | {"categories": len(drifts)},
                  "attention") for d in drifts if d["passes"]]
    if data.reflections:
        looped = looped_samples(data)
        kinds = [signature(r, looped) for r in data.reflections]
        top = most_common(kinds)
        out.append(Claim("signature", f"The dominant self-play signature was {top} ({kinds.count(top)} of "
                                      f"{len(kinds)} reflections)",
                         {"signature": top, "count": kinds.count(top), "of": len(kinds)}, "model",
                         len(kinds) >= 4 and kinds.count(top) > len(kinds) / 2))
    for row, text in surfaced(data):
        out.append(Claim(f"uptake/{row['source']}", capital(text),
                         {k: row[k] for k in ("step", "score", "band_low", "band_high", "auc", "status")},
                         "model", row["status"] in ("surfaced", "not_yet")))
    tried = couplings.couplings(data)
    for c in [c for c in tried if couplings.backed(c)][:1]:
        out.append(Claim("coupling", capital(couplings.sentence(c).rstrip(".")),
                         {"a": c["a"], "b": c["b"], "r": c["r"], "partial": c["partial"], "n": c["n"], "p": c["p"],
                          "pairs": len(tried)}, "coupling"))
    return out


def summary_claims(data: ReportData, found: list[Claim]) -> list[Claim]:
    """The closing summary, as the posts end: what the range did, what to look at, what to do next, one sentence
    each, said only from the claims above (`found`) that passed their own test against noise; each names the claims
    it restates (`facts["claims"]`, recomputed with them), and a sentence with none behind it is left out."""
    by = {c.name: c for c in found}
    did, watch, next_steps = [], [], []   # (clause, the claims it restates)
    did += [(f"{c.name.split('/', 1)[1]} joined the mix at step {steps(c.facts['step'])}", c) for c in found
            if c.name.startswith("join/")]
    loss, bpb = by.get("loss"), by.get("val_bpb")
    if loss and loss.noteworthy:
        verb = "fell" if loss.facts["last"] < loss.facts["first"] else "rose"
        did.append((f"the loss {verb} from {num(loss.facts['first'])} to {num(loss.facts['last'])} (its first and "
                    f"last {steps(loss.facts['width'])} steps)", loss))
    if bpb and bpb.noteworthy:
        did.append((f"val bpb went {num(bpb.facts['first'])} -> {num(bpb.facts['last'])}", bpb))
    # "did not move" only from a claim that measured a change: one evaluation is a level
    still = [c for c in (loss, bpb)
             if c and not c.noteworthy and (c is loss or c.facts["first_step"] != c.facts["last_step"])]
    if still:
        said = "neither the loss nor val bpb" if len(still) == 2 else "the loss" if still[0] is loss else "val bpb"
        did.append((f"{said} {'moved' if len(still) == 2 else 'did not move'} beyond its noise", *still))
    for c in (c for c in found if c.name.startswith("uptake/")):
        source = c.name.split("/", 1)[1]
        if c.facts["status"] == "surfaced":
            confounded = "the config changed" in c.text
            did.append((f"{source} surfaced in the model's reflections"
                        + (" (right after a config change, so not by the source alone)" if confounded else ""), c))
        elif c.facts["status"] == "not_yet":
            did.append((f"{source} has not surfaced in the model's reflections yet", c))
            next_steps.append((f"keep {source} in the mix and read its uptake again", c))
    health, bias = by.get("health"), by.get("bias")
    if health and health.noteworthy:
        watch.append((f"health left healthy at {health.facts['unhealthy']} of {health.facts['checks']} checks",
                      health))
    if bias and bias.facts["unread_steps"]:
        many = len(bias.facts["unread_steps"]) > 1
        watch.append((f"the bias detector's high grade at step{'s' if many else ''} "
                      f"{', '.join(steps(s) for s in bias.facts['unread_steps'])}, which no review has read", bias))
        next_steps.insert(0, ("read those findings first", bias))
    watch += [(f"{c.name.split('/', 1)[1]}'s probe drift of {c.facts['z']:.1f} standard errors over the range", c)
              for c in found if c.name.startswith("probe_drift/")]
    if loss and still_falling(loss.facts):  # a loss within its noise says nothing about next
        next_steps.append((f"train further: {still_falling(loss.facts)}", loss))
    elif loss and plateaued(loss.facts):
        next_steps.append((f"the loss has held since step {steps(loss.facts['settled'])}: a deeper model or a new "
                           "source, not more steps of this mix", loss))
    out = []
    for name, head, clauses in (("summary/did", f"Over steps {steps(data.first_step)}-{steps(data.last_step)}: ",
                                 did),
                                ("summary/watch", "To look at: ", watch), ("summary/next", "Next: ", next_steps)):
        if clauses:
            out.append(Claim(name, head + "; ".join(text for text, *_ in clauses),
                             {"claims": sorted({c.name for _, *backing in clauses for c in backing})}, "summary"))
    return out
