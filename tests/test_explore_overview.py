"""The exploration server's read routes on a small store built here: the loss curve downsampled in SQL to at most
~500 points whatever the run's length, the journal's filters and its not-yet-written (queued) entries, and the
sentences that come back for an unknown run or a bad filter."""
import math
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from phaselog.core.journal import queue_entry
from phaselog.core.store import Store
from phaselog.server.app import create_app
from phaselog.server.overview import LOSS_POINTS

STEPS = 5_000


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = tmp_path_factory.mktemp("overview")
    store = Store(home)
    store.migrate()
    store.replace_rows("runs", [{"run_id": "long", "name": "long", "status": "running", "start_step": 0,
                                 "end_step": 10_000, "device": "cpu", "created_at": datetime(2026, 1, 1)}], "false", [])
    # a falling curve with one diverged step, which JSON cannot carry
    losses = [{"run_id": "long", "step": s, "loss": math.nan if s == 777 else 8 / math.log(s + 2)}
              for s in range(1, STEPS + 1)]
    store.replace_rows("metrics", losses, "false", [])
    store.replace_rows("evals", [{"run_id": "long", "step": s, "name": "val_bpb", "value": 3 - s / 5000}
                                 for s in (1000, 2000, 3000)], "false", [])
    store.replace_rows("journal", [
        {"id": "m1", "run_id": "long", "step": 1000, "author": "model", "text": "a reflection",
         "tags": ["reflection"], "created_at": datetime(2026, 1, 1, 1)},
        {"id": "h1", "run_id": "long", "step": 2500, "author": "human", "text": "a note", "tags": ["loss"],
         "created_at": datetime(2026, 1, 1, 2)}], "false", [])
    # what the server does while a run holds the store: the entry waits in the inbox
    queue_entry(home, {"id": "q1", "run_id": "long", "step": 3000, "author": "human", "text": "queued note",
                       "tags": ["loss", "live"], "created_at": datetime(2026, 1, 1, 3)})
    with TestClient(create_app(home)) as client:
        yield client


def test_loss_curve_is_downsampled_to_at_most_500_points_spanning_the_run(client):
    overview = client.get("/api/runs/long/overview").json()
    loss = overview["loss"]
    assert LOSS_POINTS // 2 <= len(loss) <= LOSS_POINTS
    steps = [step for step, _ in loss]
    assert steps == sorted(steps) and steps[-1] == STEPS and steps[0] <= 10
    assert all(math.isfinite(value) for _, value in loss)
    assert loss[0][1] > loss[-1][1]  # the bucket means keep the curve's fall
    assert overview["val_bpb"] == [[1000, 2.8], [2000, 2.6], [3000, 2.4]]
    assert overview["run"]["latest_step"] == STEPS and overview["pending_review"] is None


def test_journal_filters_by_author_step_range_and_tag_and_shows_queued_entries(client):
    everything = client.get("/api/runs/long/journal").json()
    assert [(e["id"], e["queued"]) for e in everything["entries"]] == [("m1", False), ("h1", False), ("q1", True)]
    assert everything["tags"] == ["live", "loss", "reflection"]
    assert everything["entries"][2]["created_at"] == "2026-01-01 03:00:00"
    ids = lambda **query: [e["id"] for e in client.get("/api/runs/long/journal", params=query).json()["entries"]]
    assert ids(author="human") == ["h1", "q1"]
    assert ids(author="model") == ["m1"]
    assert ids(from_step=2000, to_step=2999) == ["h1"]
    assert ids(tag="loss") == ["h1", "q1"]
    assert ids(tag="loss", to_step=2600) == ["h1"]


def test_unknown_runs_and_bad_filters_answer_with_a_sentence(client):
    missing = client.get("/api/runs/nope/overview")
    assert missing.status_code == 404 and "GET /api/runs" in missing.json()["detail"]
    assert client.get("/api/runs/nope/journal").status_code == 404
    swapped = client.get("/api/runs/long/journal", params={"from_step": 50, "to_step": 10})
    assert swapped.status_code == 400 and "swap them" in swapped.json()["detail"]
    author = client.get("/api/runs/long/journal", params={"author": "robot"})
    assert author.status_code == 400 and "human or model" in author.json()["detail"]
    assert [r["run_id"] for r in client.get("/api/runs").json()] == ["long"]
