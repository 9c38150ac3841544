"""Token shards: each source's kept documents, split into train and val, tokenized (BOS before every document)
and written with pyarrow as one row per document. Ids are uint16 when the vocabulary fits, else uint32.
Shards are appended batch by batch (`ParquetAppender`), so a source of any size streams through. Loading flattens
a split back into one token stream per source, which is what batches are drawn from."""
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def is_validation(sha1: str, val_fraction: float) -> bool:
    # decided by the document's content hash, so the split never changes when files are added or reordered
    return int(sha1[:8], 16) / 0xFFFFFFFF < val_fraction


def token_dtype(vocab_size: int) -> pa.DataType:
    return pa.uint16() if vocab_size <= 1 << 16 else pa.uint32()


class ParquetAppender:
    """A parquet file written batch by batch into `NAME.tmp`, renamed into place only by `commit`: a reader never
    sees half a shard, and a failed prep leaves nothing under the real name."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(self.tmp, schema)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.writer.write_table(table)
            self.rows += table.num_rows

    def commit(self) -> None:
        self.writer.close()
        self.tmp.replace(self.path)

    def abort(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


def split_schema(vocab_size: int) -> pa.Schema:
    return pa.schema([("doc_id", pa.string()), ("tokens", pa.list_(token_dtype(vocab_size)))])


def split_table(doc_ids: list[str], flat: np.ndarray, lengths: np.ndarray, vocab_size: int) -> pa.Table:
    """One row per document from all their ids end to end and each one's length."""
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    values = pa.array(flat, pa.uint32()).cast(token_dtype(vocab_size))
    return pa.table({"doc_id": pa.array(doc_ids, pa.string()),
                     "tokens": pa.ListArray.from_arrays(pa.array(offsets), values)})


def shard_path(shard_dir: Path, source: str, split: str) -> Path:
    return Path(shard_dir) / source / f"{split}.parquet"


def load_stream(shard_dir: Path, source: str, split: str) -> np.ndarray:
    tokens = pq.read_table(shard_path(shard_dir, source, split), columns=["tokens"]).column("tokens")
    flat = pa.concat_arrays([chunk.flatten() for chunk in tokens.chunks]) if tokens.num_chunks else pa.array([])
    return flat.to_numpy(zero_copy_only=False).astype(np.int64)

