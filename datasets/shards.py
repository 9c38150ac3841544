"""Token shards: each source's kept documents, split into train and val, tokenized (BOS before every document)
and written with pyarrow as one row per document. Ids are uint16 when the vocabulary fits, else uint32.
Loading flattens a split back into one token stream per source, which is what batches are drawn from."""
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from model.tokenizer import Tokenizer


def is_validation(sha1: str, val_fraction: float) -> bool:
    # decided by the document's content hash, so the split never changes when files are added or reordered
    return int(sha1[:8], 16) / 0xFFFFFFFF < val_fraction


def token_dtype(vocab_size: int) -> pa.DataType:
    return pa.uint16() if vocab_size <= 1 << 16 else pa.uint32()


def write_split(path: Path, doc_ids: list[str], token_lists: list[list[int]], vocab_size: int) -> None:
    table = pa.table({
        "doc_id": pa.array(doc_ids, pa.string()),
        "tokens": pa.array(token_lists, pa.list_(token_dtype(vocab_size))),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def tokenize_documents(tokenizer: Tokenizer, docs: list[tuple[str, str]]) -> tuple[list[str], list[list[int]]]:
    """(doc_id, text) pairs to (doc_ids, token lists with a leading BOS)."""
    encoded = tokenizer.encode_batch([text for _, text in docs])
    return [doc_id for doc_id, _ in docs], [[tokenizer.bos_id] + ids for ids in encoded]


def shard_path(shard_dir: Path, source: str, split: str) -> Path:
    return Path(shard_dir) / source / f"{split}.parquet"


def load_stream(shard_dir: Path, source: str, split: str) -> np.ndarray:
    tokens = pq.read_table(shard_path(shard_dir, source, split), columns=["tokens"]).column("tokens")
    flat = pa.concat_arrays([chunk.flatten() for chunk in tokens.chunks]) if tokens.num_chunks else pa.array([])
    return flat.to_numpy(zero_copy_only=False).astype(np.int64)

