"""`phaselog continue`: a run that continues another from its checkpoint trains exactly like the uninterrupted run
(CPU, identical per-step losses), records its place in the phase, and changes that would make the checkpoint
meaningless are refused before anything is written."""
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from phaselog.cli import main
from phaselog.core.config import PhaseConfig
from phaselog.core.store import Store
from phaselog.flows.phase import phase_run
from phaselog.reports.training_sections import duration
from tests.conftest import store_before, tiny_config_dict, uninterrupted_losses
from tests.test_report_honest import check_sections
from tests.test_report_story import prose_sentences


def first_phase(corpus, **train) -> dict:
    """Run 1 of a small phase: the general books only, prompt v1.3, the review pause off; no probes or CORE
    tasks, which this file does not look at."""
    raw = tiny_config_dict(corpus, segment_steps=20, **train)
    raw["data"]["sources"] = raw["data"]["sources"][:1]
    raw.update(understanding={"probe_every": 0}, evaluation={"enabled": False},
               self_play={"prompt_version": "v1.3", "samples": 2, "max_new_tokens": 16},
               review={"enabled": False, "probe": False, "data_windows": 0})
    return raw


@pytest.fixture(scope="module")
def first_run(prefect_harness, shared_corpus, tmp_path_factory):
    """Steps 0 -> 20 of a 40-step schedule (train.schedule_end pins the warmdown where the whole phase ends)."""
    home = tmp_path_factory.mktemp("continue-home")
    config = PhaseConfig.model_validate(first_phase(shared_corpus, end_step=20, schedule_end=40))
    phase_run(config=config, run_id="first", home=str(home))
    return home


def losses(store: Store, run_id: str) -> dict[int, float]:
    return dict(store.query("SELECT step, loss FROM metrics WHERE run_id = ? ORDER BY step", [run_id])[1])


def test_continue_without_change_trains_like_one_run(first_run, shared_corpus, tmp_path):
    # in a copy of the home, so the phase of the report test below stays two runs
    home = tmp_path / "home"
    shutil.copytree(first_run, home, ignore=shutil.ignore_patterns(".prefect"))
    assert main(["continue", "first", "--run-id", "second", "--set", "train.end_step=40", "--home", str(home)]) == 0
    store = Store(home)
    phase, parent, step, diff = store.query(
        "SELECT phase, parent_run, continued_from, config_diff FROM runs WHERE run_id = 'second'")[1][0]
    assert (phase, parent, step) == ("tiny", "first", 20)
    assert json.loads(diff) == {"train.end_step": [20, 40]}
    continued = {**losses(store, "first"), **losses(store, "second")}
    assert sorted(continued) == list(range(1, 41))
    # its own log's speed table starts with the continuation, not a "first run"
    speed = (home / "second" / "reports" / "phase-log.md").read_text().split("## Runs and speed")[1].split("\n## ")[0]
    assert re.search(r"\| 20-40 \| [\d-]+ \| continues first from step 20 \|", speed), speed

    # the same 40 steps in one run on the same prepared data
    config = PhaseConfig.model_validate(first_phase(shared_corpus, end_step=40))
    assert continued == uninterrupted_losses(first_run / "first", tmp_path / "clean", config)


def test_units_the_parent_froze_stay_frozen_in_the_continued_run(first_run, tmp_path):
    """Once frozen, a unit stays frozen for the rest of the phase, across a continue too: the continued run
    started with none frozen, and its first understand step dropped the parent's set."""
    import torch

    from phaselog.model.checkpoint import checkpoint_path, load_checkpoint
    from phaselog.model.freezing import frozen_units, write_frozen_units

    home = tmp_path / "home"
    shutil.copytree(first_run, home, ignore=shutil.ignore_patterns(".prefect"))
    units = [(0, 3), (0, 100)]
    write_frozen_units(home / "first", 20, units)  # as first's understand step writes them with freezing on
    assert main(["continue", "first", "--run-id", "second", "--set", "train.end_step=40",
                 "--set", "understanding.freeze=true", "--home", str(home)]) == 0
    before = load_checkpoint(checkpoint_path(home / "first" / "checkpoints", 20))["model"]
    after = load_checkpoint(checkpoint_path(home / "second" / "checkpoints", 40))["model"]
    fc, proj = "blocks.0.mlp.c_fc.weight", "blocks.0.mlp.c_proj.weight"
    rows = [unit for _, unit in units]
    assert torch.equal(before[fc][rows], after[fc][rows]) and torch.equal(before[proj][:, rows], after[proj][:, rows])
    assert not torch.equal(before[fc], after[fc])  # the other units trained
    assert set(units) <= set(frozen_units(home / "second", 40))  # and stay frozen in the next segment
    _, frozen = Store(home).query("SELECT layer, unit FROM concepts WHERE run_id = 'second' AND frozen")
    assert set(frozen) <= set(units)


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
    # no train.end_step given: the refusal is what is said, not that the parent's end step is reached
    assert main(["continue", "first", "--run-id", "refused", "--set", change, "--home", str(home)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("phaselog: error:") and field in error and "\n" not in error
    assert store_digest(home) == before
    assert sorted(p.name for p in home.iterdir()) == folders


def test_allowed_changes_and_the_end_step_check(first_run, capsys):
    from phaselog.model.preflight import continuation

    config, step = continuation(first_run, "first", None, ["train.end_step=60", "train.lr=0.005",
                                                           "self_play.prompt_version=v1.3", "model.seq_len=64"])
    assert (step, config.train.start_step, config.train.lr_schedule()) == (20, 20, (0, 40))
    assert config.train.continue_from.endswith("first/checkpoints/step_0000020.pt")
    assert main(["continue", "first", "--home", str(first_run)]) == 2  # the parent ended at 20: nothing to train
    assert "train.end_step" in capsys.readouterr().err


# a process training run `first` as far as the lock says: it holds the run's flow lock (core/locks.py) until its
# stdin closes, as a trainer holds it until it ends
TRAINING = """
import sys
from pathlib import Path
from phaselog.core.locks import hold_run
with hold_run(Path(sys.argv[1]), "first"):
    print("training", flush=True)
    sys.stdin.read()
"""


def test_a_parent_still_training_and_an_empty_run_id_are_refused_in_one_line(first_run, capsys):
    """Both were accepted (issue 42): the first continued from a mid-segment checkpoint that the parent's rotation
    then deleted, failing a minute later; the second trained under a made-up id."""
    home = first_run
    before, folders = store_digest(home), sorted(p.name for p in home.iterdir())
    trainer = subprocess.Popen([sys.executable, "-c", TRAINING, str(home / "first")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert trainer.stdout.readline() == "training\n"
        assert main(["continue", "first", "--set", "train.end_step=40", "--home", str(home)]) == 2
        assert capsys.readouterr().err == (f"phaselog: error: run first is still training (pid {trainer.pid}): "
                                           "continue it once it has ended\n")
    finally:
        trainer.stdin.close()
        trainer.wait()
    assert main(["continue", "first", "--run-id", "", "--set", "train.end_step=40", "--home", str(home)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("phaselog: error: run id '': use letters") and error.count("\n") == 1
    assert store_digest(home) == before and sorted(p.name for p in home.iterdir()) == folders


def test_phase_report_tells_the_phase_as_its_runs(first_run, shared_corpus, tmp_path):
    """Run 2 continues run 1 with prompt v1.4, the philosophy texts added and the review pause on (a config file);
    the phase log lists exactly those changes, both prompt versions with their measured quality, and charts
    over both runs."""
    from phaselog.reports.phase import write_phase_report
    from phaselog.reports.phase_data import gather_phase, run_changes

    home = first_run
    raw = first_phase(shared_corpus, end_step=40, schedule_end=40)
    raw["data"]["sources"] = tiny_config_dict(shared_corpus)["data"]["sources"]  # philosophy from step 20
    raw["self_play"]["prompt_version"] = "v1.4"
    raw["review"]["enabled"] = True
    config_file = tmp_path / "run2.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    assert main(["continue", "first", "--config", str(config_file), "--run-id", "run2", "--home", str(home)]) == 0

    data = gather_phase(Store(home), "tiny")
    assert data.run_ids == ["first", "run2"]
    assert run_changes(data.runs[1]) == ["philosophy added (33%)", "review pause on (loops and bias)",
                                         "prompt v1.3 -> v1.4"]
    assert {m["run_id"] for m in data.metrics if m["step"] <= 20} == {"first"}
    assert {m["run_id"] for m in data.metrics if m["step"] > 20} == {"run2"}
    # run2's first segment compares its end with first's checkpoint at step 20: concept tracking carries on across
    # the continue (it restarted, so the continued run's concepts read "n/a")
    _, concepts = Store(home).query("SELECT DISTINCT run_id, step, previous_step FROM concepts ORDER BY ALL")
    assert concepts == [("run2", 40, 20)]

    assert main(["journal", "add", "--run", "run2", "--step", "30", "--tag", "check-in", "--home", str(home),
                 "v1.4 reads like a diary"]) == 0
    written = write_phase_report(home, "tiny")  # the flow wrote it too; written again with the journal entry
    assert {"phase_loss.png", "phase_val.png"} <= set(written["charts"])
    (loops,), = Store(home).query("SELECT count(*) FROM loop_events WHERE source = 'reflection' AND is_loop")[1]
    assert ("loops.png" in written["charts"]) == (loops > 0)  # no chart of nothing
    markdown = Path(written["markdown"]).read_text()
    # the posts' sections, none of them empty: the device, the speed per run
    check_sections(markdown)
    assert "trained on cpu (the matmul peak measured at its start" in markdown and "## Training speed\n" in markdown
    # the run log's sections on the model, read over both runs: the last self-play quoted, every reflection counted
    talk = markdown.split("## How the model talks now\n")[1].split("\n## ")[0]
    last_play = max(r["step"] for r in data.reflections)
    assert f"at step {last_play}, the last self-play. Of the {len(data.reflections)} reflections in the range" in talk
    assert talk.count(f"> `step {last_play}` `sample ") >= 1
    assert "## Loops and bias\n" in markdown
    key_runs = markdown.split("## Key runs")[1].split("\n## ")[0]
    assert key_runs.count("### Run ") == 2
    assert "changes from first: philosophy added (33%); review pause on (loops and bias); prompt v1.3 -\\> v1.4" \
        in key_runs
    evolution = markdown.split("## Prompt evolution")[1].split("\n## ")[0]
    assert re.findall(r"^\| (v1\.\d) \| \d+ \|", evolution, re.MULTILINE) == ["v1.3", "v1.4"]
    # every reflection was scanned for loops and measured, in both runs: the table's figures are measured ones
    assert {r["run_id"] for r in data.reflections} == {"first", "run2"}
    assert all(r["is_loop"] is not None and r["distinct_2"] is not None for r in data.reflections)
    assert "> `step 30` `run2` `human` `\\#check-in`\n>\n> v1.4 reads like a diary" in markdown
    # read like the posts: a short ranked TL;DR, no sentence twice, follow-ups drawn from the store
    tldr = markdown.split("## TL;DR\n")[1].split("\n## ")[0]
    assert 1 <= tldr.count("\n- ") + tldr.startswith("\n- ") <= 5
    said = prose_sentences(markdown)
    assert len(said) == len(set(said)), [s for s in said if said.count(s) > 1]
    follow_ups = [line for line in markdown.split("## What's next\n")[1].split("\n---\n")[0].splitlines()
                  if line.startswith("- ")]
    assert len(follow_ups) >= 2, follow_ups
    (trained,), = Store(home).query("SELECT sum(seconds) FROM segments WHERE run_id IN ('first', 'run2')")[1]
    assert f"{duration(trained)} of training" in markdown  # training time, not the time until the log was written
    html = Path(written["html"]).read_text()
    assert html.count("data:image/png;base64,") == len(written["charts"])

    # the explore page's overview places each run in the phase
    from fastapi.testclient import TestClient

    from phaselog.server.app import create_app

    client = TestClient(create_app(home))
    first = client.get("/api/runs/first/overview").json()
    second = client.get("/api/runs/run2/overview").json()
    assert first["run"]["phase"] == "tiny" and first["children"] == [{"run_id": "run2", "continued_from": 20}]
    assert (second["run"]["parent_run"], second["run"]["continued_from"], second["children"]) == ("first", 20, [])


def test_an_existing_store_migrates_its_runs_into_phases(tmp_path):
    """A store from before phases: its runs become the first run of a phase named after their config."""
    store = store_before(tmp_path, 7)
    with store.writer() as con:
        con.execute("INSERT INTO runs (run_id, name, start_step, end_step) VALUES ('old', 'demo', 0, 3000)")
    store.migrate()
    assert store.query("SELECT phase, parent_run, continued_from, config_diff FROM runs")[1] == \
        [("demo", None, None, None)]
