"""Whether each late source surfaced in the reflections, one sentence per source, from the `uptake` table
(understanding/uptake.py writes it; docs/understanding.md re-derives it in SQL): the last step's score and null
band, and the first step the score left the band, with a caveat when the config changed (prompt, mix, lr) between
that self-play and the one before it."""
import json

from phaselog.reports.gather import ReportData, config_of
from phaselog.reports.numbers import steps
from phaselog.reports.phase_data import change_phrases


def band_text(row: dict) -> str:
    basis = ("reflections before it joined and held-out text of the other sources" if row["before_reflections"] >= 2
             else "held-out text of the other sources")
    return f"{row['score']:.2f}, null band {row['band_low']:.2f} to {row['band_high']:.2f} from {basis}"


def surfaced_statements(data: ReportData) -> list[str]:
    return [text for _, text in surfaced(data)]


def config_changes(runs: list[dict], config: dict) -> list[tuple[int, str]]:
    """(step, phrase) of every change to what trained or what self-play was asked, in a phase's chain of runs:
    what each continued run changed at its start (prompt, mix, lr, ...: its config_diff), and each source's own
    join and leave steps in the (last run's) schedule."""
    out = []
    for run in runs:
        if run.get("parent_run") and run.get("config_diff"):
            config_now = run.get("config") or json.loads(run["config_json"])
            out += [(int(run["start_step"]), phrase) for phrase in change_phrases(json.loads(run["config_diff"]),
                                                                                  config_now)]
    for source in (config.get("data") or {}).get("sources") or []:
        out.append((int(source.get("start_step") or 0), f"{source['name']} joined the mix"))
        if source.get("end_step") is not None:
            out.append((int(source["end_step"]), f"{source['name']} left the mix"))
    return sorted(set(out))


def coinciding(changes: list[tuple[int, str]], after: int, upto: int, source: str = "") -> list[tuple[int, str]]:
    """The changes that took effect between two measurements, at steps [after, upto) (the measurement at `upto`
    is the first that saw them), other than the source's own join or leave."""
    return [(step, phrase) for step, phrase in changes if after <= step < upto and not phrase.startswith(f"{source} ")]


def caveat(found: list[tuple[int, str]], before: int, at: int, what: str) -> str:
    said = "; ".join(f"{phrase} at step {steps(step)}" for step, phrase in found)
    return (f"; but the config changed between the self-plays at steps {steps(before)} and {steps(at)} ({said}), so "
            f"the change may be the config's, not {what}")


def surfaced(data: ReportData) -> list[tuple[dict, str]]:
    """(the source's last uptake row, the sentence that states it) per late source of the run's phase."""
    config = config_of(data)
    train = config.get("train", {})
    phase_start = train.get("schedule_start") if train.get("schedule_start") is not None else \
        (data.run.get("start_step") or 0)
    return surfaced_rows(data.uptake or [], phase_start, config_changes(data.chain_runs or [data.run], config))


def surfaced_rows(rows: list[dict], phase_start: int, changes: list[tuple[int, str]] = ()) -> list[tuple[dict, str]]:
    """The same from uptake rows (of one run, or of every run of a phase): a source in the mix from the phase's
    start is no late source. `changes` (config_changes): a source that left its band right after a config change
    says so, since the prompt or the mix moves the score as much as the source does."""
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
            outside = [i for i, r in enumerate(mine) if r["status"] == "surfaced"]
            verdict = (f"surfaced at step {steps(mine[outside[0]]['step'])}" if last["status"] == "surfaced" else
                       "not surfaced yet" + (f" (it was outside the band at step {steps(mine[outside[0]]['step'])})"
                                             if outside else ""))
            if outside and outside[0] > 0:
                before, at = mine[outside[0] - 1]["step"], mine[outside[0]]["step"]
                found = coinciding(changes, before, at, source)
                if found:
                    verdict += caveat(found, before, at, f"{source}'s")
                    if all(step >= joined for step, _ in found) and last["before_reflections"] >= 2:
                        verdict += " (its null band's reflections were all written before the change)"
            text = (f"{source} (joined at step {steps(joined)}): uptake {band_text(last)} at step "
                    f"{steps(last['step'])}, held-out AUC {last['auc']:.2f}: {verdict}")
        out.append((last, text))
    return out
