"""Whether a late source has surfaced in the reflections, as a calibrated statement (one `uptake` row per step and
source). The score is model.uptake's; it counts as surfaced only when

- the source has trained (the reflection's step is past the first batch position it joined at),
- the score tells the sources' own held-out text apart at reflection length (AUC >= AUC_MIN), and
- the step's mean score is above the null band: the union of what reflections scored at steps before the source
  joined (this step left out) and what the other sources' held-out windows score, both as the interval of a mean
  of as many texts as the step has reflections.

Called by the self-play task after the step's reflections are stored."""
import json
import math
from pathlib import Path

import numpy as np

from phaselog.core.reviews import counterexample_starts
from phaselog.core.runs import phase_chain
from phaselog.core.store import Store
from phaselog.datasets.mixing import mix_from_config
from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.uptake import auc, held_out_windows, log_ratios, mean_band, uptake_score
from phaselog.understanding.selfplay import source_token_counts

AUC_MIN = 0.8  # the score must rank a source's own window above another's four times in five
WINDOWS = 64   # held-out windows per source: enough for a stable AUC, a few ms to score


def joined_steps(store: Store, run_id: str, config) -> dict[str, int | None]:
    """{source: first batch position it trains at, or None when it is not in the mix}; the update of step s uses
    position s-1, so a reflection at step s has seen the source only when s > joined."""
    mix = {m.source: m.start_step for m in mix_from_config(config, counterexample_starts(store, run_id, config))}
    return {s.name: mix.get(s.name) for s in config.data.sources}


def step_scores(store: Store, run_id: str, last_step: int, ratios: dict[str, np.ndarray],
                tokenizer: Tokenizer) -> dict[int, list[dict]]:
    """{step: [{source: score}] per reflection} for every reflection step up to last_step, in this run and the runs
    it continues: a continued run's reflections from before a source joined are its parent's. The parent's are
    scored again from their text with this run's ratios (its sources may differ), this run's are as stored."""
    _, rows = store.query("SELECT step, corpus_uptake FROM reflections WHERE run_id = ? AND step <= ? ORDER BY step, "
                          "sample_index", [run_id, last_step])
    by_step: dict[int, list[dict]] = {}
    for step, uptake in rows:
        by_step.setdefault(step, []).append({name: u.get("score") for name, u in json.loads(uptake).items()})
    parents = phase_chain(store, run_id)[1:]
    if parents:
        _, rows = store.query(f"SELECT step, text FROM reflections WHERE run_id IN ({', '.join('?' * len(parents))}) "
                              "AND step <= ? ORDER BY step, sample_index", [*parents, last_step])
        for step, text in rows:
            tokens = tokenizer.encode(text)
            by_step.setdefault(step, []).append({name: uptake_score(tokens, r) for name, r in ratios.items()})
    return by_step


def status_of(step: int, joined: int | None, separation: float | None, score: float, band_high: float | None) -> str:
    if joined is None or step <= joined:
        return "not_joined"
    if separation is None or separation < AUC_MIN or band_high is None:
        return "undecidable"
    return "surfaced" if score > band_high else "not_yet"


def uptake_rows(store: Store, run_id: str, run_dir: Path, config, step: int) -> list[dict]:
    names = [s.name for s in config.data.sources]
    tokenizer = Tokenizer.load(run_dir / "tokenizer")
    ratios = log_ratios(source_token_counts(run_dir, names, tokenizer.vocab_size))
    by_step = step_scores(store, run_id, step, ratios, tokenizer)
    now = by_step.get(step, [])
    if len(names) < 2 or not now or any(v is None for r in now for v in r.values()):
        return []  # one source has nothing to compare with; rows written before scores existed have none
    _, lengths = store.query("SELECT avg(token_count) FROM reflections WHERE run_id = ? AND step = ?", [run_id, step])
    length = max(1, round(lengths[0][0]))
    windows = {name: held_out_windows(run_dir, name, length, WINDOWS) for name in names}
    joined = joined_steps(store, run_id, config)
    rows = []
    for name in names:
        scores = [r[name] for r in now]
        n = len(scores)
        own = [uptake_score(w, ratios[name]) for w in windows[name]]
        others = [uptake_score(w, ratios[name]) for other in names if other != name for w in windows[other]]
        # reflections of models that had seen none of the source: every other step when it never joined
        before = [r[name] for s, rs in by_step.items() if s != step and (joined[name] is None or s <= joined[name])
                  for r in rs]
        before_band = mean_band(before, n) if len(before) >= 2 else (None, None)
        heldout_band = mean_band(others, n) if len(others) >= 2 else (None, None)
        lows = [b for b in (before_band[0], heldout_band[0]) if b is not None]
        highs = [b for b in (before_band[1], heldout_band[1]) if b is not None]
        score, band_low, band_high = float(np.mean(scores)), min(lows, default=None), max(highs, default=None)
        separation = auc(own, others)
        rows.append({
            "run_id": run_id, "step": step, "source": name, "joined_step": joined[name], "reflections": n,
            "score": score, "score_se": float(np.std(scores, ddof=1) / math.sqrt(n)) if n > 1 else None,
            "before_reflections": len(before), "before_low": before_band[0], "before_high": before_band[1],
            "window_tokens": length, "source_windows": len(own), "other_windows": len(others),
            "source_window_score": float(np.mean(own)) if own else None,
            "heldout_low": heldout_band[0], "heldout_high": heldout_band[1], "auc": separation,
            "band_low": band_low, "band_high": band_high,
            "status": status_of(step, joined[name], separation, score, band_high)})
    return rows


def record_uptake(store: Store, run_id: str, run_dir: Path, config, step: int) -> list[dict]:
    rows = uptake_rows(store, run_id, Path(run_dir), config, step)
    store.replace_rows("uptake", rows, "run_id = ? AND step = ?", [run_id, step])
    return rows


def uptake_sentence(row: dict) -> str:
    """One row in words: "philosophy at step 2000: uptake 0.41, null band -0.28 to 0.39: surfaced"."""
    head = f"{row['source']} at step {row['step']}: uptake {row['score']:.2f}"
    band = (f"null band {row['band_low']:.2f} to {row['band_high']:.2f}" if row["band_high"] is not None
            else "no null band")
    verdict = {"not_joined": "not trained on yet", "surfaced": "surfaced", "not_yet": "not surfaced yet",
               "undecidable": f"undecidable (held-out AUC {row['auc'] or 0:.2f} < {AUC_MIN} at "
                              f"{row['window_tokens']} tokens)"}[row["status"]]
    return f"{head}, {band}: {verdict}"
