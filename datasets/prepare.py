"""Data prep for a run: every source's documents -> tokenizer trained on a weighted sample of the mix ->
train/val token shards per source. A manifest of input fingerprints and settings makes preparing the same
inputs twice a no-op. Returns the accounting rows for the `documents` table; writing them is the flow's job."""
import json
from pathlib import Path

from datasets.shards import is_validation, shard_path, tokenize_documents, write_split
from datasets.documents import DocumentRecord, iter_documents
from datasets.sources import source_fingerprint
from model.tokenizer import Tokenizer
from phaselog.errors import DataError


def read_sources(config) -> dict[str, list[DocumentRecord]]:
    records = {}
    for source in config.data.sources:
        path = config.source_path(source)
        if not path.exists():
            raise DataError(f"data.sources[{source.name}]: {path} does not exist")
        records[source.name] = list(iter_documents(
            source.name, path, source.format, source.text_column, config.data.min_doc_chars, config.data.chunk_chars))
        if not any(r.kept for r in records[source.name]):
            raise DataError(f"data.sources[{source.name}]: no documents left in {path} after filtering "
                            f"({len(records[source.name])} dropped; min_doc_chars={config.data.min_doc_chars})")
    return records


def tokenizer_sample(config, records: dict[str, list[DocumentRecord]]) -> list[str]:
    """Texts for tokenizer training: each source's share of `sample_chars` follows its mix weight."""
    total_weight = sum(s.weight for s in config.data.sources)
    sample = []
    for source in config.data.sources:
        budget = config.tokenizer.sample_chars * source.weight / total_weight
        for record in records[source.name]:
            if budget <= 0:
                break
            if record.kept:
                sample.append(record.text)
                budget -= record.chars
    return sample


def manifest_for(config) -> dict:
    return {
        "sources": {s.name: source_fingerprint(config.source_path(s), s.format) for s in config.data.sources},
        "data": config.data.model_dump(exclude={"corpus_dir"}),
        "tokenizer": config.tokenizer.model_dump(),
    }


def prepare_data(config, run_dir: Path, reuse_tokenizer: Path | None = None, log=print) -> dict:
    """Prepare tokenizer and shards under run_dir; return {"cached": bool, "documents": [row dicts], ...}.
    `reuse_tokenizer` (a tokenizer directory) replaces training one: a continued phase keeps its token ids."""
    run_dir = Path(run_dir)
    manifest_file = run_dir / "shards" / "manifest.json"
    manifest = manifest_for(config)
    if manifest_file.is_file() and json.loads(manifest_file.read_text()) == manifest:
        log("data prep: inputs and settings unchanged, reusing tokenizer and shards")
        return {"cached": True, "documents": [], "vocab_size": Tokenizer.load(run_dir / "tokenizer").vocab_size}

    records = read_sources(config)
    if reuse_tokenizer is not None:
        tokenizer = Tokenizer.load(reuse_tokenizer)
        log(f"data prep: reusing the tokenizer of {reuse_tokenizer}")
    else:
        tokenizer = Tokenizer.train(tokenizer_sample(config, records), config.tokenizer.vocab_size)
    tokenizer.save(run_dir / "tokenizer")
    rows = []
    for source in config.data.sources:
        kept = [r for r in records[source.name] if r.kept]
        val = [r for r in kept if is_validation(r.sha1, config.data.val_fraction)]
        if not val:
            val = kept[-1:]  # every source needs a held-out part, however small, for its own bpb
        val_ids = {r.doc_id for r in val}
        train = [r for r in kept if r.doc_id not in val_ids]
        if not train:
            raise DataError(f"data.sources[{source.name}]: only {len(kept)} document(s), too few to hold some out "
                            "for validation; add text")
        for split, docs in (("train", train), ("val", val)):
            doc_ids, tokens = tokenize_documents(tokenizer, [(r.doc_id, r.text) for r in docs])
            write_split(shard_path(run_dir / "shards", source.name, split), doc_ids, tokens, tokenizer.vocab_size)
        for r in records[source.name]:
            split = "" if not r.kept else ("val" if r.doc_id in val_ids else "train")
            rows.append({"source": r.source, "doc_id": r.doc_id, "path": r.path, "chars": r.chars, "bytes": r.bytes,
                         "sha1": r.sha1, "kept": r.kept, "drop_reason": r.drop_reason, "split": split})
        log(f"data prep: {source.name}: {len(train)} train / {len(val)} val documents")
    manifest_file.write_text(json.dumps(manifest))
    return {"cached": False, "documents": rows, "vocab_size": tokenizer.vocab_size}
