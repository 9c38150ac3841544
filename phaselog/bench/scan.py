"""`phaselog bench scan`: sentences per second of the bias detector (understanding/bias_detector.py: the gate on
every sentence, the learned scorer on those it passes, the grammar beside it), the part of `phaselog scan` and of
every segment's scan that grows with the text. Two kinds of text, because the detector does more work where it
finds groups: natural prose (the sentences of the shared corpus, mostly without a group term) and
stereotype-dense sentences (both sides of every probe pair, shipped with the project, every one a group's). The
sentences are scanned as a run scans them: in texts of about TEXT_BYTES (a reflection, a window of training text),
so the scorer reads a text's passed sentences in one batch. CPU time of this process (time.process_time), median
of repeats, so other load on the machine shows less than in wall time; the scorer's weights load before the clock
starts. Target on prose: >= 2,000 sentences/s. A second figure: one 2 kB reflection's scan time (target < 50 ms)."""
import os
import statistics
import time
from pathlib import Path

from phaselog.understanding.bias_detector import scan_bias
from phaselog.understanding.bias_probe import load_pairs
from phaselog.understanding.scan import TEXT_BYTES, as_texts, corpus_sentences

REPEATS = 5
PROSE_SENTENCES = 20_000


def rates_over_texts(texts: list[str], sentences: int) -> list[float]:
    """Sentences per second (CPU time) of scanning the texts, which hold that many sentences, once per repeat."""
    rates = []
    for _ in range(REPEATS):
        started = time.process_time()
        for text in texts:
            scan_bias(text)
        rates.append(sentences / (time.process_time() - started))
    return rates


def reflection_ms(text: str) -> list[float]:
    """CPU milliseconds of scanning one text, 20 times."""
    times = []
    for _ in range(20):
        started = time.process_time()
        scan_bias(text)
        times.append((time.process_time() - started) * 1000)
    return times


def bench_scan() -> dict:
    from phaselog.bench.train import spread

    corpus = Path(os.environ.get("PHASELOG_CORPUS", "../shared/data/corpus")).resolve()
    sets = {"stereotype-dense": [p[side] for p in load_pairs() for side in ("stereotypical", "anti_stereotypical")]}
    if corpus.is_dir():
        sets["prose"] = corpus_sentences(corpus, PROSE_SENTENCES)
    scan_bias("Women are said to be weak.")  # the scorer's weights load once per process, outside the timing
    lines = [f"bias scan, CPU time of one process, median of {REPEATS} repeats, texts of ~{TEXT_BYTES} bytes "
             f"(target on prose >= 2,000 sentences/s); load average {os.getloadavg()[0]:.1f}:"]
    results = {}
    for name, sentences in sets.items():
        rates = rates_over_texts(as_texts(sentences), len(sentences))
        results[name] = {"sentences": len(sentences), "sentences_per_sec": spread(rates)}
        lines.append(f"  {name:16}: {len(sentences):6} sentences, {statistics.median(rates):8.0f} sentences/s "
                     f"(min {min(rates):.0f}, max {max(rates):.0f})")
    if corpus.is_dir():
        # a 2 kB reflection of the prose where groups are spoken of most: Beyond Good and Evil, from its middle
        book = next((path for path in sorted(corpus.rglob("*.txt")) if "beyond-good-and-evil" in path.name), None)
        if book:
            prose = corpus_sentences(book, 10 ** 9)
            times = reflection_ms(as_texts(prose[len(prose) // 2:])[0])
            results["reflection_2kb_ms"] = spread(times)
            lines.append(f"  one 2 kB reflection (Beyond Good and Evil): {statistics.median(times):.1f} ms "
                         f"(max {max(times):.1f}; target < 50 ms)")
    else:
        lines.append(f"  prose skipped: no corpus at {corpus} (set PHASELOG_CORPUS)")
    lines.append("rerun: phaselog bench scan [--json]")
    return {"benchmark": "scan", **results, "summary": "\n".join(lines)}
