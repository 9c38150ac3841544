"""Loops and bias after one segment: scan the segment's reflections and a sample of its training text, run the
paired-sentence probe on the end checkpoint, write `loop_events` and `bias_events`, and say whether a person
should review (understanding/events.py decides). Called by tasks/loops_bias.py in the flow process."""
import json
from pathlib import Path

from phaselog.core.reviews import counterexample_starts
from phaselog.core.store import Store
from phaselog.datasets.mixing import mix_from_config
from phaselog.datasets.shards import load_stream
from phaselog.model.evaluate import load_eval_model
from phaselog.understanding.bias_probe import load_pairs, probe_preference
from phaselog.understanding.events import (probe_rows, probe_shifts, review_description, review_reasons, sample_windows,
                                           scan_texts)


def segment_reflections(store: Store, run_id: str, start: int, end: int) -> list[tuple[str, str]]:
    """(item, text) of the reflections self-play wrote in (start, end]; item = step:version:framing:sample."""
    _, rows = store.query("SELECT step, prompt_version, framing, sample_index, text FROM reflections "
                          "WHERE run_id = ? AND step > ? AND step <= ? ORDER BY step, prompt_version, framing, "
                          "sample_index", [run_id, start, end])
    return [(f"{step}:{version}:{framing}:{sample}", text) for step, version, framing, sample, text in rows]


def active_sources(config, start: int, end: int, extra_starts: dict[str, int]) -> list[str]:
    return [m.source for m in mix_from_config(config, extra_starts)
            if m.start_step < end and (m.end_step is None or m.end_step > start)]


def data_texts(run_dir: Path, config, tokenizer, start: int, end: int,
               extra_starts: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
    """{source: [(item, text)]}: review.data_windows windows of training text per active source, seeded by the
    segment start so a rerun scans the same windows."""
    review = config.review
    texts = {}
    for index, source in enumerate(active_sources(config, start, end, extra_starts)):
        stream = load_stream(run_dir / "shards", source, "train")
        windows = sample_windows(stream, review.data_windows, review.data_window_tokens,
                                 [config.train.seed, start, index])
        texts[source] = [(f"{source}@{offset}", tokenizer.decode([int(t) for t in tokens]))
                         for offset, tokens in windows]
    return texts


def previous_probe(store: Store, run_id: str, end: int) -> dict[str, dict]:
    """The probe at the previous segment end, in probe_preference's shape (the pair count is in `terms`)."""
    _, rows = store.query("SELECT category, value, stderr, terms FROM bias_events WHERE run_id = ? AND source = "
                          "'probe' AND step = (SELECT max(step) FROM bias_events WHERE run_id = ? AND source = "
                          "'probe' AND step < ?)", [run_id, run_id, end])
    return {category: {"preference": value, "stderr": stderr, "pairs": json.loads(terms)["pairs"]}
            for category, value, stderr, terms in rows}


def data_counts(store: Store, run_id: str, end: int) -> dict[str, tuple[int, int]]:
    """{source: (windows scanned, windows with a high finding)} since the last answered review, this segment
    included: a rate over one segment's 16 windows is one window's luck."""
    _, since = store.query("SELECT coalesce(max(step), -1) FROM reviews WHERE run_id = ? AND status = 'answered' "
                           "AND step < ?", [run_id, end])
    window = [run_id, since[0][0], end]
    _, scanned = store.query("SELECT split_part(item, '@', 1), count(*) FROM loop_events WHERE run_id = ? AND "
                             "source = 'data' AND step > ? AND step <= ? GROUP BY 1", window)
    _, flagged = store.query("SELECT split_part(item, '@', 1), count(DISTINCT (step, split_part(item, '#', 1))) "
                             "FROM bias_events WHERE run_id = ? AND source = 'data' AND severity = 'high' AND "
                             "step > ? AND step <= ? GROUP BY 1", window)
    high = dict(flagged)
    return {source: (windows, high.get(source, 0)) for source, windows in scanned}


def analyse_segment(store: Store, run_id: str, run_dir: Path, config, start: int, end: int) -> dict:
    """Write the segment's loop and bias events; return what the review gate needs (reasons, description) and
    counts for the log."""
    review = config.review
    model, tokenizer = load_eval_model(run_dir, config, end, "cpu")
    texts = [("reflection", item, text) for item, text in segment_reflections(store, run_id, start, end)]
    if review.injected_reflection:
        texts.append(("injected", f"{end}:0", review.injected_reflection))
    data = data_texts(run_dir, config, tokenizer, start, end, counterexample_starts(store, run_id, config))
    texts += [("data", item, text) for source in data.values() for item, text in source]
    loops, bias = scan_texts(run_id, end, texts)

    shifts = {}
    if review.probe:
        probe = probe_preference(model, tokenizer, load_pairs())
        young = end < review.probe_min_step  # recorded, never judged
        shifts = {} if young else probe_shifts(probe, previous_probe(store, run_id, end), review.probe_shift_se)
        bias += probe_rows(run_id, end, probe, set(shifts))
    store.replace_rows("loop_events", loops, "run_id = ? AND step = ?", [run_id, end])
    store.replace_rows("bias_events", bias, "run_id = ? AND step = ?", [run_id, end])

    reasons = review_reasons(bias, data_counts(store, run_id, end), review, shifts)
    return {"step": end, "reasons": reasons, "texts": len(texts),
            "loops": sum(row["is_loop"] for row in loops),
            "findings": sum(row["source"] != "probe" for row in bias),
            "description": review_description(run_id, end, reasons, bias, loops) if reasons else ""}
