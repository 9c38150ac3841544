"""Data prep for a run: tokenizer trained on a weighted sample of the mix, then per source train/val token shards
and the source's document accounting, streamed batch by batch (a FineWeb-sized source is never whole in memory).

Caching is per source. `shards/manifest.json` maps each source to the key it was prepared with: its files'
content hash, the cleaning and split settings, and the hash of the tokenizer file. The tokenizer is retrained only
when its training sample (or its settings) changes; the sample is the first `sample_chars` of each source in file
order, so adding a file to a large source usually leaves it, and only that source's shards are rewritten. When the
tokenizer does change, every source is re-tokenized: token ids of one tokenizer mean nothing under another.

Writing to the store is the flow's job: this module writes files under the run directory only."""
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from phaselog.core.errors import DataError
from phaselog.datasets.documents import DocumentRecord, iter_documents
from phaselog.datasets.shards import ParquetAppender, is_validation, shard_path, split_schema, split_table
from phaselog.datasets.sources import source_fingerprint
from phaselog.datasets.tokenize_pool import TokenizePool
from phaselog.datasets.tokenizer import Tokenizer

# Documents tokenized per batch: bounds memory for sources far larger than RAM.
BATCH_DOCS = 128
TOKENIZER_RECORD = "training.json"
DOCUMENT_SCHEMA = pa.schema([
    ("source", pa.string()), ("doc_id", pa.string()), ("path", pa.string()), ("chars", pa.int64()),
    ("bytes", pa.int64()), ("sha1", pa.string()), ("bad_chars", pa.int64()), ("kept", pa.bool_()),
    ("drop_reason", pa.string()), ("split", pa.string()), ("tokens", pa.int64()),
])


def source_documents(config, source):
    """Every document of one configured source, kept or dropped, read lazily."""
    path = config.source_path(source)
    if not path.exists():
        raise DataError(f"data.sources[{source.name}]: {path} does not exist")
    return iter_documents(source.name, path, source.format, source.text_column, config.data.min_doc_chars,
                          config.data.chunk_chars, config.data_quality.max_bad_char_share)


def tokenizer_sample(config) -> dict[str, list[str]]:
    """Texts for tokenizer training per source: each source's share of `sample_chars` follows its mix weight,
    taken from the start of the source, reading no further than needed."""
    total_weight = sum(s.weight for s in config.data.sources)
    sample = {}
    for source in config.data.sources:
        budget = config.tokenizer.sample_chars * source.weight / total_weight
        sample[source.name] = []
        for record in source_documents(config, source):
            if budget <= 0:
                break
            if record.kept:
                sample[source.name].append(record.text)
                budget -= record.chars
    return sample


def sha1_of(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def ensure_tokenizer(config, run_dir: Path, fingerprints: dict[str, str], reuse_tokenizer: Path | None,
                     log) -> tuple[Tokenizer, str]:
    """The run's tokenizer and the hash of its file, training it only when its inputs changed. Its training
    record (sample chars per source, vocab size, split pattern, sample hash) is tokenizer/training.json."""
    directory = run_dir / "tokenizer"
    record_file = directory / TOKENIZER_RECORD
    previous = json.loads(record_file.read_text()) if record_file.is_file() else {}
    settings = {"tokenizer": config.tokenizer.model_dump(), "weights": {s.name: s.weight for s in config.data.sources},
                "reading": [[s.format, s.text_column] for s in config.data.sources],
                "cleaning": [config.data.min_doc_chars, config.data.chunk_chars],
                "reused_from": str(reuse_tokenizer) if reuse_tokenizer else None}
    have_tokenizer = (directory / "tokenizer.json").is_file() and previous.get("settings") == settings
    if have_tokenizer and previous.get("fingerprints") == fingerprints:
        return Tokenizer.load(directory), sha1_of((directory / "tokenizer.json").read_bytes())
    started = time.perf_counter()
    sample, sample_sha1 = {}, previous.get("sample_sha1")
    if reuse_tokenizer is not None:
        tokenizer = Tokenizer.load(reuse_tokenizer)
        log(f"data prep: reusing the tokenizer of {reuse_tokenizer}")
    else:
        sample = tokenizer_sample(config)
        sample_sha1 = sha1_of("\x00".join(t for texts in sample.values() for t in texts).encode())
        if have_tokenizer and previous.get("sample_sha1") == sample_sha1:
            log("data prep: tokenizer sample unchanged, keeping the tokenizer")
            tokenizer = Tokenizer.load(directory)
        else:
            tokenizer = Tokenizer.train([t for texts in sample.values() for t in texts], config.tokenizer.vocab_size)
    tokenizer.save(directory)
    record = {
        "settings": settings, "fingerprints": fingerprints, "vocab_size": tokenizer.vocab_size,
        "pattern": tokenizer.pattern,
        "sample_sha1": sample_sha1,
        "sample_chars": {name: sum(map(len, texts)) for name, texts in sample.items()},
        "sample_documents": {name: len(texts) for name, texts in sample.items()},
        "seconds": round(time.perf_counter() - started, 3),
    }
    record_file.write_text(json.dumps(record, indent=1))
    return tokenizer, sha1_of((directory / "tokenizer.json").read_bytes())


def source_key(config, source, fingerprint: str, tokenizer_sha1: str) -> str:
    settings = [fingerprint, source.format, source.text_column, config.data.min_doc_chars, config.data.chunk_chars,
                config.data.val_fraction, config.data_quality.max_bad_char_share, tokenizer_sha1]
    return sha1_of(json.dumps(settings).encode())


def source_files_present(shard_dir: Path, name: str) -> bool:
    return all(shard_path(shard_dir, name, split).is_file() for split in ("train", "val", "documents"))


def prepare_source(config, source, pool: TokenizePool, shard_dir: Path) -> dict:
    """Stream one source into train/val shards and its documents file; return counts. Each kept document goes to
    val by its content hash. The latest kept document is held back: if none went to val by the end, it does, so
    every source has a held-out part for its own bpb."""
    vocab = pool.tokenizer.vocab_size
    outputs = {split: ParquetAppender(shard_path(shard_dir, source.name, split), split_schema(vocab))
               for split in ("train", "val")}
    outputs["documents"] = ParquetAppender(shard_path(shard_dir, source.name, "documents"), DOCUMENT_SCHEMA)
    counts = {"train": 0, "val": 0, "bytes": 0}
    # a batch is encoded in worker processes while the next one is read
    pending_write = None

    def write(docs: list[DocumentRecord], splits: list[str], tokens: tuple[np.ndarray, np.ndarray]) -> None:
        flat, lengths = tokens
        doc_is_val = np.array([s == "val" for s in splits], dtype=bool)
        token_is_val = np.repeat(doc_is_val, lengths)
        for split, docs_in, tokens_in in (("train", ~doc_is_val, ~token_is_val), ("val", doc_is_val, token_is_val)):
            chosen = np.flatnonzero(docs_in)
            outputs[split].write(split_table([docs[i].doc_id for i in chosen], flat[tokens_in], lengths[docs_in], vocab))
            counts[split] += len(chosen)
        outputs["documents"].write(accounting(docs, splits, lengths.tolist()))

    def flush(docs: list[DocumentRecord], force_val: bool = False) -> None:
        nonlocal pending_write
        splits = ["val" if force_val or is_validation(d.sha1, config.data.val_fraction) else "train" for d in docs]
        job = pool.submit([d.text for d in docs])
        if pending_write is not None:
            write(*pending_write[:2], pending_write[2].result())
        pending_write = (docs, splits, job)

    try:
        batch, dropped, held = [], [], None
        for record in source_documents(config, source):
            counts["bytes"] += record.bytes
            if not record.kept:
                dropped.append(record)
                continue
            if held is not None:
                batch.append(held)
            held = record
            if len(batch) >= BATCH_DOCS:
                flush(batch)
                batch = []
        if held is None:
            raise DataError(f"data.sources[{source.name}]: no documents left in {config.source_path(source)} after "
                            f"filtering ({len(dropped)} dropped; data.min_doc_chars={config.data.min_doc_chars})")
        flush(batch)
        flush([held], force_val=counts["val"] + sum(s == "val" for s in pending_write[1]) == 0)
        write(*pending_write[:2], pending_write[2].result())
        outputs["documents"].write(accounting(dropped, [""] * len(dropped), [0] * len(dropped)))
        if counts["train"] == 0:
            raise DataError(f"data.sources[{source.name}]: only {counts['val']} document(s) in "
                            f"{config.source_path(source)}, too few to hold some out for validation; add text")
    except BaseException:
        for output in outputs.values():
            output.abort()
        raise
    for output in outputs.values():
        output.commit()
    return counts


def accounting(docs: list[DocumentRecord], splits: list[str], tokens: list[int]) -> pa.Table:
    columns = {name: [getattr(d, name) for d in docs] for name in DOCUMENT_SCHEMA.names if name not in
               ("split", "tokens")}
    return pa.table({**columns, "split": splits, "tokens": tokens}, schema=DOCUMENT_SCHEMA)


def link_shards(source: Path, target: Path) -> None:
    """A continued run starts from its parent's shards: hard links (a shard is only ever replaced by a rename, so
    the parent's file never changes), a copy across file systems; the manifest is copied, it is rewritten in place."""
    def link_or_copy(src, dst):
        if src.endswith(".parquet"):
            try:
                return os.link(src, dst)
            except OSError:
                pass  # another file system: copy
        return shutil.copy2(src, dst)
    shutil.copytree(source, target, copy_function=link_or_copy)


def prepare_data(config, run_dir: Path, reuse_tokenizer: Path | None = None, reuse_shards: Path | None = None,
                 log=print) -> dict:
    """Prepare tokenizer and shards under run_dir, re-doing only sources whose inputs or settings changed.
    `reuse_tokenizer` (a tokenizer directory) replaces training one: a continued phase keeps its token ids;
    `reuse_shards` (the parent's shards folder) seeds a continued run's shards before the first prep."""
    run_dir = Path(run_dir)
    shard_dir = run_dir / "shards"
    if reuse_shards is not None and reuse_shards.is_dir() and not shard_dir.exists():
        link_shards(reuse_shards, shard_dir)
    for source in config.data.sources:
        if not config.source_path(source).exists():
            raise DataError(f"data.sources[{source.name}]: {config.source_path(source)} does not exist")
    fingerprints = {s.name: source_fingerprint(config.source_path(s), s.format) for s in config.data.sources}
    tokenizer, tokenizer_sha1 = ensure_tokenizer(config, run_dir, fingerprints, reuse_tokenizer, log)
    manifest_file = shard_dir / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    prepared, pool = [], None
    try:
        for source in config.data.sources:
            key = source_key(config, source, fingerprints[source.name], tokenizer_sha1)
            if manifest.get(source.name) == key and source_files_present(shard_dir, source.name):
                log(f"data prep: {source.name}: inputs and settings unchanged, keeping its shards")
                continue
            pool = pool or TokenizePool(tokenizer)
            counts = prepare_source(config, source, pool, shard_dir)
            manifest[source.name] = key
            manifest_file.write_text(json.dumps(manifest, indent=1))
            prepared.append(source.name)
            log(f"data prep: {source.name}: {counts['train']} train / {counts['val']} val documents")
    finally:
        if pool is not None:
            pool.close()
    return {"cached": not prepared, "prepared": prepared, "vocab_size": tokenizer.vocab_size}


def read_documents(run_dir: Path, config) -> pa.Table:
    """The accounting rows of every configured source, from the files prep wrote."""
    return pa.concat_tables([pq.read_table(shard_path(Path(run_dir) / "shards", s.name, "documents"))
                             for s in config.data.sources])
