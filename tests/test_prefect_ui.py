"""The Prefect UI path in real processes: `phaselog ui` starts a server, the work pool, the deployments and a
worker; a phase starts through the API exactly as the UI's Run button does; its flow run process is killed in
the middle of a segment (a machine lost mid-run: the worker reports the run Crashed), and the UI's Retry (the same
API call) finishes it from the checkpoint without training the finished segment again. Ctrl-C then stops it all.

One phase does both halves: a second full run would double the test's few minutes."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phaselog.core.locks import hold_run
from phaselog.core.store import Store
from phaselog.model.checkpoint import checkpoint_path
from phaselog.ui import api_healthy, group_alive, pid_alive, state_file
from tests.conftest import REPO, tiny_config_dict
from tests.processes import clean_env, free_port

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the flow run's process in /proc")


WHICH_API = """
import os, sys
from pathlib import Path
from phaselog.cli import use_prefect_home
use_prefect_home(Path(sys.argv[1]))
print(os.environ.get("PREFECT_API_URL"))
"""


def phase_parameters(corpus: Path) -> dict:
    # two segments of 20 steps, checkpoints every 10; only what training and the store need
    config = tiny_config_dict(corpus, end_step=40)
    config["evaluation"] = {"enabled": False}
    config["self_play"] = {"enabled": False}
    config["review"] = {"enabled": False, "probe": False, "data_windows": 0}
    return {"config": config, "run_id": "from-ui"}


def wait_for_line(process: subprocess.Popen, text: str, seconds: float) -> list[str]:
    lines, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, "phaselog ui exited:\n" + "".join(lines)
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} within {seconds}s:\n" + "".join(lines))


def wait_until(condition, seconds: float, what: str, pause: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(pause)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def processes_of_flow_run(flow_run_id) -> list[int]:
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # gone, or not ours
            continue
    return pids


def test_a_phase_runs_from_its_deployment_and_a_retry_from_the_ui_resumes_the_broken_segment(shared_corpus, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import State

    home, port = tmp_path / "home", free_port()
    api = f"http://127.0.0.1:{port}/api"
    ui = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "ui", "--home", str(home), "--port", str(port)],
                          cwd=REPO, env=clean_env(PHASELOG_CORPUS=str(shared_corpus)), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(ui, "phaselog ui is ready", 180)
        state = json.loads(state_file(home).read_text())
        status = subprocess.run([sys.executable, "-m", "phaselog.cli", "ui", "--status", "--home", str(home)],
                                cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=60).stdout
        assert f"worker pid {state['worker_pid']}: running" in status and f"{api}: healthy" in status, status
        # `phaselog run` for this home reports to this server rather than to a second one on the same SQLite file
        which = subprocess.run([sys.executable, "-c", WHICH_API, str(home)], cwd=REPO, env=clean_env(),
                               capture_output=True, text=True, timeout=60)
        assert which.stdout.strip() == api, which.stderr[-2000:]

        with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("phase/phase")
            # the Run form: PhaseConfig with its sections, defaulting to the demo phase; the example schedule is off
            schema = deployment.parameter_openapi_schema
            assert {"PhaseConfig", "TrainConfig"} <= set(schema["definitions"])
            assert schema["properties"]["config"]["default"]["name"] == "demo"
            assert [s.active for s in deployment.schedules] == [False]
            assert client.read_work_pool("phaselog").concurrency_limit == 1

            # what the UI's Run button sends: a flow run of the deployment with the form's parameters; the server
            # checks them against the form's schema first
            bad = phase_parameters(shared_corpus)
            bad["config"]["train"]["batch_size"] = 0
            with pytest.raises(Exception, match="batch_size"):
                run_deployment("phase/phase", parameters=bad, timeout=0)
            flow_run = run_deployment("phase/phase", parameters=phase_parameters(shared_corpus), timeout=0)
            checkpoints = home / "from-ui" / "checkpoints"
            wait_until(lambda: checkpoint_path(checkpoints, 30).with_suffix(".json").exists(), 150,
                       "the checkpoint in the middle of segment 1", pause=0.02)
            killed = processes_of_flow_run(flow_run.id)
            assert killed, "the flow run's process was not found"
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            assert not checkpoint_path(checkpoints, 40).exists(), "segment 1 finished before it could be killed"
            crashed = wait_until(lambda: (r := client.read_flow_run(flow_run.id)).state.is_final() and r, 60,
                                 "the worker to report the killed flow run")
            assert crashed.state.type == StateType.CRASHED, crashed.state
            # the worker reports the exit a second time, 5-20 s later; a retry sent before that is marked Crashed
            # again (docs/scale.md), so wait for it as a person reading the page would
            worker_log = home / ".prefect" / "logs" / "worker.log"
            wait_until(lambda: "prefect.flow_runs.worker - Check whether" in worker_log.read_text(), 90,
                       "the worker's own report of the killed flow run")
            store = Store(home)
            _, before = store.query("SELECT \"index\", finished_at FROM segments WHERE run_id = 'from-ui'")
            assert len(before) == 1, before

            # what the UI's Retry button sends
            result = client.set_flow_run_state(flow_run.id, State(type=StateType.SCHEDULED, name="AwaitingRetry",
                                                                   message="Retry from the UI"))
            assert result.status.value == "ACCEPT", result
            wait_until(lambda: client.read_flow_run(flow_run.id).state.is_final(), 180, "the retried flow run to end")
            history = [(s.name, s.message) for s in client.read_flow_run_states(flow_run.id)]
            assert history[-1][0] == "Completed", history
            assert client.read_flow_run(flow_run.id).name == "from-ui"  # the UI lists it under the run id
            task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
            segment_states = {(t.name, t.state.name) for t in task_runs if t.name.startswith("train-segment")}
            assert ("train-segment-0", "Cached") in segment_states, segment_states

        assert store.query("SELECT status FROM runs WHERE run_id = 'from-ui'")[1] == [("completed",)]
        assert store.query("SELECT count(*), count(DISTINCT step), max(step) FROM metrics WHERE run_id = 'from-ui'")[1] \
            == [(40, 40, 40)]
        _, segments = store.query("SELECT \"index\", finished_at, resumed_from, trained_steps FROM segments "
                                  "WHERE run_id = 'from-ui' ORDER BY \"index\"")
        assert segments[0][:2] == before[0], "segment 0 was trained again"
        assert segments[1][2:] == (30, 10), "segment 1 did not resume from its step-30 checkpoint"
    finally:
        ui.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = ui.communicate(timeout=90)
    assert ui.returncode == 0, out[-3000:]
    assert "stopping the worker and the server" in out
    assert not any(group_alive(state[name]) for name in ("server_pid", "worker_pid")), "orphans left running"
    assert not pid_alive(state["server_pid"]) and not api_healthy(api)
    assert not state_file(home).exists()


def test_a_second_process_cannot_train_a_run_that_one_is_training(tmp_path):
    # e.g. a second Retry clicked while the first retried attempt still trains
    script = "import sys; from pathlib import Path; from phaselog.core.locks import hold_run\n" \
             "with hold_run(Path(sys.argv[1]), 'busy'): pass"
    with hold_run(tmp_path / "busy", "busy"):
        second = subprocess.run([sys.executable, "-c", script, str(tmp_path / "busy")], cwd=REPO, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode != 0
        assert f"run busy is being trained by another process (pid {os.getpid()}" in second.stderr
    second = subprocess.run([sys.executable, "-c", script, str(tmp_path / "busy")], cwd=REPO, timeout=60)
    assert second.returncode == 0  # released with its holder
