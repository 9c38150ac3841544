"""How fast the bias scorer reads, and how far its bfloat16 reading is from fp32 (docs/detectors.md, Speed).

    python -m phaselog.bias_tooling.scorer_speed [--corpus ../shared/data/corpus] [--sentences 400] [--threads 1]

On what the scan gives the scorer: the shared prose's sentences that the gate passes (each read with the one
before it), --sentences of them spread evenly. Sentences per second of CPU time of this process for an fp32 and the
shipped bf16 reading at a few batch sizes, their ratio, the largest difference of the endorsed probability and the
number of sentences whose side of the card's threshold changes. CPU time, not wall time: on a shared machine the
ratio is what holds (say the load beside any figure).
"""
import argparse
import copy
import time

import torch

from pathlib import Path

from phaselog.understanding.bias_gate import group_mentions
from phaselog.understanding.bias_scorer import load_scorer, threshold
from phaselog.understanding.scan import corpus_sentences


def timed(scorer, texts: list[str], batch_size: int) -> tuple[list[float], float]:
    started = time.process_time()
    found = [a.endorsed for a in scorer.assess(texts, batch_size=batch_size)]
    return found, time.process_time() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/data/corpus"))
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    prose = corpus_sentences(args.corpus, 10 ** 9)
    passed = [s for s, before in zip(prose, [""] + prose[:-1]) if group_mentions(s, before)]
    texts = passed[::max(1, len(passed) // args.sentences)][:args.sentences]  # spread over all the books
    pieces = [len(load_scorer().tokenizer.encode(text)) for text in texts]
    print(f"{len(texts)} sentences passed by the gate, {sum(pieces) / len(pieces):.0f} word pieces on average")
    shipped = load_scorer()
    fp32 = copy.deepcopy(shipped)
    fp32.encoder.float()
    reference, _ = timed(fp32, texts[:32], 32)  # warm up both readings once
    timed(shipped, texts[:32], 32)
    cut = threshold()
    for batch_size in (8, 32, 64):
        reference, fp32_seconds = timed(fp32, texts, batch_size)
        found, bf16_seconds = timed(shipped, texts, batch_size)
        crossed = sum((a >= cut) != (b >= cut) for a, b in zip(found, reference))
        print(f"batch {batch_size}: fp32 {len(texts) / fp32_seconds:.0f}/s, bf16 {len(texts) / bf16_seconds:.0f}/s "
              f"(x{fp32_seconds / bf16_seconds:.2f}); largest |p bf16 - p fp32| "
              f"{max(abs(a - b) for a, b in zip(found, reference)):.4f}, {crossed} of {len(texts)} cross the threshold")


if __name__ == "__main__":
    main()
