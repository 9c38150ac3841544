"""A segment under torchrun (2 processes, gloo on CPU): the same losses as one process with the same global batch,
only rank 0 writes, a killed rank fails the segment with an error naming it and leaves no process behind, and a
resume then finishes the segment from the last good checkpoint."""
import _thread
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from phaselog.core.config import config_from_dict
from phaselog.core.errors import PhaselogError, TrainingDiverged
from phaselog.datasets.prepare import prepare_data
from phaselog.model.checkpoint import checkpoint_path, is_good
from phaselog.model.distributed import RankFailed, failed_ranks, outcome_path, segment_result, write_outcome
from phaselog.model.train import train_segment
from tests.conftest import tiny_config_dict

# One process sums the micro-batch gradients in one order, two processes sum their halves and then all-reduce:
# the same numbers added in another order, a float32 rounding apart (measured: 2.4e-7 after 10 steps). A real
# mismatch (a micro-batch taken twice or missed, a wrong scale) moves the loss by 1e-2 or more.
LOSS_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def prepared(shared_corpus, tmp_path_factory) -> Path:
    """Tokenizer and shards of the tiny config, prepared once and copied into each run dir."""
    root = tmp_path_factory.mktemp("prepared")
    prepare_data(config_from_dict(tiny_config_dict(shared_corpus), "tiny"), root, log=lambda message: None)
    return root


def run_dir_from(prepared: Path, path: Path) -> Path:
    for name in ("tokenizer", "shards"):
        shutil.copytree(prepared / name, path / name)
    return path


def metrics(run_dir: Path) -> dict[int, dict]:
    rows = {}
    for path in sorted((run_dir / "metrics").glob("*.parquet")):
        rows.update({row["step"]: row for row in pq.read_table(path).to_pylist()})
    return rows


def training_processes(run_dir: Path) -> dict[int, int]:
    """{pid: rank} of the live torchrun ranks training in `run_dir`."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"phaselog.model.ddp_segment" in cmdline and str(run_dir).encode() in cmdline:
            rank = [e for e in environ if e.startswith(b"RANK=")]
            found[int(proc.name)] = int(rank[0].split(b"=")[1]) if rank else -1
    return found


def test_two_processes_under_torchrun_match_one_process_step_for_step(prepared, shared_corpus, tmp_path):
    # grad_accum 4: each rank accumulates two micro-batches locally before the one all-reduce of the step
    settings = dict(end_step=10, segment_steps=10, grad_accum=4, checkpoint_every=5)
    one = run_dir_from(prepared, tmp_path / "one")
    two = run_dir_from(prepared, tmp_path / "two")
    single = train_segment(one, config_from_dict(tiny_config_dict(shared_corpus, **settings), "one"), 0, 10, 1e11)
    seen_steps = []
    config = config_from_dict(tiny_config_dict(shared_corpus, nproc_per_node=2, **settings), "two")
    ddp = train_segment(two, config, 0, 10, 1e11, on_step=lambda step, loss: seen_steps.append(step))

    steps = ("start_step", "end_step", "resumed_from", "trained_steps")
    assert {k: ddp[k] for k in steps} == {k: single[k] for k in steps} == \
        {"start_step": 0, "end_step": 10, "resumed_from": 0, "trained_steps": 10}
    assert "cpu_seconds" in single and "cpu_seconds" not in ddp  # the machine's share: one process only
    assert is_good(Path(ddp["checkpoint"])) and seen_steps[-1] == 10
    expected, got = metrics(one), metrics(two)
    assert sorted(got) == list(range(1, 11))
    for step in expected:
        assert got[step]["loss"] == pytest.approx(expected[step]["loss"], abs=LOSS_TOLERANCE), step
        assert got[step]["grad_norm"] == pytest.approx(expected[step]["grad_norm"], rel=1e-4), step
        # the data mix is summed over the ranks: every micro-batch of the global batch counted once
        assert got[step]["tokens/general"] == expected[step]["tokens/general"] == 4 * 8 * 32
    # rank 0 alone wrote: the same checkpoints, metrics and probe files as one process, nothing per rank
    def written(run_dir):
        return sorted(str(p.relative_to(run_dir)) for kind in ("checkpoints", "metrics", "probes")
                      for p in (run_dir / kind).iterdir())
    assert written(two) == written(one)
    assert (two / "probes" / "upto_0000010.parquet").is_file()


def test_killed_rank_fails_the_segment_naming_it_and_resume_finishes(prepared, shared_corpus, tmp_path):
    run_dir = run_dir_from(prepared, tmp_path / "run")
    config = config_from_dict(tiny_config_dict(shared_corpus, end_step=40, segment_steps=40, grad_accum=2,
                                               checkpoint_every=10, nproc_per_node=2), "killed")
    killed = []

    def kill_rank_one_after_first_checkpoint():
        deadline = time.monotonic() + 120
        while not checkpoint_path(run_dir / "checkpoints", 10).with_suffix(".json").exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        for pid, rank in training_processes(run_dir).items():
            if rank == 1:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    killer = threading.Thread(target=kill_rank_one_after_first_checkpoint, daemon=True)
    killer.start()
    with pytest.raises(RankFailed, match=r"rank 1 killed by SIGKILL \(the first failure\)") as failure:
        train_segment(run_dir, config, 0, 40, 1e11)
    killer.join()
    assert killed, "rank 1 was never found to kill"
    assert "phaselog resume run" in str(failure.value)
    assert training_processes(run_dir) == {}, "a training process outlived the failed segment"
    assert not checkpoint_path(run_dir / "checkpoints", 40).exists(), "the segment finished before the kill"

    summary = train_segment(run_dir, config, 0, 40, 1e11)
    assert summary["resumed_from"] >= 10 and summary["trained_steps"] == 40 - summary["resumed_from"]
    assert is_good(checkpoint_path(run_dir / "checkpoints", 40))
    assert sorted(metrics(run_dir)) == list(range(1, 41))
    # the failed attempt's log is kept above the resumed one
    attempts = [line for line in (run_dir / "torchrun" / "segment_0000040.log").read_text().splitlines()
                if line.startswith("--- ") and "torch.distributed.run" in line]
    assert len(attempts) == 2


def test_interrupting_the_launcher_stops_every_rank(prepared, shared_corpus, tmp_path):
    run_dir = run_dir_from(prepared, tmp_path / "run")
    # far more steps than can train before the interrupt, even on a loaded machine: it must not finish first
    config = config_from_dict(tiny_config_dict(shared_corpus, end_step=5000, segment_steps=5000, grad_accum=2,
                                               nproc_per_node=2), "interrupted")

    def interrupt_once_both_ranks_run():
        deadline = time.monotonic() + 120
        while len(training_processes(run_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # what Ctrl-C, or Prefect cancelling the flow (TerminationSignal), does to the waiting flow process
        _thread.interrupt_main()

    # interrupt_main raises KeyboardInterrupt only through Python's own SIGINT handler, which Python does not
    # install when it starts with SIGINT ignored: the case under `cmd &` in a script, as CI may run the suite
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_once_both_ranks_run, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            train_segment(run_dir, config, 0, 5000, 1e11)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert training_processes(run_dir) == {}
    assert not checkpoint_path(run_dir / "checkpoints", 5000).exists()


def test_grad_accum_must_split_evenly_across_processes(shared_corpus):
    with pytest.raises(PhaselogError, match="grad_accum 3 must be a multiple of nproc_per_node 2"):
        config_from_dict(tiny_config_dict(shared_corpus, grad_accum=3, nproc_per_node=2), "tiny.yaml")


def test_rank_zero_outcome_becomes_the_exception_one_process_raises(tmp_path):
    # a divergence must reach the flow as TrainingDiverged, so the health table records why the run stopped
    (tmp_path / "torchrun").mkdir()
    write_outcome(tmp_path, 20, {"diverged": {"step": 13, "loss": float("nan"), "grad_norm": 2.0,
                                              "last_good_step": 10}})
    with pytest.raises(TrainingDiverged, match="diverged at step 13") as diverged:
        segment_result(outcome_path(tmp_path, 20), 1, [], 10, 20, tmp_path)
    assert diverged.value.last_good_step == 10 and diverged.value.reasons()[0]["code"] == "non_finite_loss"


def test_the_first_failure_is_the_rank_that_was_not_stopped_by_torchrun():
    """torchrun stops survivors with SIGTERM; a survivor that failed on the broken connection first is what its
    summary then names as the root cause (seen on a CI run). The killed rank still goes first."""
    summary = ["Failures:", "[1]:", "  rank      : 1 (local_rank: 1)", "  exitcode  : -9 (pid: 18469)",
               "Root Cause (first observed failure):", "[0]:", "  rank      : 0 (local_rank: 0)",
               "  exitcode  : -15 (pid: 18468)"]
    assert failed_ranks(summary) == "rank 1 killed by SIGKILL (the first failure), then rank 0 killed by SIGTERM"
    summary = ["Root Cause (first observed failure):", "[0]:", "  rank      : 1 (local_rank: 1)",
               "  exitcode  : 1 (pid: 7)", "Other Failures:", "  rank      : 0 (local_rank: 0)",
               "  exitcode  : -15 (pid: 8)"]
    assert failed_ranks(summary) == "rank 1 exited with code 1 (the first failure), then rank 0 killed by SIGTERM"
