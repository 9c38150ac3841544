"""Tokenizing in worker processes gives exactly the ids of tokenizing in one process, batch after batch, and a
worker that dies is a clear DataError rather than a hang."""
import pytest

from phaselog.core.errors import DataError
from phaselog.datasets.tokenize_pool import TokenizePool
from phaselog.datasets.tokenizer import Tokenizer

TEXTS = [f"Chapter {n}. The cat sat on the mat, and then — naïvely — it sat on the hat {n * 7}.\n" * (n % 5 + 1)
         for n in range(60)]


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.train(TEXTS, 300)


def expected(tokenizer, texts):
    ids = [[tokenizer.bos_id] + tokenizer.encode(t) for t in texts]
    return [i for row in ids for i in row], [len(row) for row in ids]


def test_workers_encode_exactly_like_the_parent_across_batches(tokenizer):
    pool = TokenizePool(tokenizer, workers=2)
    try:
        batches = [TEXTS[:20], TEXTS[20:45], TEXTS[45:], TEXTS[:1]]
        pending = [pool.submit(batch) for batch in batches]  # each submit collects the one before it
        for batch, encoded in zip(batches, pending):
            flat, lengths = encoded.result()
            assert (flat.tolist(), lengths.tolist()) == expected(tokenizer, batch)
    finally:
        pool.close()
    assert all(worker.returncode == 0 for worker in pool.workers)


def test_a_worker_that_dies_is_a_clear_error(tokenizer):
    pool = TokenizePool(tokenizer, workers=2)
    try:
        pool.submit(TEXTS[:3]).result()
        pool.workers[1].kill()
        pool.workers[1].wait()
        with pytest.raises(DataError, match=f"tokenizing worker \\(pid {pool.workers[1].pid}\\) exited with code -9"):
            pool.submit(TEXTS).result()
    finally:
        pool.close()


def test_with_one_core_the_parent_encodes_the_same_ids(tokenizer):
    with TokenizePool(tokenizer, workers=1) as pool:
        assert not pool.workers
        flat, lengths = pool.submit(TEXTS[:5]).result()
    assert (flat.tolist(), lengths.tolist()) == expected(tokenizer, TEXTS[:5])
