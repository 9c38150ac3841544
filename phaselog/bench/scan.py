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
machine's rate can be estimated from them. Target on prose: >= 2,000 sentences/s. A second figure: one 2 kB
reflection's scan time (target < 50 ms)."""
import os
import statistics
import time
from pathlib import Path

import torch

from phaselog.understanding.bias_detector import scan_bias, scan_bias_many
from phaselog.understanding.bias_probe import load_pairs
from phaselog.understanding.bias_modern import load_modern
from phaselog.understanding.scan import TEXT_BYTES, as_texts, corpus_sentences

REPEATS = 5
PROSE_SENTENCES = 20_000
# a demo segment scans about 32 kB: 16 windows of 256 tokens (~1 kB) from each of its two sources, and its reflections
SEGMENT_TEXTS = 16


def clock_the_scorer() -> dict:
    """Wrap the loaded scorers' reading (the detector calls load_modern().assess_both, both heads over the shared
    lower layers: the same cached object) so that it counts the sentences it reads and its CPU seconds into the
    returned tally."""
    scorer, tally = load_modern(), {"sentences": 0, "cpu": 0.0}
    assess = scorer.assess_both

    def counted(sentences, *args, **kwargs):
        started = time.process_time()
        found = assess(sentences, *args, **kwargs)
        tally["cpu"] += time.process_time() - started
        tally["sentences"] += len(sentences)
        return found

    scorer.assess_both = counted
    return tally


def timed_scans(texts: list[str], per_call: int, sentences: int, tally: dict) -> dict:
    """Scan the texts, per_call of them per detector call, once per repeat: rates in CPU and wall time, the
    sentences passed to the scorer, and the CPU cost of a passed sentence (the scorer's) and of any sentence
    otherwise (gate, grammar, findings), from the median repeat."""
    repeats = []
    for _ in range(REPEATS):
        tally.update(sentences=0, cpu=0.0)
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(texts), per_call):
            scan_bias_many(texts[start:start + per_call])
        repeats.append((time.process_time() - cpu, time.perf_counter() - wall, tally["sentences"], tally["cpu"]))
    cpu, wall, passed, scorer = sorted(repeats)[len(repeats) // 2]
    return {"sentences": sentences, "passed_to_scorer": passed,
            "sentences_per_sec": {"median": sentences / cpu, "min": sentences / max(r[0] for r in repeats),
                                  "max": sentences / min(r[0] for r in repeats), "n": REPEATS},
            "wall_sentences_per_sec": sentences / statistics.median(r[1] for r in repeats),
            "ms_per_gated_out_sentence": (cpu - scorer) / sentences * 1000,
            "ms_per_passed_sentence": ((cpu - scorer) / sentences + scorer / max(passed, 1)) * 1000}


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
        results[label] = found
        rate = found["sentences_per_sec"]
        lines.append(f"  {label:25}: {found['sentences']:6} sentences, {found['passed_to_scorer']:5} passed to the "
                     f"scorer, {rate['median']:6.0f} sentences/s (min {rate['min']:.0f}, max {rate['max']:.0f}; "
                     f"wall {found['wall_sentences_per_sec']:.0f}/s); ms per sentence gated out "
                     f"{found['ms_per_gated_out_sentence']:.3f}, passed {found['ms_per_passed_sentence']:.2f}")
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
