"""Pause on health. End to end in real processes: with understanding.pause_on [health_critical], a run whose loss
turns non-finite stops before the bad update, pauses under a real `prefect server` with the bias review's form,
and the answer (stop) lands in `reviews`, the journal (tagged health) and the run's status.

The fault is the NaN learning rate of tests/test_understanding.py, injected into the `phaselog run` process: the
run's own code trains, checkpoints, diverges and asks. And which health verdicts pause, per pause_on, over a real
store's health rows."""
import json
import subprocess
import sys
import time

import torch
import yaml

from phaselog.core.reviews import answer_review, request_review
from phaselog.core.store import Store
from phaselog.model.checkpoint import checkpoint_path, is_good, load_checkpoint
from phaselog.understanding.health_review import with_health
from tests.conftest import REPO, tiny_config_dict
from tests.processes import start_prefect_server
from tests.test_review_pause import answer_with_the_prefect_api, finished

# update 26 uses a NaN lr (batch position 25) and writes NaN weights: the loss of step 27 is NaN
PHASELOG_WITH_FAULT = """
import sys
import phaselog.model.train as training
schedule = training.lr_multiplier
training.lr_multiplier = lambda step, t: schedule(step, t) * (float("nan") if step == 25 else 1.0)
from phaselog.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_non_finite_loss_pauses_in_prefect_and_is_answered_with_the_review_form(shared_corpus, tmp_path):
    raw = tiny_config_dict(shared_corpus, end_step=40)
    raw["evaluation"] = {"enabled": False}
    raw["review"] = {"poll_seconds": 1, "data_windows": 4, "probe": False}
    raw["understanding"]["pause_on"] = ["health_critical"]
    config = tmp_path / "health.yaml"
    config.write_text(yaml.safe_dump(raw))
    server, env = start_prefect_server(tmp_path)
    run = None
    try:
        home = tmp_path / "home"
        run = subprocess.Popen([sys.executable, "-c", PHASELOG_WITH_FAULT, "run", str(config), "--run-id", "nan",
                                "--home", str(home)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        store, review = Store(home), []
        for _ in range(1200):
            if store.exists() and store.schema_is_current():  # migrations commit one by one: wait for the last
                review = store.query("SELECT step, status, flow_run_id, reasons, description, topics FROM reviews "
                                     "WHERE run_id = 'nan'")[1]
                if review:
                    break
            assert run.poll() is None, run.stdout.read()[-3000:]
            time.sleep(0.5)
        step, status, flow_run_id, reasons, description, topics = review[0]
        assert (step, status, topics) == (27, "pending", ["health"])
        assert json.loads(reasons)[0].startswith("health is critical at step 27: critical: the loss became non-finite")
        assert description.startswith("## The health monitor did its job: run `nan`, step 27")
        assert store.query("SELECT status FROM runs WHERE run_id = 'nan'")[1] == [("running",)]

        note = "NaN from the injected learning rate; stopping here."
        # what the Prefect UI's resume form sends: waits for the run to show Paused, then answers ReviewInput
        answer_with_the_prefect_api(home, env, "stop", note, flow_run_id)
        out = finished(run)
        assert "stopped at step 27 by review" in out
    finally:
        for process in (run, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert store.query("SELECT status FROM runs WHERE run_id = 'nan'")[1] == [("stopped",)]
    assert store.query("SELECT step, status, decision, note, answered_via FROM reviews WHERE run_id = 'nan'")[1] == [
        (27, "answered", "stop", note, "prefect")]
    _, journal = store.query("SELECT author, tags FROM journal WHERE run_id = 'nan' AND step = 27 AND text LIKE ?",
                             [f"%{note}%"])
    assert journal == [("human", ["health"])]
    _, health = store.query("SELECT step, status FROM health WHERE run_id = 'nan' AND status = 'critical'")
    assert health == [(27, "critical")]
    good = checkpoint_path(home / "nan" / "checkpoints", 20)
    assert is_good(good) and not checkpoint_path(home / "nan" / "checkpoints", 30).exists()
    assert all(torch.isfinite(t).all() for t in load_checkpoint(good)["model"].values())


def test_health_attention_pauses_after_n_segments_in_a_row_since_the_last_review(tiny_config, tmp_path):
    store = Store(tmp_path)
    store.migrate()
    config = tiny_config()
    statuses = {20: "needs_attention", 40: "healthy", 60: "needs_attention", 80: "needs_attention",
                100: "needs_attention", 120: "critical"}
    store.replace_rows("health", [{"run_id": "r", "step": step, "segment_start": step - 20, "status": status,
                                   "reasons": "[]", "first_flagged_step": None, "sentence": f"{status} at {step}"}
                                  for step, status in statuses.items()], "true", [])

    def reasons(pause_on, step):
        cfg = config.model_copy(update={"understanding": config.understanding.model_copy(
            update={"pause_on": pause_on, "pause_attention_segments": 2})})
        return with_health(store, "r", cfg, {"step": step, "reasons": ["a bias finding"], "description": "bias"})

    assert reasons(["bias"], 80)["reasons"] == ["a bias finding"] and reasons(["bias"], 80)["topics"] == ["bias"]
    assert reasons(["health_attention"], 60)["reasons"] == []  # one segment: the healthy one at 40 broke the run
    paused = reasons(["health_attention"], 80)
    assert paused["reasons"] == ["health has needed attention for 2 segments in a row (to step 80): "
                                 "needs_attention at 80"] and paused["topics"] == ["health"]
    assert paused["description"].startswith("## The health monitor did its job: run `r`, step 80")
    assert reasons(["health_critical"], 80)["reasons"] == []
    both = reasons(["bias", "health_critical"], 120)
    assert both["reasons"] == ["a bias finding", "health is critical at step 120: critical at 120"]
    assert both["topics"] == ["bias", "health"] and both["description"].startswith("bias\n\n## The health monitor")
    # an answered review at 80 restarts the count: 100 alone is one segment
    request_review(store, "r", 80, ["health"], "", None, ["health"])
    answer_review(store, "r", 80, "resume", "", "cli")
    assert reasons(["health_attention"], 100)["reasons"] == []
