"""Whether each late source surfaced in the reflections, one sentence per source, from the `uptake` table
(understanding/uptake.py writes it; docs/understanding.md re-derives it in SQL): the last step's score and null
band, and the first step the score left the band."""
from phaselog.reports.gather import ReportData, config_of
from phaselog.reports.numbers import steps


def band_text(row: dict) -> str:
    basis = ("reflections before it joined and held-out text of the other sources" if row["before_reflections"] >= 2
             else "held-out text of the other sources")
    return f"{row['score']:.2f}, null band {row['band_low']:.2f} to {row['band_high']:.2f} from {basis}"


def surfaced_statements(data: ReportData) -> list[str]:
    return [text for _, text in surfaced(data)]


def surfaced(data: ReportData) -> list[tuple[dict, str]]:
    """(the source's last uptake row, the sentence that states it) per late source of the run's phase."""
    train = config_of(data).get("train", {})
    phase_start = train.get("schedule_start") if train.get("schedule_start") is not None else \
        (data.run.get("start_step") or 0)
    return surfaced_rows(data.uptake or [], phase_start)


def surfaced_rows(rows: list[dict], phase_start: int) -> list[tuple[dict, str]]:
    """The same from uptake rows (of one run, or of every run of a phase): a source in the mix from the phase's
    start is no late source."""
    out = []
    for source in sorted({r["source"] for r in rows}):
        mine = sorted((r for r in rows if r["source"] == source), key=lambda r: r["step"])
        last, joined = mine[-1], mine[-1]["joined_step"]
        if joined is not None and joined <= phase_start:
            continue  # in the mix from the phase's start: not a late source
        if joined is None:
            text = f"{source} never joined the mix (reflection uptake {band_text(last)})"
        elif last["status"] == "not_joined":
            text = f"{source} joins at step {steps(joined)}, after the last reflection (step {steps(last['step'])})"
        elif last["status"] == "undecidable":
            text = (f"{source}: the uptake score cannot tell its held-out text from the others' at "
                    f"{last['window_tokens']} tokens (AUC {last['auc']:.2f}), so whether it surfaced is not known")
        else:
            outside = [r["step"] for r in mine if r["status"] == "surfaced"]
            verdict = (f"surfaced at step {steps(outside[0])}" if last["status"] == "surfaced" else
                       "not surfaced yet" + (f" (it was outside the band at step {steps(outside[0])})" if outside
                                             else ""))
            text = (f"{source} (joined at step {steps(joined)}): uptake {band_text(last)} at step "
                    f"{steps(last['step'])}, held-out AUC {last['auc']:.2f}: {verdict}")
        out.append((last, text))
    return out
