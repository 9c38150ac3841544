"""A tokenizing worker process (`python -m phaselog.datasets.encode_worker`, started by datasets/tokenize_pool.py). It talks
pickles over stdin/stdout: first the encoding's settings, then lists of texts, each answered with the texts' ids.
It imports tiktoken and nothing heavy, so it starts in a tenth of a second whatever the parent has loaded
(multiprocessing's spawn would re-import the parent's main module: torch, or all of Prefect under a worker)."""
import pickle
import sys
import traceback
from array import array

import tiktoken


def encode_with_bos(encoding: tiktoken.Encoding, bos_id: int, texts: list[str]) -> tuple[array, array]:
    """Every text's ids after a BOS, concatenated, and how many ids each text has (BOS included). Flat arrays of
    machine ints, not lists of Python ints: they pickle as plain bytes."""
    flat, lengths = array("I"), array("q")
    for text in texts:
        ids = encoding.encode_ordinary(text)
        flat.append(bos_id)
        flat.extend(ids)
        lengths.append(len(ids) + 1)
    return flat, lengths


def serve(inbox, outbox) -> None:
    pattern, ranks, specials, bos_id = pickle.load(inbox)
    encoding = tiktoken.Encoding(name="phaselog", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
    while True:
        try:
            texts = pickle.load(inbox)
        except EOFError:
            return
        try:
            answer = ("ok", encode_with_bos(encoding, bos_id, texts))
        except Exception:
            answer = ("error", traceback.format_exc())
        pickle.dump(answer, outbox, protocol=pickle.HIGHEST_PROTOCOL)
        outbox.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
