"""kill -9 in the middle of a segment, then `phaselog resume` on another worker: the run finishes with exactly one
metrics row per step and the same per-step losses as an uninterrupted run (CPU, same seed). The two workers are two
processes with their own folders and Prefect state, standing for two machines; what they share is what machines
share in docs/scale.md: the home (the run's folder with its checkpoints) and a DuckLake on the same storage."""
import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import yaml

from phaselog.core.store import Store
from phaselog.model.checkpoint import checkpoint_path
from tests.conftest import tiny_config_dict, uninterrupted_losses


def cli_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def said_resumed_progress(output: str, segment: tuple[int, int]) -> None:
    """The resume's progress lines: the interrupted segment's lines on its tenth-of-segment grid, each with elapsed,
    tok/s and ETAs; "resumed" said of that segment only."""
    start, end = segment
    first = re.search(r"first step (\d+) done in [\d.]+ s \(resumed after step (\d+)\)", output)
    assert first and start < int(first[2]) < end, output[-3000:]
    # announced from where it resumes; a segment trained before the kill announces no training at all
    assert f"  training steps {int(first[2]) + 1}-{end}: the first step is shown when it ends" in output
    assert f"  training steps 1-{start}:" not in output
    lines = re.findall(rf"  step (\d+) of {end}: loss [\d.]+, .+ elapsed, [\d,]+ tok/s; segment ends in ~.+, run",
                       output)
    assert lines and all((int(step) - start) % ((end - start) // 10) == 0 for step in lines), lines
    resumed = re.findall(r"segment (\d+) \[\d+, \d+\): \d+ steps trained \(resumed from step (\d+)\)", output)
    assert resumed == [(str(start // (end - start)), first[2])], resumed


def said_analysis_not_redone(output: str, store: Store, finished: list[int], resumed: list[int]) -> None:
    """The segments whose analysis had finished before the kill are not analysed again by the resume: their
    segment_analysis rows are the killed flow run's, no evaluation ran at their end step, and the resume says so;
    the others were analysed by the resume's flow run."""
    by_step = dict(store.query("select end_step, flow_run_id from segment_analysis")[1])
    assert sorted(by_step) == sorted(finished + resumed)
    resume_run = {by_step[step] for step in resumed}
    assert len(resume_run) == 1 and not resume_run & {by_step[step] for step in finished}, by_step
    for step in finished:
        assert f"step {step}: val bpb" not in output
        assert re.search(rf"segment \d+ \[\d+, {step}\): its analysis finished before; read from the store, not "
                         "redone", output)
    for step in resumed:
        assert f"step {step}: val bpb" in output
    # with an analysis timed, the run's ETA counts the analyses left, not only training
    assert re.search(r"  step \d+ of \d+: .+ tok/s; segment ends in ~.+, run in ~", output)


def test_resume_on_another_worker_after_sigkill_matches_uninterrupted_run(shared_corpus, tmp_path, tiny_config):
    shared = tmp_path / "shared"  # the storage both machines mount
    home = shared / "home"
    store = f"ducklake:sqlite:{shared / 'catalog.sqlite'}?data={shared / 'lake'}"
    data = tiny_config_dict(shared_corpus, end_step=120, segment_steps=40)
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(data))
    workers = {name: {**cli_env(tmp_path / name), "PHASELOG_STORE": store} for name in ("worker-a", "worker-b")}
    for name in workers:
        (tmp_path / name).mkdir()
    ckpts = home / "killed" / "checkpoints"

    proc = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "run", str(config_file), "--run-id", "killed",
                             "--home", str(home)], env=workers["worker-a"], cwd=tmp_path / "worker-a",
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    # a generous deadline: on a loaded 2-core machine the Prefect start-up alone has taken minutes
    deadline = time.monotonic() + 900
    while not checkpoint_path(ckpts, 50).with_suffix(".json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the run never reached step 50"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the run's temporary Prefect server outlives a kill -9 of the run (it is a child process, not a thread);
    # stop it so it does not keep a core busy for the rest of the suite
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    assert not checkpoint_path(ckpts, 120).exists(), "the run finished before it could be killed"

    done = subprocess.run([sys.executable, "-m", "phaselog.cli", "resume", "killed", "--home", str(home)],
                          env=workers["worker-b"], cwd=tmp_path / "worker-b", capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    said_resumed_progress(done.stderr, segment=(40, 80))
    # Prefect's temporary server announced in phaselog's one line, without Prefect's pointer to its docs
    assert "Starting a temporary Prefect server on " in done.stderr and "docs.prefect.io" not in done.stderr

    assert not (home / "phaselog.duckdb").exists(), "a worker wrote a single-file store instead of the lake"
    store = Store(home, store)
    assert store.query("select count(*), count(distinct step), min(step), max(step) from metrics")[1] == \
        [(120, 120, 1, 120)]
    resumed = dict(store.query("select step, loss from metrics order by step")[1])
    assert store.query("select status from runs")[1] == [("completed",)]
    said_analysis_not_redone(done.stderr, store, finished=[40], resumed=[80, 120])

    # the same phase, uninterrupted, on the same prepared data
    assert resumed == uninterrupted_losses(home / "killed", tmp_path / "clean", tiny_config(end_step=120,
                                                                                          segment_steps=40))
