"""Shared fixtures: the real shared corpus (tests skip with a reason when ../shared is absent), a tiny phase
config on small real texts, one Prefect test harness for the session, and one real tiny run built through the
real flow that many tests read."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPUS = Path(os.environ.get("PHASELOG_CORPUS", REPO.parent / "shared" / "data" / "corpus"))

# Prefect must not touch ~/.prefect while tests run, and must start with a clean slate of its own
os.environ.setdefault("PREFECT_HOME", str(REPO / "test-artifacts" / "prefect-home"))
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect makes only the last level itself
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("PREFECT_API_URL", None)


def tiny_config_dict(corpus: Path, **train) -> dict:
    """A phase small enough for a test: two short real books, three segments of 20 steps."""
    return {
        "name": "tiny",
        "data": {
            "corpus_dir": str(corpus),
            "sources": [
                {"name": "general", "path": "general/pg11-alice.txt", "weight": 1.0},
                {"name": "philosophy", "path": "philosophy/pg5827-problems-of-philosophy.txt", "weight": 0.5,
                 "start_step": 20},
            ],
        },
        "tokenizer": {"vocab_size": 512, "sample_chars": 300_000},
        "model": {"depth": 1, "d_model": 64, "head_dim": 32, "seq_len": 32},
        "train": {"start_step": 0, "end_step": 60, "segment_steps": 20, "batch_size": 8, "warmup_steps": 5,
                  "checkpoint_every": 10, "keep_checkpoints": 2, "val_tokens": 2048, "device": "cpu",
                  "lr": 0.01, "head_lr": 0.01, **train},
        # probes every 10 steps: a 60-step run then has activation stats and shimmer in every segment
        "understanding": {"probe_every": 10},
    }


def uninterrupted_losses(prepared_run: Path, clean: Path, config) -> dict[int, float]:
    """{step: loss} of the whole phase trained in one go in `clean`, on the tokenizer and shards of
    `prepared_run` (copied): what a resumed or continued run must match."""
    import shutil

    import pyarrow.parquet as pq

    from phaselog.model.train import train_segment

    shutil.copytree(prepared_run / "tokenizer", clean / "tokenizer")
    shutil.copytree(prepared_run / "shards", clean / "shards")
    for start, end in config.segments():
        train_segment(clean, config, start, end, peak_flops=1e11)
    losses = {}
    for path in sorted((clean / "metrics").glob("*.parquet")):
        losses.update({r["step"]: r["loss"] for r in pq.read_table(path, columns=["step", "loss"]).to_pylist()})
    return losses


def store_before(home: Path, version: int):
    """A store with the migrations before `version` applied and recorded, as an older phaselog left it."""
    from phaselog.core.store import Store, migrations, now

    store = Store(home)
    with store.writer(migrating=True) as con:  # made by hand: not the current tables a plain writer would make
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
        for number, name, sql in migrations():
            if number < version:
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, now()])
    return store


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    if not (SHARED_CORPUS / "general").is_dir():
        pytest.skip(f"the shared corpus is not at {SHARED_CORPUS} (clone ../shared beside the repo)")
    return SHARED_CORPUS


@pytest.fixture
def tiny_config(shared_corpus):
    from phaselog.core.config import PhaseConfig

    def make(**train):
        return PhaseConfig.model_validate(tiny_config_dict(shared_corpus, **train))
    return make


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="session")
def tiny_run(prefect_harness, shared_corpus, tmp_path_factory):
    """One real phase run through the real flow: (home, run_id, config)."""
    from phaselog.core.config import PhaseConfig
    from phaselog.flows.phase import phase_run

    home = tmp_path_factory.mktemp("home")
    config = PhaseConfig.model_validate(tiny_config_dict(shared_corpus))
    phase_run(config=config, run_id="tiny-run", home=str(home))
    return home, "tiny-run", config


@pytest.fixture(scope="session")
def join_run(prefect_harness, shared_corpus, tmp_path_factory):
    """A real 60-step run whose sources join off the segment boundaries: meditations at step 10, inside the first
    20-step segment, and philosophy at step 30, in the middle of the second: (home, run_id, config)."""
    from phaselog.core.config import PhaseConfig
    from phaselog.flows.phase import phase_run

    raw = tiny_config_dict(shared_corpus)
    raw["data"]["sources"][1]["start_step"] = 30
    raw["data"]["sources"].append({"name": "meditations", "path": "philosophy/pg2680-meditations.txt",
                                   "weight": 0.5, "start_step": 10})
    # the CORE-style suite, self-play and the bias probe add minutes and nothing to what joins are about (the
    # tiny run covers them)
    raw["evaluation"] = {"enabled": False}
    raw["self_play"] = {"enabled": False}
    raw["review"] = {"probe": False}
    home = tmp_path_factory.mktemp("join-home")
    config = PhaseConfig.model_validate(raw)
    phase_run(config=config, run_id="join-run", home=str(home))
    return home, "join-run", config
