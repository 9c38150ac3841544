"""`phaselog bench scan`: sentences per second of the bias detector (understanding/bias_detector.py: the gate on
every sentence, the learned scorer on those it passes, the grammar beside it), the part of `phaselog scan` and of
every segment's scan that grows with the text. Two kinds of text, because the detector does more work where it
finds groups: natural prose (the sentences of the shared corpus, mostly without a group term) and
stereotype-dense sentences (both sides of every probe pair, shipped with the project, every one a group's). The
sentences are scanned in texts of about TEXT_BYTES (a reflection, a window of training text), SEGMENT_TEXTS of
them per call as a segment's scan reads them (understanding/events.py: one scorer pass over a segment's texts),
and prose also one text per call, as `phaselog scan` reads a document.

CPU time of this process (time.process_time), so other load on the machine shows less than in wall time, and wall
time beside it; median of repeats; the scorer's weights load before the clock starts. The scorer's own CPU time and
the sentences it reads are counted too, so each row gives the cost of a sentence the scorer reads and of one it
does not (gate and grammar): on a loaded machine those costs, not the rates, are what to compare, and an idle
machine's rate can be estimated from them. The scorer's wall time per passed sentence is given too: with two torch
threads the process's CPU time counts the second thread whether it works or waits (docs/benchmarks.md, "Bias scan"),
so only wall compares with one thread. Then the scorer step alone on the prose's passed sentences, the book scorer
against both heads, interleaved: what the modern head adds. Target on prose: >= 2,000 sentences/s. A second
figure: one 2 kB reflection's scan time (target < 50 ms)."""
import os
import statistics
import time
from pathlib import Path

import torch

from phaselog.understanding.bias_detector import scan_bias, scan_bias_many
from phaselog.understanding.bias_probe import load_pairs
from phaselog.understanding.bias_modern import load_modern
from phaselog.understanding.bias_scorer import load_scorer
from phaselog.understanding.scan import TEXT_BYTES, as_texts, corpus_sentences

REPEATS = 5
PROSE_SENTENCES = 20_000
# a demo segment scans about 32 kB: 16 windows of 256 tokens (~1 kB) from each of its two sources, and its reflections
SEGMENT_TEXTS = 16


def clock_the_scorer() -> dict:
    """Wrap the loaded scorers' reading (the detector calls load_modern().assess_both, both heads over the shared
    lower layers: the same cached object) so that it counts the sentences it reads, its CPU and wall seconds and
    each call's sentences into the returned tally."""
    scorer, tally = load_modern(), {"sentences": 0, "cpu": 0.0, "wall": 0.0, "calls": []}
    assess = scorer.assess_both

    def counted(sentences, *args, **kwargs):
        started, clock = time.process_time(), time.perf_counter()
        found = assess(sentences, *args, **kwargs)
        tally["cpu"] += time.process_time() - started
        tally["wall"] += time.perf_counter() - clock
        tally["sentences"] += len(sentences)
        tally["calls"].append(sentences)
        return found

    scorer.assess_both = counted
    return tally


def timed_scans(texts: list[str], per_call: int, sentences: int, tally: dict) -> dict:
    """Scan the texts, per_call of them per detector call, once per repeat: rates in CPU and wall time, the
    sentences passed to the scorer, and the CPU cost of a passed sentence (the scorer's) and of any sentence
    otherwise (gate, grammar, findings), from the median repeat; and the scorer's wall time per passed sentence."""
    repeats = []
    for _ in range(REPEATS):
        tally.update(sentences=0, cpu=0.0, wall=0.0, calls=[])
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(texts), per_call):
            scan_bias_many(texts[start:start + per_call])
        repeats.append((time.process_time() - cpu, time.perf_counter() - wall, tally["sentences"], tally["cpu"],
                        tally["wall"]))
    cpu, wall, passed, scorer, scorer_wall = sorted(repeats)[len(repeats) // 2]
    return {"sentences": sentences, "passed_to_scorer": passed, "scorer_calls": list(tally["calls"]),
            "sentences_per_sec": {"median": sentences / cpu, "min": sentences / max(r[0] for r in repeats),
                                  "max": sentences / min(r[0] for r in repeats), "n": REPEATS},
            "wall_sentences_per_sec": sentences / statistics.median(r[1] for r in repeats),
            "ms_per_gated_out_sentence": (cpu - scorer) / sentences * 1000,
            "ms_per_passed_sentence": ((cpu - scorer) / sentences + scorer / max(passed, 1)) * 1000,
            "scorer_wall_ms_per_passed_sentence": scorer_wall / max(passed, 1) * 1000}


def heads_compared(calls: list[list[str]]) -> dict:
    """The scorer step alone on the detector's calls (each call's passed sentences): the book scorer's reading
    (BiasScorer.assess) against both heads' (assess_both), alternating, REPEATS times; CPU and wall ms per sentence,
    medians. Both run 6 and 8 layers over the same pieces."""
    readings = {"book scorer alone": load_scorer().assess, "both heads": load_modern().assess_both}
    times = {label: [] for label in readings}
    sentences = sum(len(call) for call in calls)
    for _ in range(REPEATS):
        for label, read in readings.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for call in calls:
                read(call)
            times[label].append(((time.process_time() - cpu) * 1000 / sentences,
                                 (time.perf_counter() - wall) * 1000 / sentences))
    return {label: {"cpu_ms_per_sentence": statistics.median(t[0] for t in found),
                    "wall_ms_per_sentence": statistics.median(t[1] for t in found)} for label, found in times.items()}


def reflection_ms(text: str) -> tuple[list[float], list[float]]:
    """CPU and wall milliseconds of scanning one text, 20 times."""
    cpu, wall = [], []
    for _ in range(20):
        started, clock = time.process_time(), time.perf_counter()
        scan_bias(text)
        cpu.append((time.process_time() - started) * 1000)
        wall.append((time.perf_counter() - clock) * 1000)
    return cpu, wall


def bench_scan() -> dict:
    from phaselog.bench.train import spread

    corpus = Path(os.environ.get("PHASELOG_CORPUS", "../shared/data/corpus")).resolve()
    sets = {"stereotype-dense": [p[side] for p in load_pairs() for side in ("stereotypical", "anti_stereotypical")]}
    if corpus.is_dir():
        sets["prose"] = corpus_sentences(corpus, PROSE_SENTENCES)
    scan_bias("Women are said to be weak.")  # the scorer's weights load once per process, outside the timing
    tally = clock_the_scorer()
    lines = [f"bias scan, CPU time of one process (wall beside it), median of {REPEATS} repeats, texts of "
             f"~{TEXT_BYTES} bytes, {torch.get_num_threads()} torch thread(s), load average "
             f"{os.getloadavg()[0]:.1f} (target on prose >= 2,000 sentences/s):"]
    results = {}
    runs = [(name, name, SEGMENT_TEXTS) for name in sets]
    if "prose" in sets:
        runs.append(("prose", "prose, one text per call", 1))
    for name, label, per_call in runs:
        found = timed_scans(as_texts(sets[name]), per_call, len(sets[name]), tally)
        calls = found.pop("scorer_calls")
        results[label] = found
        rate = found["sentences_per_sec"]
        lines.append(f"  {label:25}: {found['sentences']:6} sentences, {found['passed_to_scorer']:5} passed to the "
                     f"scorer, {rate['median']:6.0f} sentences/s (min {rate['min']:.0f}, max {rate['max']:.0f}; "
                     f"wall {found['wall_sentences_per_sec']:.0f}/s); ms per sentence gated out "
                     f"{found['ms_per_gated_out_sentence']:.3f}, passed {found['ms_per_passed_sentence']:.2f} "
                     f"(the scorer's wall {found['scorer_wall_ms_per_passed_sentence']:.2f})")
        if label == "prose":
            heads = results["scorer step, prose's calls"] = heads_compared(calls)
            book, both = heads["book scorer alone"], heads["both heads"]
            lines.append(f"  the scorer step alone on the prose's {len(calls)} calls: ms per sentence, book scorer "
                         f"{book['cpu_ms_per_sentence']:.2f} CPU ({book['wall_ms_per_sentence']:.2f} wall), both heads "
                         f"{both['cpu_ms_per_sentence']:.2f} ({both['wall_ms_per_sentence']:.2f} wall): x"
                         f"{both['cpu_ms_per_sentence'] / book['cpu_ms_per_sentence']:.2f} CPU, x"
                         f"{both['wall_ms_per_sentence'] / book['wall_ms_per_sentence']:.2f} wall "
                         "(8 layers of 6: x1.33)")
    if corpus.is_dir():
        # a 2 kB reflection of the prose where groups are spoken of most: Beyond Good and Evil, from its middle
        book = next((path for path in sorted(corpus.rglob("*.txt")) if "beyond-good-and-evil" in path.name), None)
        if book:
            prose = corpus_sentences(book, 10 ** 9)
            cpu, wall = reflection_ms(as_texts(prose[len(prose) // 2:])[0])
            results["reflection_2kb_ms"], results["reflection_2kb_wall_ms"] = spread(cpu), spread(wall)
            lines.append(f"  one 2 kB reflection (Beyond Good and Evil): {statistics.median(cpu):.1f} ms "
                         f"(max {max(cpu):.1f}; wall {statistics.median(wall):.1f}; target < 50 ms)")
    else:
        lines.append(f"  prose skipped: no corpus at {corpus} (set PHASELOG_CORPUS)")
    lines.append("rerun: phaselog bench scan [--json]")
    return {"benchmark": "scan", **results, "summary": "\n".join(lines)}
