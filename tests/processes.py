"""Helpers for tests that run phaselog and Prefect in real processes: a free local port, an environment
without the test session's own Prefect settings, and a `phaselog explore` server process."""
import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from phaselog.ui import free_port  # noqa: F401 (tests import it from here with the other process helpers)

REPO = Path(__file__).resolve().parents[1]


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **extra}


@contextmanager
def explore_process(home: Path, run_id: str, *options: str):
    """`phaselog explore` on HOME in its own process, once it answers: its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "explore", "--home", str(home), "--run", run_id,
                               "--port", str(port), *options], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/config", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"phaselog explore did not start: {server.stdout.read().decode()}")
                time.sleep(0.2)
        yield url
    finally:
        server.kill()
        server.wait()


def start_prefect_server(tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    """A real `prefect server` on a free port with its state under tmp_path, answering its health check, and the
    environment that points a child process at it. The caller stops it (kill in its `finally`)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = clean_env(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=url, PREFECT_UI_ENABLED="false")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # a loaded 2-core machine has taken minutes to start one
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            return server, env
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                server.wait()
                raise AssertionError(f"prefect server on port {port} did not answer its health check")
            time.sleep(0.5)
