"""`phaselog continue`: a run that continues another from its checkpoint trains exactly like the uninterrupted run
(CPU, identical per-step losses), records its place in the phase, and changes that would make the checkpoint
meaningless are refused before anything is written."""
import hashlib
import json
import shutil

import pyarrow.parquet as pq
import pytest

from flows.phase import phase_run
from model.train import train_segment
from phaselog.cli import main
from phaselog.config import PhaseConfig
from phaselog.store import Store
from tests.conftest import tiny_config_dict


def quick_phase(corpus, **train) -> dict:
    """The tiny phase with only training and val bpb: this file is about what carries over between runs."""
    raw = tiny_config_dict(corpus, segment_steps=20, **train)
    raw.update(understanding={"probe_every": 0}, evaluation={"enabled": False}, self_play={"enabled": False},
               review={"probe": False, "data_windows": 0})
    return raw


@pytest.fixture(scope="module")
def first_run(prefect_harness, shared_corpus, tmp_path_factory):
    """Steps 0 -> 20 of a 40-step schedule (train.schedule_end pins the warmdown where the whole phase ends)."""
    home = tmp_path_factory.mktemp("continue-home")
    config = PhaseConfig.model_validate(quick_phase(shared_corpus, end_step=20, schedule_end=40))
    phase_run(config=config, run_id="first", home=str(home))
    return home


def losses(store: Store, run_id: str) -> dict[int, float]:
    return dict(store.query("SELECT step, loss FROM metrics WHERE run_id = ? ORDER BY step", [run_id])[1])


def test_continue_without_change_trains_like_one_run(first_run, shared_corpus, tmp_path):
    home = first_run
    assert main(["continue", "first", "--run-id", "second", "--set", "train.end_step=40", "--home", str(home)]) == 0
    store = Store(home)
    phase, parent, step, diff = store.query(
        "SELECT phase, parent_run, continued_from, config_diff FROM runs WHERE run_id = 'second'")[1][0]
    assert (phase, parent, step) == ("tiny", "first", 20)
    assert json.loads(diff) == {"train.end_step": [20, 40]}
    continued = {**losses(store, "first"), **losses(store, "second")}
    assert sorted(continued) == list(range(1, 41))

    # the same 40 steps in one run on the same prepared data
    clean = tmp_path / "clean"
    shutil.copytree(home / "first" / "tokenizer", clean / "tokenizer")
    shutil.copytree(home / "first" / "shards", clean / "shards")
    config = PhaseConfig.model_validate(quick_phase(shared_corpus, end_step=40))
    for start, end in config.segments():
        train_segment(clean, config, start, end, peak_flops=1e11)
    uninterrupted = {}
    for path in sorted((clean / "metrics").glob("*.parquet")):
        uninterrupted.update({r["step"]: r["loss"] for r in pq.read_table(path, columns=["step", "loss"]).to_pylist()})
    assert continued == uninterrupted


def store_digest(home) -> str:
    return hashlib.sha256((home / "phaselog.duckdb").read_bytes()).hexdigest()


@pytest.mark.parametrize("change, field", [
    ("model.depth=2", "model.depth"),
    ("model.d_model=128", "model.d_model"),
    ("tokenizer.vocab_size=1024", "tokenizer.vocab_size"),
    ("tokenizer.sample_chars=1000", "tokenizer.sample_chars"),
    ("model.seq_len=128", "model.seq_len"),
    ("train.start_step=5", "train.start_step"),
])
def test_refused_change_exits_2_naming_the_field(first_run, capsys, change, field):
    home = first_run
    before, folders = store_digest(home), sorted(p.name for p in home.iterdir())
    assert main(["continue", "first", "--run-id", "refused", "--set", change, "--set", "train.end_step=40",
                 "--home", str(home)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("phaselog: error:") and field in error and "\n" not in error
    assert store_digest(home) == before
    assert sorted(p.name for p in home.iterdir()) == folders


def test_allowed_changes_and_the_end_step_check(first_run, capsys):
    from phaselog.cli import continuation

    config, step = continuation(first_run, "first", None, ["train.end_step=60", "train.lr=0.005",
                                                           "self_play.prompt_version=v1.3", "model.seq_len=64"])
    assert (step, config.train.start_step, config.train.lr_schedule()) == (20, 20, (0, 40))
    assert config.train.continue_from.endswith("first/checkpoints/step_0000020.pt")
    assert main(["continue", "first", "--home", str(first_run)]) == 2  # the parent ended at 20: nothing to train
    assert "train.end_step" in capsys.readouterr().err
