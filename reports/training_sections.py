"""The training half of the phase log: title, the periods of the run (segments with the same mix and prompt),
loss, validation and benchmarks, and speed per run (each Prefect flow run). Each function takes the gathered data
and returns blocks; a section without data returns its heading and a one-line note saying why it is left out."""
import numpy as np

from phaselog.reports.claims import loss_claim, period_claim
from phaselog.reports.document import Figure, Heading, Note, Paragraph, Table
from phaselog.reports.gather import ReportData, bucket_width
from phaselog.reports.numbers import buckets, median, mfu_percent, num, span, steps
from phaselog.reports.source_joins import joins


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} minutes" if seconds < 7200 else f"{seconds / 3600:.1f} hours"


def title(data: ReportData) -> list:
    """The run in one line; its duration is training time (the segments' seconds), and the wall clock from its first
    step to its end (evaluation, self-play, analysis and pauses included) is said as such."""
    run = data.run
    flow_runs = sorted({s["flow_run_id"] for s in data.segments if s["flow_run_id"]})
    line = (f"Run {data.run_id} ({run.get('name')}, {run.get('device')}, status {run.get('status')}): "
            f"steps {steps(data.first_step)} to {steps(data.last_step)}, {len(data.segments)} segment"
            f"{'s' if len(data.segments) != 1 else ''}")
    if len(flow_runs) > 1:
        line += f" over {len(flow_runs)} flow runs"
    trained = sum(s["seconds"] or 0 for s in data.segments)
    if trained:
        line += f", {duration(trained)} of training"
        if run.get("started_at") and run.get("ended_at"):
            line += (f" ({duration((run['ended_at'] - run['started_at']).total_seconds())} from the first step to "
                     "the end, with evaluation, self-play and analysis)")
    return [Heading(1, f"Phase log: {data.run_id}, steps {steps(data.first_step)}-{steps(data.last_step)}"),
            Paragraph(line + ".")]


def mix_by_segment(data: ReportData) -> dict[int, dict[str, float]]:
    mix: dict[int, dict[str, float]] = {}
    for row in data.data_mix:
        if row["tokens"]:
            mix.setdefault(row["segment_start"], {})[row["source"]] = row["token_share"]
    return mix


def prompt_by_segment(data: ReportData) -> dict[int, str]:
    versions: dict[int, set] = {}
    for row in data.reflections or []:
        for s in data.segments:
            if s["start_step"] < row["step"] <= s["end_step"] and row["prompt_version"]:
                versions.setdefault(s["start_step"], set()).add(str(row["prompt_version"]))
    return {start: ", ".join(sorted(v)) for start, v in versions.items()}


def periods(data: ReportData) -> list[dict]:
    """Consecutive segments with the same data mix and prompt version form one period; review pauses split them."""
    mix, prompts = mix_by_segment(data), prompt_by_segment(data)
    pauses = sorted({int(r["step"]) for r in data.reviews or [] if r["step"] is not None})
    joined = joins(data)
    out: list[dict] = []
    for s in data.segments:
        shares = mix.get(s["start_step"], {})
        label = ("data: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in sorted(shares.items()))) if shares else ""
        # a segment's shares are over all its steps, so a source joining inside it is named with its step
        label += "".join(f"; {j['source']} joined at step {steps(j['step'])}" for j in joined
                         if s["start_step"] < j["step"] < s["end_step"])
        if s["start_step"] in prompts:
            label += f"; prompt {prompts[s['start_step']]}"
        paused = [p for p in pauses if s["start_step"] < p <= s["end_step"]]
        if out and out[-1]["label"] == label and not out[-1]["paused"]:
            out[-1].update(end=s["end_step"], count=out[-1]["count"] + 1, paused=paused)
        else:
            out.append({"start": s["start_step"], "end": s["end_step"], "count": 1, "label": label, "paused": paused})
    return out


def overview_table(data: ReportData) -> list:
    """The periods, each with how the loss went over it (claims.period_claim)."""
    if not data.segments:
        return [Note("Left out: no finished segments in this step range.")]
    rows = []
    for p in periods(data):
        trend = period_claim(data, p["start"], p["end"])
        rows.append([f"{steps(p['start'])}-{steps(p['end'])}", str(p["count"]),
                     (p["label"] or "no data mix recorded")
                     + "".join(f"; review pause at step {steps(x)}" for x in p["paused"]),
                     trend.text if trend else "too few steps to read"])
    return [Table(["steps", "segments", "what happened (share of the segment's tokens)", "how the loss went"], rows)]


def loss_progression(data: ReportData) -> list:
    blocks = [Heading(3, "Loss progression")]
    step, loss = data.metrics["step"], data.metrics["loss"]
    width = bucket_width(data)
    rows = [[f"{steps(a)}-{steps(b)}", span(loss[i]), median(loss[i]), num(float(np.min(loss[i])))]
            for a, b, i in buckets(step, width)]
    said = loss_claim(data)
    if said:
        blocks.append(Paragraph(said.text + "."))
    blocks.append(Paragraph(f"Training loss per {steps(width)} steps: the usual range (10th-90th percentile), "
                            "the median and the lowest value."))
    blocks.append(Table(["steps", "loss range", "median", "min"], rows))
    marked = "".join(f"; {j['source']} joins at step {steps(j['step'])} (green dotted line)" for j in joins(data))
    blocks.append(Figure("loss.png", "training loss and validation bpb against step, with segment boundaries" + marked))
    return blocks


def validation(data: ReportData) -> list:
    blocks = [Heading(3, "Validation and benchmarks")]
    if not data.evals:
        return blocks + [Note("Left out: no evaluations in this step range.")]
    series: dict[str, list[tuple[int, float]]] = {}
    for row in data.evals:
        series.setdefault(row["name"], []).append((row["step"], row["value"]))
    rows = []
    for name in sorted(series, key=lambda n: (n != "val_bpb", n)):
        points = series[name]
        (s0, v0), (s1, v1) = points[0], points[-1]
        best = min(points, key=lambda p: (p[1], p[0])) if "bpb" in name else max(points, key=lambda p: (p[1], -p[0]))
        rows.append([name, f"{num(v0)} (step {steps(s0)})", f"{num(v1)} (step {steps(s1)})",
                     f"{num(best[1])} (step {steps(best[0])})", str(len(points))])
    if "val_bpb" in series:
        (s0, first), (s1, last) = series["val_bpb"][0], series["val_bpb"][-1]
        # one evaluation is a level, not a change
        blocks.append(Paragraph(f"Validation bpb went from {num(first)} to {num(last)} ({num(last - first)} bits per "
                                "byte)." if s1 != s0 else f"Validation bpb {num(last)} at step {steps(s1)}."))
    if all(len(points) == 1 for points in series.values()):  # first, last and best would repeat one figure
        return blocks + [Table(["evaluation", "step", "value"],
                               [[name, steps(series[name][0][0]), num(series[name][0][1])]
                                for name in sorted(series, key=lambda n: (n != "val_bpb", n))])]
    blocks.append(Table(["evaluation", "first", "last", "best", "points"], rows))
    return blocks


def beginning(run: dict, start: int) -> str:
    """What the earliest flow run in the table was: the first run, or (a continued run's own log) its continuation."""
    if run.get("parent_run") and run.get("continued_from") == start:
        return f"continues {run['parent_run']} from step {steps(start)}"
    return "first run"


def per_run(data: ReportData) -> list[list[str]]:
    """Each Prefect flow run (a first run, a resume): its steps, date, what changed, training time and speed."""
    groups: dict[str, list[dict]] = {}
    for s in data.segments:
        groups.setdefault(s["flow_run_id"] or "unknown", []).append(s)
    m = data.metrics
    mfu, _ = mfu_percent(data)
    mix, prompts = mix_by_segment(data), prompt_by_segment(data)
    rows, previous = [], None
    for flow_run_id, segs in sorted(groups.items(), key=lambda kv: kv[1][0]["start_step"]):
        start, end = segs[0]["start_step"], segs[-1]["end_step"]
        dates = sorted({s["finished_at"].date().isoformat() for s in segs if s["finished_at"]})
        inside = (m["step"] > start) & (m["step"] <= end)
        sources = sorted({name for s in segs for name in mix.get(s["start_step"], {})})
        setup = {"sources": ", ".join(sources), "prompt": ", ".join(sorted({prompts[s["start_step"]] for s in segs
                                                                             if s["start_step"] in prompts}))}
        changes = [f"{k}: {v or 'none'}" for k, v in setup.items() if previous is not None and previous[k] != v]
        resumed = [f"resumed mid-segment from step {steps(s['resumed_from'])}" for s in segs
                   if s["resumed_from"] is not None and s["resumed_from"] > s["start_step"]]
        trained = sum(s["trained_steps"] or 0 for s in segs)
        rows.append([flow_run_id[:8], f"{steps(start)}-{steps(end)}", ", ".join(dates) or "n/a",
                     "; ".join(changes + resumed) or (beginning(data.run, start) if previous is None else "same setup"),
                     f"{steps(trained)} in {duration(sum(s['seconds'] or 0 for s in segs))}",
                     median(m["tokens_per_sec"][inside]), median(mfu[inside]), median(m["step_time_ms"][inside])])
        previous = setup
    return rows


SHARED = 0.6     # under this share of its threads' time, with more work runnable than cores, the machine was shared
ALONE = 0.8      # at least this share, with no more runnable than cores, the training had the machine to itself


def machine_share(segments: list[dict]) -> dict | None:
    """What share of its threads' time the training of these segments got (process CPU time over wall time x
    threads, migration 012) and the machine's 1-minute load average at their loops' starts and ends; None when no
    segment measured it (rows from before 012, torchrun)."""
    measured = [s for s in segments if s.get("cpu_seconds") is not None and s.get("loop_seconds")]
    if not measured:
        return None
    loads = [s[k] for s in measured for k in ("load_start", "load_end")]
    return {"share": sum(s["cpu_seconds"] for s in measured) / sum(s["loop_seconds"] * s["threads"] for s in measured),
            "threads": max(s["threads"] for s in measured), "cores": max(s["cores"] for s in measured),
            "load_low": min(loads), "load_high": max(loads), "load": float(np.mean(loads)), "segments": measured}


def shared(m: dict) -> bool:
    return m["share"] < SHARED and m["load"] > m["cores"]


def machine_note(segments: list[dict]) -> str | None:
    """The share of the machine a run's training got, for both logs' speed sections: 'the machine was shared:
    training had about 35% of its 2 threads' time (...)' when it clearly was (the segments named when only some
    were), 'training had the machine to itself' when it clearly did, else the figures alone."""
    whole = machine_share(segments)
    if whole is None:
        return None
    share = (f"about {100 * whole['share']:.0f}% of its {whole['threads']} thread"
             f"{'s' if whole['threads'] != 1 else ''}' time (process CPU time over wall time; 1-minute load "
             f"average {whole['load_low']:.1f}-{whole['load_high']:.1f} on {whole['cores']} cores)")
    figures = f"training had {share}"
    busy = [s for s in whole["segments"] if shared(machine_share([s]))]
    if busy and len(busy) < len(whole["segments"]):
        m = machine_share(busy)
        return (f"the machine was shared in segment{'s' if len(busy) > 1 else ''} "
                + ", ".join(f"[{steps(s['start_step'])}, {steps(s['end_step'])})" for s in busy)
                + f": training had about {100 * m['share']:.0f}% of its {m['threads']} threads' time there; over "
                f"the run {figures}")
    if shared(whole):
        return f"the machine was shared: {figures}, so its speed is what other work left it"
    if whole["share"] >= ALONE and whole["load"] <= whole["cores"]:
        return f"training had the machine to itself: {share}"
    return figures


def speed(data: ReportData) -> list:
    """Speed per run (each flow run of the run id), then the whole range's spread, MFU's basis and the chart."""
    blocks = [Heading(2, "Runs and speed")]
    if data.segments:
        blocks.append(Table(["flow run", "steps", "date", "what changed", "steps trained, training time",
                             "tokens/sec (median)", "MFU % (median)", "step time ms (median)"], per_run(data)))
    m = data.metrics
    mfu, basis = mfu_percent(data)
    measures = (("tokens/sec", m["tokens_per_sec"]), ("MFU (%)", mfu), ("step time (ms)", m["step_time_ms"]))
    rows = [[label, span(values), median(values)] for label, values in measures]
    blocks.append(Table(["measure", "usual range (10th-90th pct)", "median"], rows))
    blocks.append(Paragraph(f"MFU is measured {basis['long']}."))
    note = machine_note(data.segments)
    if note:
        blocks.append(Paragraph(note[0].upper() + note[1:] + "."))
    blocks.append(Figure("speed.png", "tokens per second and MFU against step, on two panels"))
    return blocks
