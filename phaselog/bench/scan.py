"""`phaselog bench scan`: sentences per second of the bias detector (understanding/bias.py), the part of
`phaselog scan` and of every segment's data scan that grows with the text. Two kinds of text, because the
detector does more work where it finds groups: natural prose (the sentences of the shared corpus, mostly
without a group term) and stereotype-dense sentences (both sides of every probe pair, shipped with the
project). CPU time of this process (time.process_time), median of repeats, so other load on the machine
shows less than in wall time. Target: >= 2,000 sentences/s."""
import os
import statistics
from pathlib import Path

from phaselog.understanding.bias_detector import scan_bias
from phaselog.understanding.bias_probe import load_pairs
from phaselog.understanding.scan import corpus_sentences, sentences_per_second

REPEATS = 5
PROSE_SENTENCES = 20_000


def bench_scan() -> dict:
    from phaselog.bench.train import spread

    corpus = Path(os.environ.get("PHASELOG_CORPUS", "../shared/data/corpus")).resolve()
    sets = {"stereotype-dense": [p[side] for p in load_pairs() for side in ("stereotypical", "anti_stereotypical")]}
    if corpus.is_dir():
        sets["prose"] = corpus_sentences(corpus, PROSE_SENTENCES)
    lines = [f"bias scan, CPU time of one process, median of {REPEATS} repeats (target >= 2,000 sentences/s):"]
    results = {}
    for name, sentences in sets.items():
        rates = sentences_per_second(scan_bias, sentences, REPEATS)
        results[name] = {"sentences": len(sentences), "sentences_per_sec": spread(rates)}
        lines.append(f"  {name:16}: {len(sentences):6} sentences, {statistics.median(rates):8.0f} sentences/s "
                     f"(min {min(rates):.0f}, max {max(rates):.0f})")
    if not corpus.is_dir():
        lines.append(f"  prose skipped: no corpus at {corpus} (set PHASELOG_CORPUS)")
    lines.append("rerun: phaselog bench scan [--json]")
    return {"benchmark": "scan", **results, "summary": "\n".join(lines)}
