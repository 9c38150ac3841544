"""`phaselog ui`: a Prefect server, the `phaselog` work pool, the deployments of prefect.yaml and one worker, as
children of one command, with all Prefect state under HOME/.prefect. Each child runs in a process group of its
own, so Ctrl-C reaches this command only and it stops them in order: the worker with the flow runs it started,
then the server. HOME/.prefect/ui.json records what runs for `phaselog ui --status` and for `phaselog run`,
which then reports to the same server instead of starting a second one on the same SQLite file.

`phaselog run` without a `phaselog ui` starts a temporary server of its own (start_temporary_server), also in a
session of its own: Ctrl-C in a terminal and a batch system's SIGTERM go to the whole process group, and a
server dying with the group left the run retrying it for minutes before it could record that it stopped."""
import atexit
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from phaselog.core.errors import PhaselogError
from phaselog.core.reviews import TEMPORARY_API_ENV

POOL = "phaselog"
REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 120
STOP_SECONDS = 20


def state_file(home: Path) -> Path:
    return home / ".prefect" / "ui.json"


def ui_env(home: Path, port: int) -> dict:
    """The environment of every child and of the flow runs the worker starts: a Prefect of its own (any other
    PREFECT_* setting of the caller is dropped), telemetry off, results where a retried flow run finds them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    prefect_home = home / ".prefect"
    return {**env,
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # persisted task results (the segment cache) at one fixed place, whichever process writes or reads
            "PREFECT_LOCAL_STORAGE_PATH": str(prefect_home / "storage"),
            "PHASELOG_HOME": str(home),
            "PHASELOG_REPO": str(REPO)}


def api_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_api_url(home: Path) -> str | None:
    """The API of a `phaselog ui` running for this home, if it answers."""
    path = state_file(home)
    if not path.exists():
        return None
    url = json.loads(path.read_text())["api_url"]
    return url if api_healthy(url) else None


def start_child(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        # a session of its own: the terminal's Ctrl-C goes to `phaselog ui`, which stops children in order
        return subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_temporary_server(home: Path) -> subprocess.Popen:
    """The Prefect server of one command (what Prefect's own temporary server is: its API app under uvicorn,
    without the UI and the background services), in a session of its own so that only this process stops it: at
    exit, after Prefect has sent its last logs and states (atexit runs last what registered first, so call this
    before importing Prefect), or when this process dies (a kill -9). Sets PREFECT_API_URL; the caller waits for
    the API with wait_for_api, after its own imports."""
    # where the package is, without importing it: Prefect reads its settings (PREFECT_API_URL) on import
    packages = Path(importlib.util.find_spec("prefect").origin).parents[1]
    logs = home / ".prefect" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
    with open(logs / "temporary-server.log", "ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(packages), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level",
             "error", "--lifespan", "on"], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent)
    atexit.register(stop_server, server)
    os.environ["PREFECT_API_URL"] = os.environ[TEMPORARY_API_ENV] = f"http://127.0.0.1:{port}/api"
    return server


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when its parent dies, however it dies (Linux's PR_SET_PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every process, from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # the command name may hold spaces
        except OSError:  # ended meanwhile
            continue
        table[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))
    return table


def process_groups(pid: int) -> set[int]:
    """The groups of a process and of all its descendants: the worker starts each flow run in a session of its
    own, so the worker's group alone does not reach them."""
    table = process_table()
    groups, todo = {pid}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, group) in table.items():
            if ppid == parent:
                groups.add(group)
                todo.append(child)
    return groups - {os.getpgrp()}


def stop_tree(process: subprocess.Popen) -> None:
    """SIGTERM to the child's group and the groups of everything it started, SIGKILL for what lingers."""
    groups = process_groups(process.pid)
    for sig, grace in ((signal.SIGTERM, STOP_SECONDS), (signal.SIGKILL, 5)):
        for group in groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        # poll() reaps our child; the processes it started may outlive it by a moment
        while (process.poll() is None or any(map(group_alive, groups))) and time.monotonic() < deadline:
            time.sleep(0.2)
        if process.poll() is not None and not any(map(group_alive, groups)):
            return


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_api(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not api_healthy(url):
        if server.poll() is not None or time.monotonic() > deadline:
            raise PhaselogError(f"the Prefect server did not come up at {url}; its log is {log}")
        time.sleep(0.5)


def ensure_work_pool() -> None:
    """Create the process pool if missing, with a concurrency limit of 1: one flow process writes the store at a
    time, and on one machine one training at a time is what the hardware wants anyway."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(POOL)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(
                name=POOL, type="process", concurrency_limit=1,
                base_job_template=ProcessWorker.get_default_base_job_template()))


def crash_orphaned_flow_runs(reason: str) -> list[str]:
    """Flow runs of the pool that no process of ours runs any more (the worker was just stopped, or a previous
    `phaselog ui` died) stay Running forever: they hold the pool's one slot and the UI offers no Retry. Marking
    them Crashed says what happened and makes them retryable. Only our worker serves this pool (the server
    listens on 127.0.0.1), so when it is not running, no flow run of the pool is alive."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType,
                                                WorkPoolFilter, WorkPoolFilterName)
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    # a paused run (a review) waits inside its process too: once that is gone, Retry replays it up to the pause
    unfinished = [StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=unfinished))),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[POOL])))
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(message=reason), force=True)
    return [run.name for run in runs]


def deploy(env: dict, log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], cwd=REPO, env=env,
                              stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise PhaselogError(f"`prefect deploy --all` failed in {REPO}; its output is in {log}")


def check_not_running(home: Path, port: int) -> None:
    path = state_file(home)
    if path.exists():
        state = json.loads(path.read_text())
        if any(pid_alive(state[name]) for name in ("server_pid", "worker_pid")):
            raise PhaselogError(f"phaselog ui already runs for {home} ({state['ui_url']}); stop it with Ctrl-C "
                                f"in its terminal, or `kill {state['pid']}` (if that is gone: `kill "
                                f"{state['worker_pid']} {state['server_pid']}`)")
    if api_healthy(f"http://127.0.0.1:{port}/api"):
        raise PhaselogError(f"port {port} already answers as a Prefect API; choose another with --port")


def run_ui(home: Path, port: int) -> None:
    """Start everything, print the URL, and keep it running until Ctrl-C (or SIGTERM)."""
    check_not_running(home, port)
    env = ui_env(home, port)
    # this process talks to the server too (work pool, stale flow runs), as the children do
    os.environ.clear()
    os.environ.update(env)
    # Ctrl-C, also when started from a script that ignores SIGINT (`cmd &`), and SIGTERM both stop it all
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    children: dict[str, subprocess.Popen] = {}
    try:
        start_all(children, home, port, env)
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    raise PhaselogError(f"the Prefect {name} exited with code {child.returncode}; its log is in "
                                        f"{home / '.prefect' / 'logs'}")
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping the worker and the server", flush=True)
    finally:
        # a second Ctrl-C or SIGTERM must not cut the clean-up short and leave orphans
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(children)
        state_file(home).unlink(missing_ok=True)


def start_all(children: dict, home: Path, port: int, env: dict) -> None:
    logs = home / ".prefect" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    api_url, ui_url = env["PREFECT_API_URL"], f"http://127.0.0.1:{port}"
    print(f"starting the Prefect server on {ui_url} (state in {home / '.prefect'}, logs in {logs})", flush=True)
    children["server"] = start_child([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                      "--port", str(port)], env, logs / "server.log")
    wait_for_api(api_url, children["server"], logs / "server.log")
    ensure_work_pool()
    for name in crash_orphaned_flow_runs("its process ended with an earlier `phaselog ui`; retry it"):
        print(f"flow run {name} was left running by an earlier phaselog ui: marked Crashed, retry it", flush=True)
    print(f"registering the deployments of {REPO / 'prefect.yaml'}", flush=True)
    deploy(env, logs / "deploy.log")
    children["worker"] = start_child([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL,
                                      "--type", "process"], env, logs / "worker.log")
    state_file(home).write_text(json.dumps({
        "pid": os.getpid(), "server_pid": children["server"].pid, "worker_pid": children["worker"].pid,
        "api_url": api_url, "ui_url": ui_url, "logs": str(logs), "started_at": datetime.now().isoformat()}))
    if "PHASELOG_CORPUS" not in env:
        print("note: $PHASELOG_CORPUS is not set; configs with a relative corpus (demo.yaml) need it", flush=True)
    print(f"phaselog ui is ready: open {ui_url} (Deployments -> phase -> Run). Flow run output: "
          f"{logs / 'worker.log'}. Ctrl-C stops it all.", flush=True)


def stop_all(children: dict) -> None:
    """The worker and its flow runs first, while the server can still record that they stopped, then the server."""
    if "worker" in children:
        stop_tree(children["worker"])
        try:
            for name in crash_orphaned_flow_runs("stopped with `phaselog ui`; retry it to carry on"):
                print(f"flow run {name} was stopped mid-run: marked Crashed, retry it next time", flush=True)
        except Exception as err:  # the server is gone or failing: stopping matters more than the record
            print(f"could not mark stopped flow runs Crashed: {err}", flush=True)
    if "server" in children:
        stop_tree(children["server"])


def interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def ui_status(home: Path) -> list[str]:
    """Lines saying what of `phaselog ui` runs for this home: its processes, the API, and unfinished flow runs."""
    path = state_file(home)
    if not path.exists():
        return [f"phaselog ui is not running for {home}"]
    state = json.loads(path.read_text())
    lines = [f"phaselog ui for {home}, started {state['started_at']} (pid {state['pid']}), logs in {state['logs']}"]
    for name in ("server", "worker"):
        pid = state[f"{name}_pid"]
        lines.append(f"  {name:<6} pid {pid}: {'running' if pid_alive(pid) else 'NOT running'}")
    if not api_healthy(state["api_url"]):
        return lines + [f"  API    {state['api_url']}: not answering"]
    lines.append(f"  API    {state['api_url']}: healthy; UI at {state['ui_url']}")
    for run in active_flow_runs(state["api_url"]):
        lines.append(f"  flow run {run['name']}: {run['state_name']}")
    return lines


def active_flow_runs(api_url: str) -> list[dict]:
    query = {"flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "PAUSED", "SCHEDULED"]}}},
             "sort": "START_TIME_DESC", "limit": 20}
    request = urllib.request.Request(f"{api_url}/flow_runs/filter", data=json.dumps(query).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)
