"""What changed around each event the store knows: a source joining or leaving the mix, a review and its decision,
a resumption, a health change. Around an event at step x the report compares the window of W steps before
(x-W, x] with the W after (x, x+W] (W: half a segment):
- loss: the gap at x between straight lines fitted to the two windows (so a steady fall is not read as a change),
  and the slope per 1,000 steps on each side; the medians on each side are shown for the reader;
- val bpb: the last evaluation at or before x against the first after it;
- activation RMS per layer: the mean of the probes in each window;
- loop share: the share of looping reflections at the last self-play at or before x against the first after;
- uptake, for a source joining: the same for the share of the reflections' tokens distinctive of that source.
The run's own noise decides. The same change is measured at every quiet point of the run (cut points W/2 apart
with no event within W; each evaluation or self-play pair that spans no event); a change counts only when it is
further from the quiet points' median than twice the furthest quiet point (centring on the median takes out a
steady trend; twice the widest spread keeps a handful of quiet points from passing chance changes), and only with
at least QUIET_POINTS of them. Otherwise the report says nothing beyond noise."""
import numpy as np

from phaselog.reports.document import Bullets, Heading, Note, Paragraph, Table
from phaselog.reports.gather import ReportData, bucket_width
from phaselog.reports.model_sections import corpus_uptake, looped_samples, signature
from phaselog.reports.numbers import num, steps
from phaselog.reports.source_joins import joins, leaves

QUIET_POINTS = 3
NOISE_FACTOR = 2.0
KIND_ORDER = ("join", "leave", "review", "resume", "health")


def event_list(data: ReportData) -> list[dict]:
    """{step, kind, what, sources (the ones joining), shares (theirs from then on)} per step with an event in the
    report's range, in order."""
    out = [{"step": j["step"], "kind": "join", "source": j["source"], "share": j["share"],
            "what": f"{j['source']} joined the mix" + (f", {100 * j['share']:.0f}% of the tokens from then on"
                                                        if j["share"] is not None else "")}
           for j in joins(data)]
    out += [{"step": x["step"], "kind": "leave", "what": f"{x['source']} left the mix"} for x in leaves(data)]
    out += [{"step": int(r["step"]), "kind": "review", "what": f"review ({r['decision'] or 'unanswered'})"}
            for r in data.reviews or [] if r["step"] is not None]
    flow_runs = [s["flow_run_id"] for s in data.segments]
    for i, s in enumerate(data.segments):
        if s["resumed_from"] is not None and s["resumed_from"] > s["start_step"]:
            out.append({"step": int(s["resumed_from"]), "kind": "resume", "what": "resumed mid-segment"})
        elif i and flow_runs[i] and flow_runs[i - 1] and flow_runs[i] != flow_runs[i - 1]:
            out.append({"step": int(s["start_step"]), "kind": "resume", "what": "resumed in a new flow run"})
    previous = None
    for h in data.health or []:
        if previous is not None and h["status"] != previous:
            out.append({"step": int(h["step"]), "kind": "health", "what": f"health became {h['status']}"})
        previous = h["status"]
    # events at one step share one measurement: one row, named by all of them, kind of the first in KIND_ORDER
    by_step: dict[int, list[dict]] = {}
    for e in out:
        if data.first_step <= e["step"] < data.last_step:
            by_step.setdefault(e["step"], []).append(e)
    merged = []
    for step, group in sorted(by_step.items()):
        group.sort(key=lambda e: (KIND_ORDER.index(e["kind"]), e["what"]))
        merged.append({"step": step, "kind": group[0]["kind"], "what": " and ".join(e["what"] for e in group),
                       "sources": [e["source"] for e in group if e["kind"] == "join"],
                       "shares": {e["source"]: e["share"] for e in group if e["kind"] == "join"}})
    return merged


def window(data: ReportData) -> int:
    return max(2, bucket_width(data) // 2)


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """(slope, intercept) of a least-squares line; None with fewer than 3 points."""
    keep = np.isfinite(y)
    if keep.sum() < 3:
        return None
    slope, intercept = np.polyfit(x[keep], y[keep], 1)
    return float(slope), float(intercept)


def loss_change(step: np.ndarray, loss: np.ndarray, x: int, w: int) -> dict | None:
    before, after = (step > x - w) & (step <= x), (step > x) & (step <= x + w)
    fit_before, fit_after = line_fit(step[before], loss[before]), line_fit(step[after], loss[after])
    if fit_before is None or fit_after is None:
        return None
    return {"before": float(np.median(loss[before])), "after": float(np.median(loss[after])),
            "jump": (fit_after[0] * x + fit_after[1]) - (fit_before[0] * x + fit_before[1]),
            "slope_before": 1000 * fit_before[0], "slope_after": 1000 * fit_after[0],
            "slope_change": 1000 * (fit_after[0] - fit_before[0])}


def pair_change(points: list[tuple[int, float]], x: int) -> dict | None:
    """The last point at or before x against the first after it."""
    before = [p for p in points if p[0] <= x]
    after = [p for p in points if p[0] > x]
    if not before or not after:
        return None
    return {"before": before[-1][1], "after": after[0][1], "change": after[0][1] - before[-1][1],
            "from_step": before[-1][0], "to_step": after[0][0]}


def quiet_pair_changes(points: list[tuple[int, float]], event_steps: list[int]) -> list[float]:
    """Changes between consecutive points that span no event."""
    return [b[1] - a[1] for a, b in zip(points, points[1:])
            if not any(a[0] <= e < b[0] for e in event_steps)]


def outside(value: float | None, quiet: list[float]) -> bool | None:
    """True beyond the run's own noise, False within it, None when there are too few quiet points to say."""
    if value is None or len(quiet) < QUIET_POINTS:
        return None
    centre = float(np.median(quiet))
    return bool(abs(value - centre) > NOISE_FACTOR * max(abs(q - centre) for q in quiet))


def elsewhere(quiet: list[float]) -> str:
    """The quiet points' range, for the sentence: ' (elsewhere -0.02 to +0.03)'."""
    return f" (elsewhere in the run {min(quiet):+.3g} to {max(quiet):+.3g})" if quiet else ""


def rms_points(data: ReportData) -> dict[int, list[tuple[int, float]]]:
    layers: dict[int, dict[int, list[float]]] = {}
    for r in data.activation or []:
        if r["rms"] is not None:
            layers.setdefault(int(r["layer"]), {}).setdefault(int(r["step"]), []).append(float(r["rms"]))
    return {layer: [(s, float(np.mean(v))) for s, v in sorted(by_step.items())] for layer, by_step in layers.items()}


def window_mean_change(points: list[tuple[int, float]], x: int, w: int) -> float | None:
    before = [v for s, v in points if x - w < s <= x]
    after = [v for s, v in points if x < s <= x + w]
    return float(np.mean(after) - np.mean(before)) if before and after else None


def loop_share_points(data: ReportData) -> list[tuple[int, float]]:
    looped = looped_samples(data)
    by_step: dict[int, list[bool]] = {}
    for r in data.reflections or []:
        by_step.setdefault(int(r["step"]), []).append(signature(r, looped) == "repetition loops")
    return [(s, float(np.mean(v))) for s, v in sorted(by_step.items())]


def uptake_points(data: ReportData, source: str) -> list[tuple[int, float]]:
    """Mean share of the reflections' tokens distinctive of `source` (self-play's corpus_uptake) per step."""
    by_step: dict[int, list[float]] = {}
    for r in data.reflections or []:
        share = (corpus_uptake(r).get(source) or {}).get("share")
        if share is not None:
            by_step.setdefault(int(r["step"]), []).append(float(share))
    return [(s, float(np.mean(v))) for s, v in sorted(by_step.items())]


def changes(data: ReportData) -> list[dict]:
    """Per event: what was measured around it, the quiet ranges, and which changes are beyond noise."""
    events = event_list(data)
    event_steps = [e["step"] for e in events]
    w = window(data)
    step, loss = data.metrics["step"], data.metrics["loss"]
    cuts = [c for c in range(data.first_step + w, data.last_step - w + 1, max(1, w // 2))
            if not any(abs(c - e) < w for e in event_steps)]
    quiet_loss = [q for q in (loss_change(step, loss, c, w) for c in cuts) if q]
    bpb = [(int(e["step"]), float(e["value"])) for e in data.evals if e["name"] == "val_bpb"]
    rms = rms_points(data)
    loops = loop_share_points(data)
    out = []
    for event in events:
        x = event["step"]
        found = {"event": event, "window": w}
        lc = loss_change(step, loss, x, w)
        if lc:
            found["loss"] = lc
            lc["jump_beyond"] = outside(lc["jump"], [q["jump"] for q in quiet_loss])
            lc["slope_beyond"] = outside(lc["slope_change"], [q["slope_change"] for q in quiet_loss])
            lc["jump_elsewhere"] = elsewhere([q["jump"] for q in quiet_loss])
        # did the joining source surface in what the model writes? (self-play's corpus_uptake of that source)
        uptakes = [(f"{source} uptake", uptake_points(data, source)) for source in event["sources"]]
        for name, points in [("val bpb", bpb), ("loop share", loops)] + uptakes:
            pc = pair_change(points, x)
            if pc:
                quiet = quiet_pair_changes(points, event_steps)
                pc.update(beyond=outside(pc["change"], quiet), elsewhere=elsewhere(quiet))
                found[name] = pc
        found["rms"] = {}
        for layer, points in sorted(rms.items()):
            change = window_mean_change(points, x, w)
            quiet = [q for q in (window_mean_change(points, c, w) for c in cuts) if q is not None]
            if change is not None:
                found["rms"][layer] = {"change": change, "beyond": outside(change, quiet),
                                       "elsewhere": elsewhere(quiet),
                                       "before": float(np.mean([v for s, v in points if x - w < s <= x]))}
        out.append(found)
    return out


def describe(found: dict) -> str:
    """One plain sentence: the changes beyond noise with their numbers, or that nothing went beyond it."""
    event, w = found["event"], found["window"]
    parts = []
    lc = found.get("loss")
    if lc and lc["jump_beyond"]:
        parts.append(f"loss {'jumped' if lc['jump'] > 0 else 'dropped'} by {num(abs(lc['jump']), 2)} at the step, "
                     f"beyond its trend on either side{lc['jump_elsewhere']}")
    if lc and lc["slope_beyond"]:
        parts.append(f"the loss slope went from {num(lc['slope_before'], 2)} to {num(lc['slope_after'], 2)} "
                     "per 1,000 steps")
    for name in ["val bpb", "loop share"] + [f"{source} uptake" for source in event["sources"]]:
        pc = found.get(name)
        if pc and pc["beyond"]:
            parts.append(f"{name} went from {num(pc['before'])} (step {steps(pc['from_step'])}) to "
                         f"{num(pc['after'])} (step {steps(pc['to_step'])}){pc['elsewhere']}")
    for layer, rc in found["rms"].items():
        if rc["beyond"]:
            parts.append(f"layer {layer} activation RMS {'rose' if rc['change'] > 0 else 'fell'} by "
                         f"{num(abs(rc['change']))} from {num(rc['before'])}{rc['elsewhere']}")
    head = f"At step {steps(event['step'])} {event['what']}"
    if lc:
        head += f" (loss median {num(lc['before'])} in the {steps(w)} steps before, {num(lc['after'])} after)"
    if parts:
        return f"{head}: " + "; ".join(parts)
    judged = [v for v in ((lc or {}).get("jump_beyond"), (lc or {}).get("slope_beyond")) if v is not None]
    if not judged:
        return f"{head}: too few quiet stretches in this range to tell a change from noise"
    return f"{head}: nothing changed beyond the run's own noise"


def change_cell(value: float | None, beyond: bool | None) -> str:
    if value is None:
        return "n/a"
    verdict = {True: "beyond noise", False: "within noise", None: "too few quiet points"}[beyond]
    return f"{value:+.3g} ({verdict})"


def section(data: ReportData) -> list:
    blocks = [Heading(3, "Events and what changed")]
    found = changes(data)
    if not found:
        return blocks + [Note("Left out: no source joined or left, no review, resumption or health change in this "
                              "step range.")]
    w = window(data)
    blocks.append(Paragraph(
        f"Around each event: the {steps(w)} training steps before against the {steps(w)} after. Loss change is the "
        "gap at the event between straight lines fitted to each side (a steady fall reads as no change); val bpb, "
        "loop share and a joining source's uptake (share of the reflections' tokens distinctive of it) compare the "
        "evaluation or self-play just before with the one just after; activation RMS "
        "compares the probe means of the two windows. The same change is measured at every quiet point of the run "
        f"({steps(max(1, w // 2))} steps apart, no event within {steps(w)} steps; at least {QUIET_POINTS} needed); a "
        f"change counts as beyond the run's own noise when it is further from their median than {NOISE_FACTOR:g} "
        "times the furthest of them. A change around an event happened at the same time, which does not prove the "
        "event caused it: early in a run the loss falls fastest, so a slope change there is common."))
    rows = []
    for f in found:
        lc, bpb, loops = f.get("loss"), f.get("val bpb"), f.get("loop share")
        uptake = [f"{source} {change_cell(f[k]['change'], f[k]['beyond'])}" for source in f["event"]["sources"]
                  if (k := f"{source} uptake") in f]
        rms = [f"L{layer} {change_cell(r['change'], r['beyond'])}" for layer, r in f["rms"].items()]
        rows.append([steps(f["event"]["step"]), f["event"]["what"],
                     f"{num(lc['before'])} → {num(lc['after'])}" if lc else "n/a",
                     change_cell(lc["jump"], lc["jump_beyond"]) if lc else "n/a",
                     f"{num(lc['slope_before'], 2)} → {num(lc['slope_after'], 2)}" if lc else "n/a",
                     change_cell(bpb["change"], bpb["beyond"]) if bpb else "n/a",
                     "; ".join(rms) or "n/a",
                     change_cell(loops["change"], loops["beyond"]) if loops else "n/a", "; ".join(uptake) or "n/a"])
    blocks.append(Table(["step", "event", "loss median before → after", "loss change at the step",
                         "loss slope per 1,000 steps", "val bpb change", "activation RMS change", "loop share change",
                         "uptake change"],
                        rows))
    blocks.append(Bullets([describe(f) + "." for f in found]))
    return blocks
