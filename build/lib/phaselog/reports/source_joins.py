"""When each data source joined or left the mix, and its share of the tokens while it was in. The step comes from
the run's own schedule (the config's `start_step`/`end_step`, and for the review's counterexample source the
step of the first resume_with_counterexamples answer), never from the segment whose data_mix first shows it:
a source joining at step 1,500 of a 1,000-1,999 segment joined at 1,500. Steps are batch positions, as in
datasets/mixing.py: a source with start_step 20 feeds update 21 onwards."""
from phaselog.reports.gather import ReportData, config_of


def schedule(data: ReportData) -> list[dict]:
    """{source, start, end} per configured source; a counterexample source no review brought in is left out."""
    config = config_of(data)
    held = (config.get("review") or {}).get("counterexample_source")
    brought_in = [int(r["step"]) for r in data.reviews or []
                  if r["decision"] == "resume_with_counterexamples" and r["step"] is not None]
    out = []
    for source in (config.get("data") or {}).get("sources") or []:
        start = int(source.get("start_step") or 0)
        if source["name"] == held:
            if not brought_in:
                continue
            start = max(start, min(brought_in))
        out.append({"source": source["name"], "start": start, "end": source.get("end_step")})
    return out


def share_while_in(data: ReportData, source: str, start: int, end: int | None) -> float | None:
    """The source's share of the tokens drawn at steps [start, end). data_mix counts tokens per segment, and every
    step draws the same number of tokens (batch_size x grad_accum x seq_len), so a segment's tokens at the steps
    the source was in are its total times the fraction of its steps that were in."""
    mine, total = 0.0, 0.0
    for row in data.data_mix:
        low = max(row["segment_start"], start)
        high = row["segment_end"] if end is None else min(row["segment_end"], end)
        if high <= low or not row["tokens"]:
            continue
        length = row["segment_end"] - row["segment_start"]
        total += row["tokens"] * (high - low) / length
        if row["source"] == source:
            mine += row["tokens"]  # the source drew nothing outside [start, end)
    return mine / total if total else None


def joins(data: ReportData) -> list[dict]:
    """{source, step, share} for each source that joined after the run's first step and inside the report's range."""
    run_start = int(config_of(data).get("train", {}).get("start_step") or data.run.get("start_step") or 0)
    out = []
    for entry in schedule(data):
        if run_start < entry["start"] and data.first_step <= entry["start"] < data.last_step:
            out.append({"source": entry["source"], "step": entry["start"],
                        "share": share_while_in(data, entry["source"], entry["start"], entry["end"])})
    return sorted(out, key=lambda j: (j["step"], j["source"]))


def leaves(data: ReportData) -> list[dict]:
    """{source, step} for each source whose end_step falls inside the report's range."""
    return sorted(({"source": e["source"], "step": int(e["end"])} for e in schedule(data)
                   if e["end"] is not None and data.first_step <= e["end"] < data.last_step),
                  key=lambda x: (x["step"], x["source"]))
