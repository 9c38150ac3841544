"""Tokenizing on every core. tiktoken 0.14 holds the GIL while it encodes, so threads in one process never
encode in parallel (measured: 2 threads are no faster than 1). Worker processes do (datasets/encode_worker.py):
each builds the encoding once, a batch of documents is split between them, and they encode it while the parent
writes the previous batch and reads and cleans the next one. Ids come back as flat arrays of machine ints and
become a pyarrow list column without passing through Python ints again.

At most one batch is in flight: `submit` first collects the batch before it. That bounds memory, and it keeps the
pipes from deadlocking (a worker blocked writing its answer while the parent is blocked writing the next batch).
One pool serves a whole data prep: the workers start when it is created, while the parent reads its first batch."""
import os
import pickle
import subprocess
import sys
from array import array

import numpy as np

from phaselog.core.errors import DataError
from phaselog.datasets.encode_worker import encode_with_bos


def worker_exited(worker: subprocess.Popen) -> DataError:
    return DataError(f"a tokenizing worker (pid {worker.pid}) exited with code {worker.wait()}; see its error above")


class EncodedBatch:
    """A batch's ids, as parts (one per worker) that arrive when collected."""

    def __init__(self, parts: list[tuple[array, array]] = (), workers: list = ()):
        self.parts = list(parts)
        self.waiting_on = list(workers)

    def collect(self) -> None:
        for worker in self.waiting_on:
            try:
                status, answer = pickle.load(worker.stdout)
            except EOFError:
                raise worker_exited(worker) from None
            if status != "ok":
                raise DataError(f"a tokenizing worker failed:\n{answer}")
            self.parts.append(answer)
        self.waiting_on = []

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """All documents' ids (BOS first) end to end, and each document's length."""
        self.collect()
        flat = np.concatenate([np.frombuffer(values, dtype=np.uint32) for values, _ in self.parts])
        lengths = np.concatenate([np.frombuffer(lengths, dtype=np.int64) for _, lengths in self.parts])
        return flat, lengths


class TokenizePool:
    """Worker processes that encode batches with a BOS before every document; with one core, the parent encodes."""

    def __init__(self, tokenizer, workers: int | None = None):
        self.tokenizer = tokenizer
        self.size = workers or os.cpu_count() or 1
        self.workers: list[subprocess.Popen] = []
        self.in_flight: EncodedBatch | None = None
        if self.size > 1:
            self.start()

    def submit(self, texts: list[str]) -> EncodedBatch:
        if self.in_flight is not None:
            self.in_flight.collect()
        t = self.tokenizer
        if not self.workers:
            return EncodedBatch([encode_with_bos(t.encoding, t.bos_id, texts)])
        share = -(-len(texts) // len(self.workers))
        parts = [texts[i:i + share] for i in range(0, len(texts), share)]
        for worker, part in zip(self.workers, parts):
            try:
                pickle.dump(part, worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                worker.stdin.flush()
            except BrokenPipeError:
                raise worker_exited(worker) from None
        self.in_flight = EncodedBatch(workers=self.workers[:len(parts)])
        return self.in_flight

    def start(self) -> None:
        t = self.tokenizer
        settings = (t.pattern, t.mergeable_ranks, t.special_tokens, t.bos_id)
        for _ in range(self.size):
            worker = subprocess.Popen([sys.executable, "-m", "phaselog.datasets.encode_worker"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            pickle.dump(settings, worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            worker.stdin.flush()
            self.workers.append(worker)

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.stdin.close()
            except BrokenPipeError:  # it died; its exit code was reported already
                pass
        for worker in self.workers:
            worker.wait()  # at the end of its input a worker returns at once; wait(timeout) would poll and sleep
            worker.stdout.close()

    def __enter__(self) -> "TokenizePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
