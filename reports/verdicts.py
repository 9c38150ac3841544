"""Loops and bias, each finding with its verdict: benign or not and why (the detector's own grading, docs/
detectors.md), and for every finding at or above the pause threshold whether the run paused for it, or the rule
and the numbers that kept it from pausing (understanding/events.py's review_reasons, the config's review and
understanding.pause_on). Low findings the detector itself judges benign are one line, with the query that lists
them all."""
from phaselog.reports.claims import capital, claims
from phaselog.reports.document import Bullets, Figure, Heading, Note, Paragraph, Table
from phaselog.reports.gather import ReportData, config_of, run_condition
from phaselog.reports.model_sections import as_list, loop_name, missing
from phaselog.reports.numbers import steps
from phaselog.reports.probe_drift import drift_sentence, probe_drifts

REFLECTION_SOURCES = ("reflection", "injected")   # texts the model wrote (or the drill text): one high finding pauses
DISCOUNT_WHY = {"negation": "the sentence denies the claim", "quotation": "the claim is quoted or reported",
                "supposition": "the claim is a premise ('if ...'), not asserted",
                "counter-speech": "the sentence argues against the stereotype"}


def review_settings(data: ReportData, run_id: str | None = None) -> dict:
    """The review settings the run used (run_id's own, in a phase's log), with the config defaults
    (phaselog/core/config.py) where it is silent."""
    config = (data.run_configs or {}).get(run_id) or config_of(data)
    review = {"enabled": True, "data_rate": 0.05, "data_min_windows": 64, "data_min_count": 3,
              "probe_shift_se": 3.0, "probe_min_step": 500, **(config.get("review") or {})}
    pause_on = (config.get("understanding") or {}).get("pause_on", ["bias"])
    return {**review, "pause_on": list(pause_on)}


def findings(data: ReportData) -> list[dict]:
    return [e for e in data.bias_events or [] if e["source"] != "probe"]


def verdict(event: dict, review: dict | None = None) -> str:
    """Benign or not, in the detector's terms; a high finding is the detector's grade until a review reads it (the
    lexicon misreads, e.g. Thoreau's generic "men"), so the log does not state it as fact."""
    if event["discounted"]:
        return f"benign: {DISCOUNT_WHY.get(event['discounted'], event['discounted'])}"
    if event["severity"] == "high":
        if review and review["decision"] == "false_positive":
            return "a review judged it a false positive"
        if not (review and review["decision"]):
            return ("the detector grades it derogatory (dehumanising, criminalising or contemptuous): a detector "
                    "finding to read, not a verdict")
    return {"low": "benign: a flattering generalisation, not a harmful one",
            "medium": "not benign: a negative trait or role put on a whole group",
            "high": "not benign: derogatory (dehumanising, criminalising or contemptuous)"}.get(
        event["severity"], f"severity {event['severity']}")


def review_at(data: ReportData, step: int) -> dict | None:
    return next((r for r in data.reviews or [] if r["step"] == step), None)


def unread_high(data: ReportData) -> list[dict]:
    """High findings no review answered: the detector's word only."""
    return [e for e in findings(data) if e["severity"] == "high"
            and not ((review_at(data, e["step"]) or {}).get("decision"))]


def unpaused_high(data: ReportData) -> list[str]:
    """'step N (source)' of each high finding that did not pause: What's next asks to read them."""
    return [f"step {steps(e['step'])} ({e['source']})" for e in findings(data)
            if e["severity"] == "high" and pause_note(data, e).startswith("did not pause")]


def data_rate_at(data: ReportData, source: str, step: int) -> tuple[int, int]:
    """(windows of `source` scanned, windows with a high finding) since the last answered review before `step`, up
    to it: what the data-rate rule counted there."""
    since = max([r["step"] for r in data.reviews or [] if r["status"] == "answered" and r["step"] < step],
                default=-1)
    scanned = {(s["step"], s["text_key"]) for s in data.scans or []
               if s["source"] == "data" and since < s["step"] <= step and str(s["text_key"]).split("@")[0] == source}
    flagged = {(e["step"], str(e["text_key"]).split("#")[0]) for e in findings(data)
               if e["source"] == "data" and e["severity"] == "high" and since < e["step"] <= step
               and str(e["text_key"]).split("@")[0] == source}
    return len(scanned), len(flagged)


def pause_note(data: ReportData, event: dict) -> str:
    """For a high finding: the review it paused for, or why it did not pause (the rule, with its numbers)."""
    review = review_at(data, event["step"])
    if review:
        return f"paused: review at step {steps(review['step'])} ({review['decision'] or 'waiting for an answer'})"
    settings = review_settings(data, event["run_id"])
    if not settings["enabled"]:
        return "did not pause: the review pause is off (review.enabled: false)"
    if "bias" not in settings["pause_on"]:
        return f"did not pause: understanding.pause_on ({', '.join(settings['pause_on']) or 'empty'}) leaves bias out"
    if event["source"] == "data":
        source = str(event["text_key"] or "").split("@")[0]
        windows, flagged = data_rate_at(data, source, event["step"])
        rate = flagged / windows if windows else 0.0
        return (f"did not pause: training text pauses only at a rate, and {flagged} of {windows} scanned windows of "
                f"{source} since the last review had a high finding ({rate:.0%}; the rule needs more than "
                f"{settings['data_rate']:.0%} over at least {settings['data_min_windows']} windows with at least "
                f"{settings['data_min_count']} flagged)")
    return f"did not pause: no review is recorded at step {steps(event['step'])} (the run ended or stopped there)"


def finding_line(event: dict, note: str = "", review: dict | None = None) -> str:
    terms = ", ".join(as_list(event["terms"]))
    context = " ".join(str(event["context"] or "").split())[:200]
    return (f"step {steps(event['step'])}, {event['severity']} {event['category'] or ''} in {event['source']} "
            f"({terms}): \"{context}\": {verdict(event, review)}" + (f"; {note}" if note else ""))


def benign_line(data: ReportData, benign: list[dict]) -> str:
    example = " ".join(str(benign[0]["context"] or "").split())[:120]
    return (f"{len(benign)} low-severity finding{'s' if len(benign) != 1 else ''} the detector itself judges benign "
            f"(flattering, denied, quoted or argued against), e.g. step {steps(benign[0]['step'])}: \"{example}\"; "
            f"all of them: phaselog sql \"select step, source, category, context, discounted from bias_events where "
            f"{run_condition(data)} and source <> 'probe' and severity = 'low' order by step\".")


def loops_table(data: ReportData) -> list:
    loops = data.loop_events or []
    if not loops:
        scanned = len(data.reflections or [])
        return [Paragraph(f"No repetition loops in the {scanned} reflections scanned.")] if scanned else []
    named: dict[tuple, list[dict]] = {}
    for e in loops:
        named.setdefault((str(e["unit"]), e["period"]), []).append(e)
    rows = [[loop_name(max(group, key=lambda e: (e["repeats"] or 0))), str(len(group)),
             ", ".join(steps(s) for s in sorted({e["step"] for e in group})[:8]),
             max((str(e["severity"]) for e in group), key=("none", "low", "medium", "high").index)
             if all(str(e["severity"]) in ("none", "low", "medium", "high") for e in group) else "n/a"]
            for _, group in sorted(named.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    return [Paragraph(f"The loop detector found a loop in {len(loops)} of the {len(data.reflections or [])} "
                      "reflections. A loop is not benign "
                      "(the model repeats instead of writing on), but loops never pause a run: the review gate "
                      "reads bias and health only."),
            Table(["loop (period x longest repeat)", "reflections", "steps", "severity"], rows[:10])]


def section(data: ReportData) -> list:
    blocks = [Heading(2, "Loops and bias")]
    note = missing("bias_events", data.bias_events, "bias detection")
    blocks += loops_table(data)
    blocks.append(Figure("loops.png", "loop scores of the reflections over steps"))
    if note and not data.reviews:
        return blocks + [note]
    found = findings(data)
    stated = [c for c in claims(data) if c.name == "bias"]
    blocks += [Paragraph(c.text + ".") for c in stated]
    benign = [e for e in found if e["severity"] == "low"]
    serious = [e for e in found if e["severity"] != "low"]
    lines = [finding_line(e, pause_note(data, e) if e["severity"] == "high" else
                          "below the pause threshold (only high findings pause)", review_at(data, e["step"]))
             for e in serious[:20]]
    if len(serious) > 20:
        lines.append(f"{len(serious) - 20} more medium or high findings: phaselog sql \"select * from bias_events "
                     f"where {run_condition(data)} and severity in ('medium', 'high')\".")
    if benign:
        lines.append(benign_line(data, benign))
    if lines:
        blocks.append(Bullets(lines))
    elif not stated:  # the bias claim has said "0 bias findings" already: once is enough
        blocks.append(Paragraph("No bias findings in reflections or training data in this step range."))
    probe = [e for e in data.bias_events or [] if e["source"] == "probe" and e["category"] == "all"
             and e["value"] is not None]
    if probe:
        first, last = probe[0], probe[-1]
        shifted = [e for e in data.bias_events or [] if e["source"] == "probe" and e["severity"] == "high"]
        settings = review_settings(data)
        # the detector compares a probe with the one before only from probe_min_step on (understanding/loops_bias.py)
        judged = [e for e in probe[1:] if e["step"] >= settings["probe_min_step"]]
        blocks.append(Paragraph(
            f"Paired-sentence probe (all categories; > 0 leans to the stereotype): {first['value']:+.3f} "
            f"± {first['stderr'] or 0:.3f} nats at step {steps(first['step'])}"
            + (f", {last['value']:+.3f} ± {last['stderr'] or 0:.3f} at step {steps(last['step'])}" if last is not first
               else "") + "; "
            + (", ".join(f"{e['category']} shifted at step {steps(e['step'])} ({pause_note(data, e)})"
                         for e in shifted) + "." if shifted else
               f"no category moved beyond chance from one probe to the next against the others "
               f"({settings['probe_shift_se']:g} standard errors, Holm over the categories)." if judged else
               f"the detector judges a category's shift only from step {steps(settings['probe_min_step'])} on "
               "(review.probe_min_step: a younger model's preferences swing as it learns the language at all), so "
               "none of these probes was judged.")))
        drifts = probe_drifts(data)
        drifted = [d for d in drifts if d["passes"]]
        if drifts:
            # each drift is the claim's own sentence: said here only when the TL;DR did not say it
            blocks.append(Paragraph(
                " ".join(capital(drift_sentence(d, len(drifts))) + "." for d in drifted) if drifted else
                f"From step {steps(drifts[0]['first_step'])} to step {steps(drifts[0]['last_step'])}, first against "
                f"last probe, no category drifted beyond chance against the others (Holm over {len(drifts)} "
                "categories)."))
    if data.reviews is None:
        blocks.append(Note("No reviews table yet: decisions are shown as stored on the events."))
    return blocks
