"""`phaselog bench data`: throughput of data prep on the shared corpus: read, decode, clean, chunk, deduplicate,
tokenize (in worker processes on every core, beside reading: datasets/tokenize_pool.py) and write the parquet
shards, per source, as `datasets.prepare.prepare_source` does in a run, worker start-up included. Tokenizer training is timed apart: it runs once per
tokenizer, not per byte of corpus."""
import os
import statistics
import tempfile
import time
from pathlib import Path

from phaselog.bench.train import spread
from phaselog.core.config import PhaseConfig
from phaselog.datasets.prepare import prepare_source, tokenizer_sample
from phaselog.datasets.tokenize_pool import TokenizePool
from phaselog.datasets.tokenizer import Tokenizer

REPEATS = 5


def bench_data() -> dict:
    corpus = Path(os.environ.get("PHASELOG_CORPUS", "../shared/data/corpus")).resolve()
    config = PhaseConfig.model_validate({"data": {"corpus_dir": str(corpus), "sources": [
        {"name": "general", "path": "general"}, {"name": "philosophy", "path": "philosophy", "start_step": 1000}]},
        "tokenizer": {"vocab_size": 2048, "sample_chars": 2_000_000}})
    megabytes = sum(f.stat().st_size for s in config.data.sources
                    for f in config.source_path(s).rglob("*") if f.is_file()) / 1e6
    started = time.perf_counter()
    tokenizer = Tokenizer.train([t for texts in tokenizer_sample(config).values() for t in texts], 2048)
    train_seconds = time.perf_counter() - started
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(REPEATS):
            started = time.perf_counter()
            with TokenizePool(tokenizer) as pool:
                for source in config.data.sources:
                    prepare_source(config, source, pool, Path(tmp))
            rates.append(megabytes / (time.perf_counter() - started))
    summary = (f"data prep on {corpus} ({megabytes:.1f} MB of text files, {os.cpu_count()} cores): "
               f"{statistics.median(rates):.1f} MB/s median (min {min(rates):.1f}, max {max(rates):.1f}, n={REPEATS}) "
               f"for read+clean+tokenize+write; tokenizer training (vocab 2048, 2M chars sample) "
               f"{train_seconds:.1f} s once\nrerun: PHASELOG_CORPUS=DIR phaselog bench data [--json]")
    return {"benchmark": "data", "megabytes": megabytes, "mb_per_sec": spread(rates),
            "tokenizer_train_seconds": train_seconds, "summary": summary}
