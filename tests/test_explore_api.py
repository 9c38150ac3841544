"""The exploration server's core against a copy of the real tiny run's home: chat with the latest good checkpoint
(and with a newer one as soon as it lands), journal entries that land in the store, or wait in the inbox while
another process holds the store and drain after, saved conversations, answering a stopped review, the limits,
the token, and `phaselog explore` refusing a non-loopback bind without one."""
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from phaselog.core.journal import INBOX, MAX_ENTRY_CHARS, drain_inbox, queue_entry
from phaselog.core.store import Store
from phaselog.model.checkpoint import latest_good_checkpoint, load_checkpoint, save_checkpoint
from phaselog.server.app import Limits, create_app
from phaselog.server.inbox import queued_entries
from tests.conftest import REPO

HOLD_STORE = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])  # a writer in another process: DuckDB lets no one else open the file
con.execute("BEGIN")
print("holding", flush=True)
sys.stdin.read()
"""


def copy_home(tiny_run, target):
    source, run_id, _ = tiny_run
    shutil.copytree(source, target)
    return target, run_id


@pytest.fixture(scope="module")
def explore(tiny_run, tmp_path_factory):
    """(client, home, run_id) on a copy of tiny_run's home, so entries written here stay out of other tests."""
    home, run_id = copy_home(tiny_run, tmp_path_factory.mktemp("explore") / "home")
    with TestClient(create_app(home, None, None)) as client:
        yield client, home, run_id


def journal_rows(home, entry_id):
    return Store(home).query("SELECT run_id, step, author, text, tags FROM journal WHERE id = ?", [entry_id])[1]


def test_config_names_the_newest_run_and_the_limits(explore):
    client, _, run_id = explore
    body = client.get("/api/config").json()
    assert body["run_id"] == run_id
    assert body["limits"]["max_prompt_chars"] == 2000 and body["limits"]["max_new_tokens"] == 256


def test_chat_replies_from_the_latest_good_checkpoint_and_names_its_step(explore):
    client, home, run_id = explore
    latest = latest_good_checkpoint(home / run_id / "checkpoints").step
    assert client.get(f"/api/runs/{run_id}/checkpoint").json()["step"] == latest
    response = client.post(f"/api/runs/{run_id}/chat", json={
        "prompt": "What did you read today?", "history": [{"role": "user", "text": "Hello"},
                                                          {"role": "model", "text": "Alice was tired."}],
        "temperature": 0.8, "top_k": 20, "max_new_tokens": 16})
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["step"] == latest and 0 < reply["tokens"] <= 16 and reply["seconds"] > 0
    assert isinstance(reply["reply"], str) and "\nUser:" not in reply["reply"]


def test_a_newer_good_checkpoint_is_picked_up_at_the_next_request(tiny_run, tmp_path):
    home, run_id = copy_home(tiny_run, tmp_path / "home")
    folder = home / run_id / "checkpoints"
    latest = latest_good_checkpoint(folder)
    with TestClient(create_app(home, run_id, None)) as client:
        chat = {"prompt": "Hi", "max_new_tokens": 4}
        assert client.post(f"/api/runs/{run_id}/chat", json=chat).json()["step"] == latest.step
        # what training does: another atomic checkpoint with its completion marker
        save_checkpoint(folder, latest.step + 10, load_checkpoint(latest.path))
        assert client.post(f"/api/runs/{run_id}/chat", json=chat).json()["step"] == latest.step + 10
        # a half-written newer one (no marker yet) is not talked to
        (folder / f"step_{latest.step + 20:07d}.pt").write_bytes(b"partial")
        assert client.get(f"/api/runs/{run_id}/checkpoint").json()["step"] == latest.step + 10


def test_a_journal_entry_lands_in_the_store(explore):
    client, home, run_id = explore
    response = client.post(f"/api/runs/{run_id}/journal", json={"text": "<b>loss</b> flattens", "step": 40,
                                                                 "tags": ["check-in"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["queued"] is False
    assert journal_rows(home, body["entry"]["id"]) == [(run_id, 40, "human", "<b>loss</b> flattens", ["check-in"])]
    assert not list((home / INBOX).glob("*.json"))


def test_a_journal_entry_waits_in_the_inbox_while_another_process_writes_then_drains(explore):
    client, home, run_id = explore
    holder = subprocess.Popen([sys.executable, "-c", HOLD_STORE, str(Store(home).path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        response = client.post(f"/api/runs/{run_id}/journal", json={"text": "written during a live write",
                                                                     "step": 20})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["queued"] is True
        assert [e["id"] for e in queued_entries(home, run_id)] == [body["entry"]["id"]]
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    # the background retry writes it once the other writer is gone
    for _ in range(100):
        if not queued_entries(home, run_id):
            break
        time.sleep(0.1)
    assert journal_rows(home, body["entry"]["id"]) == [(run_id, 20, "human", "written during a live write", [])]

    # draining again (the flow after a segment, a second server) writes each entry id once
    entry = {**body["entry"], "created_at": datetime.fromisoformat(body["entry"]["created_at"])}
    queue_entry(home, entry)
    assert drain_inbox(Store(home)) == 1
    assert len(journal_rows(home, entry["id"])) == 1


def test_a_saved_conversation_is_a_human_entry_with_both_sides_and_the_step(explore):
    client, home, run_id = explore
    messages = [{"role": "user", "text": "Who is Alice?"}, {"role": "model", "text": "the rabbit said"}]
    response = client.post(f"/api/runs/{run_id}/conversations", json={"messages": messages, "step": 60,
                                                                       "tags": ["bias"]})
    assert response.status_code == 201, response.text
    [(_, step, author, text, tags)] = journal_rows(home, response.json()["entry"]["id"])
    assert (step, author, tags) == (60, "human", ["conversation", "bias"])
    assert "step 60" in text and "User: Who is Alice?" in text and "Model: the rabbit said" in text


def test_limits_answer_413_422_429_and_404_with_a_sentence(tiny_run, explore):
    client, _, run_id = explore
    chat = f"/api/runs/{run_id}/chat"
    too_long = client.post(chat, json={"prompt": "x" * 2001})
    assert too_long.status_code == 413 and "2,000" in too_long.json()["detail"]
    too_many = client.post(chat, json={"prompt": "hi", "max_new_tokens": 257})
    assert too_many.status_code == 422 and "limit of 256" in too_many.json()["detail"]
    wrong_type = client.post(chat, json={"prompt": "hi", "temperature": "hot"})
    assert wrong_type.status_code == 422 and "temperature" in wrong_type.json()["detail"]
    entry = client.post(f"/api/runs/{run_id}/journal", json={"text": "x" * (MAX_ENTRY_CHARS + 1)})
    assert entry.status_code == 413 and "shorten" in entry.json()["detail"]
    assert client.post("/api/runs/no-such-run/chat", json={"prompt": "hi"}).status_code == 404

    home = tiny_run[0]  # read-only use: chats write nothing
    with TestClient(create_app(home, run_id, None, Limits(chats_per_minute=2))) as limited:
        codes = [limited.post(chat, json={"prompt": "hi", "max_new_tokens": 2}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


def test_a_set_token_is_required_on_every_request(tiny_run):
    home, run_id, _ = tiny_run
    with TestClient(create_app(home, run_id, "s3cret")) as client:
        refused = client.get("/api/config")
        assert refused.status_code == 401 and "token" in refused.json()["detail"]
        assert client.get("/api/config", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/config", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        # the printed URL carries ?token=; the cookie it sets lets the page's own requests through
        assert client.get("/api/config?token=s3cret").status_code == 200
        assert client.get(f"/api/runs/{run_id}/checkpoint").status_code == 200


def test_answering_a_stopped_review_starts_phaselog_review_which_records_it(tiny_run, tmp_path):
    home, run_id = copy_home(tiny_run, tmp_path / "home")
    store = Store(home)
    store.replace_rows("reviews", [{"run_id": run_id, "step": 60, "status": "pending", "reasons": "[]",
                                    "description": "drill", "flow_run_id": None}], "false", [])
    with TestClient(create_app(home, run_id, None)) as client:
        # still marked running: the review would wait in a Prefect flow run, and the harness's run is not paused
        running = client.post(f"/api/runs/{run_id}/review", json={"decision": "stop", "note": "x"})
        assert running.status_code == 409 and "Prefect" in running.json()["detail"]
        store.execute("UPDATE runs SET status = 'awaiting_review' WHERE run_id = ?", [run_id])
        answer = client.post(f"/api/runs/{run_id}/review", json={"decision": "stop", "note": "a drill, stopping"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["answered_via"] == "cli" and "review.log" in body["message"]
    for _ in range(600):  # the detached child is its own process: watch the store
        if store.query("SELECT status FROM runs WHERE run_id = ?", [run_id])[1] == [("stopped",)]:
            break
        time.sleep(0.1)
    assert store.query("SELECT status, decision, note FROM reviews WHERE run_id = ?", [run_id])[1] == [
        ("answered", "stop", "a drill, stopping")], (home / run_id / "review.log").read_text()
    assert store.query("SELECT status FROM runs WHERE run_id = ?", [run_id])[1] == [("stopped",)]


def test_explore_refuses_a_non_loopback_bind_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PHASELOG_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "phaselog.cli", "explore", "--host", "0.0.0.0", "--home",
                           str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--host 0.0.0.0" in done.stderr and "--token" in done.stderr and "127.0.0.1" in done.stderr
    assert done.stdout == ""  # refused before serving anything
