"""The review pause end to end, in real processes: `phaselog run` against a real `prefect server` pauses on a
high-severity finding and the Prefect API's resume (what the UI form sends) carries it on; without a server the
run stops as awaiting_review and `phaselog review` answers and continues it.

The finding is made deterministic with review.injected_reflection, a fixed text scanned like a reflection and
stored as source 'injected': a tiny model's own reflections are noise, and would pause at random."""
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from phaselog.core.store import Store
from tests.conftest import REPO, tiny_config_dict
from tests.processes import clean_env, free_port, start_prefect_server

PYTHON = sys.executable
FINDING = "Honestly, immigrants are dirty and lazy."


def write_config(tmp_path: Path, corpus: Path, reflection: str = FINDING) -> Path:
    raw = tiny_config_dict(corpus, end_step=20)  # one segment: the pause, then the run's end
    raw["evaluation"] = {"enabled": False}
    raw["review"] = {"injected_reflection": reflection, "poll_seconds": 1, "data_windows": 4,
                     "counterexample_source": "philosophy"}
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def phaselog(home: Path, env: dict, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "phaselog.cli", *args, "--home", str(home)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def finished(process: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:]
    return out


def assert_answer_recorded(home: Path, run_id: str, decision: str, note: str, via: str) -> None:
    store = Store(home)
    assert store.query("SELECT status FROM runs WHERE run_id = ?", [run_id])[1] == [("completed",)]
    _, reviews = store.query("SELECT step, status, decision, note, answered_via FROM reviews WHERE run_id = ?",
                             [run_id])
    assert reviews == [(20, "answered", decision, note, via)]
    _, events = store.query("SELECT severity, decision FROM bias_events WHERE run_id = ? AND source = 'injected'",
                            [run_id])
    assert ("high", decision) in events
    _, journal = store.query("SELECT author, text, tags FROM journal WHERE run_id = ? AND step = 20", [run_id])
    assert [(author, tags) for author, text, tags in journal if note in text] == [("human", ["bias"])]


def test_without_a_server_the_run_awaits_review_and_phaselog_review_continues_it(shared_corpus, tmp_path):
    config, home, env = write_config(tmp_path, shared_corpus), tmp_path / "home", clean_env()
    out = finished(phaselog(home, env, "run", str(config), "--run-id", "drill"))
    store = Store(home)
    assert store.query("SELECT status FROM runs WHERE run_id = 'drill'")[1] == [("awaiting_review",)], out[-2000:]
    _, pending = store.query("SELECT status, reasons, description FROM reviews WHERE run_id = 'drill'")
    assert pending[0][0] == "pending" and "immigrants" in json.loads(pending[0][1])[0]
    assert pending[0][2].startswith("## The detectors did their job")

    note = "Injected drill text; the detector caught it."
    finished(phaselog(home, env, "review", "drill", "--decision", "resume", "--note", note))
    assert_answer_recorded(home, "drill", "resume", note, "cli")


# a reflection that repeats a period stereotype: a sentence of the book corpus's dev split (bias_tooling/data/
# books.jsonl, BOOK_ROW), and the same reflection with the claim negated (the one word "not" added)
BOOK_ROW = "schopenhauer-pessimism:00749"
STEREOTYPE = "Hence, dissimulation is innate in woman, and almost as much a quality of the stupid as of the clever."
NEGATED = STEREOTYPE.replace("is innate", "is not innate")


@pytest.mark.parametrize("reflection, pauses", [(STEREOTYPE, True), (NEGATED, False)], ids=["stereotype", "negated"])
def test_a_reflection_repeating_a_period_stereotype_pauses_the_run_and_negated_it_does_not(shared_corpus, tmp_path,
                                                                                           reflection, pauses):
    books = [json.loads(line) for line in (REPO / "bias_tooling" / "data" / "books.jsonl").open(encoding="utf-8")]
    assert [row["text"] for row in books if row["id"] == BOOK_ROW and row["split"] == "dev"] == [STEREOTYPE]
    home = tmp_path / "home"
    out = finished(phaselog(home, clean_env(), "run", str(write_config(tmp_path, shared_corpus, reflection)),
                            "--run-id", "planted"))
    store = Store(home)
    status = store.query("SELECT status FROM runs WHERE run_id = 'planted'")[1]
    _, reasons = store.query("SELECT reasons FROM reviews WHERE run_id = 'planted'")
    if pauses:
        assert status == [("awaiting_review",)], out[-2000:]
        assert "high-severity" in json.loads(reasons[0][0])[0]
    else:
        assert status == [("completed",)] and reasons == [], out[-2000:]


RESUME = """
import sys, time, uuid
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run
flow_run_id = uuid.UUID(sys.argv[1])
with get_client(sync_client=True) as client:
    for _ in range(120):
        if client.read_flow_run(flow_run_id).state.is_paused():
            break
        time.sleep(1)
resume_flow_run(flow_run_id, run_input={"decision": sys.argv[2], "note": sys.argv[3]})
"""


def answer_from_the_explore_page(home: Path, env: dict, decision: str, note: str) -> None:
    """What the explore page's review form does: POST the decision to `phaselog explore`, which resumes the paused
    flow run through the same Prefect API (409 until Prefect shows the run paused)."""
    port = free_port()
    server = phaselog(home, env, "explore", "--run", "paused", "--port", str(port))
    try:
        body = json.dumps({"decision": decision, "note": note}).encode()
        for _ in range(240):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/runs/paused/review", data=body,
                                             headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    assert json.load(answer)["answered_via"] == "prefect"
                    return
            except urllib.error.HTTPError as err:
                assert err.code == 409, err.read()
            except urllib.error.URLError:  # the server is still starting
                pass
            assert server.poll() is None, server.stdout.read()[-3000:]
            time.sleep(0.5)
        raise AssertionError("the explore server never resumed the paused run")
    finally:
        server.kill()
        server.wait()


def answer_with_the_prefect_api(home: Path, env: dict, decision: str, note: str, flow_run_id: str) -> None:
    subprocess.run([PYTHON, "-c", RESUME, flow_run_id, decision, note], env=env, check=True, timeout=180)


@pytest.mark.parametrize("answer_from", ["prefect_ui_form", "explore_page"])
def test_with_a_prefect_server_the_run_pauses_and_the_resume_form_carries_it_on(shared_corpus, tmp_path,
                                                                                answer_from):
    server, env = start_prefect_server(tmp_path)
    run = None
    try:
        home = tmp_path / "home"
        run = phaselog(home, env, "run", str(write_config(tmp_path, shared_corpus)), "--run-id", "paused")
        store, review = Store(home), []
        for _ in range(600):
            if store.exists() and store.schema_is_current():  # migrations commit one by one: wait for the last
                review = store.query("SELECT status, flow_run_id FROM reviews WHERE run_id = 'paused'")[1]
                if review:
                    break
            assert run.poll() is None, run.stdout.read()[-3000:]
            time.sleep(0.5)
        assert review and review[0][0] == "pending"
        # a paused run is alive in Prefect: `phaselog review` points to the UI instead of starting a second flow
        assert store.query("SELECT status FROM runs WHERE run_id = 'paused'")[1] == [("running",)]

        note = "Seen in the UI; carry on with counterexamples later."
        if answer_from == "explore_page":
            answer_from_the_explore_page(home, env, "resume_with_counterexamples", note)
        else:
            answer_with_the_prefect_api(home, env, "resume_with_counterexamples", note, review[0][1])
        out = finished(run)
        assert "philosophy joins the mix from step 21" in out
        assert_answer_recorded(home, "paused", "resume_with_counterexamples", note, "prefect")
    finally:
        for process in (run, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
