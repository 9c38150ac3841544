"""The understanding module on real tiny training runs: monitoring rows, health verdicts under injected faults,
learning pattern, shimmer, concepts and freezing."""
import json
import math
import shutil

import pytest
import torch

import phaselog.model.train as training
from phaselog.core.errors import TrainingDiverged
from phaselog.core.runs import ingest_segment, read_segment_metrics, register_run
from phaselog.core.store import Store
from phaselog.datasets.prepare import prepare_data
from phaselog.model.checkpoint import checkpoint_path, is_good, load_checkpoint, save_checkpoint
from phaselog.model.freezing import write_frozen_units
from phaselog.understanding.health import assess_health
from phaselog.understanding.segment import record_divergence, understand_segment

PEAK = 1e11


@pytest.fixture
def run(tiny_config, tmp_path):
    """A prepared run without Prefect: (config maker, run_dir, store, train); `train(config)` trains and understands
    every segment the way the flow does, and returns the understand summaries."""
    store = Store(tmp_path)
    store.migrate()
    run_dir = tmp_path / "r"
    prepare_data(tiny_config(), run_dir)

    def train(config):
        register_run(store, "r", config, run_dir, "cpu", PEAK)
        summaries = []
        for index, (start, end) in enumerate(config.segments()):
            summary = training.train_segment(run_dir, config, start, end, PEAK, log=lambda *_: None)
            ingest_segment(store, "r", run_dir, index, summary, 0.0, None)
            summaries.append(understand_segment(store, "r", run_dir, config, start, end))
        return summaries
    return tiny_config, run_dir, store, train


def fault_at(positions: range, factor: float):
    """The real schedule, multiplied by `factor` at the given global step positions."""
    schedule = training.lr_multiplier
    return lambda step, t: schedule(step, t) * (factor if step in positions else 1.0)


def test_healthy_tiny_run_has_stats_pattern_shimmer_and_no_critical(tiny_run):
    home, run_id, config = tiny_run
    store = Store(home)
    _, stats = store.query("SELECT count(*), count(DISTINCT step), min(mlp_sparsity), max(attn_entropy) "
                           "FROM activation_stats WHERE run_id = ?", [run_id])
    assert stats[0][:2] == (6, 6)  # probe every 10 of 60 steps, one layer
    assert 0 < stats[0][2] < 1 and 0 < stats[0][3] <= 1
    _, health = store.query("SELECT status FROM health WHERE run_id = ? ORDER BY step", [run_id])
    statuses = [s for (s,) in health]
    assert len(statuses) == 3 and "critical" not in statuses and statuses.count("needs_attention") <= 1
    _, patterns = store.query("SELECT pattern, sentence FROM learning_pattern WHERE run_id = ?", [run_id])
    assert {p for p, _ in patterns} == {"uniform"} and "layer 0 most active" in patterns[0][1]
    _, shimmer = store.query("SELECT step, previous_step, layer, shimmer FROM shimmer_history WHERE run_id = ? "
                             "ORDER BY step", [run_id])
    lines = [json.loads(line) for line in (home / run_id / "shimmer_history.jsonl").read_text().splitlines()]
    assert [(r["step"], r["previous_step"], r["layer"], r["shimmer"]) for r in lines] == shimmer
    assert [s for s, *_ in shimmer] == [10, 20, 30, 40, 50, 60] and all(0 < r[3] < 2 for r in shimmer)


def test_learning_rate_spike_is_flagged_within_50_steps(run, monkeypatch):
    make, run_dir, store, train = run
    monkeypatch.setattr(training, "lr_multiplier", fault_at(range(60, 63), 50.0))
    summaries = train(make(end_step=120, segment_steps=60))
    assert summaries[0]["status"] == "healthy"
    assert summaries[1]["status"] in ("needs_attention", "critical")
    _, rows = store.query("SELECT first_flagged_step, reasons FROM health WHERE run_id = 'r' AND step = 120")
    assert rows[0][0] <= 62 + 50
    assert json.loads(rows[0][1])[0]["code"] in {"loss_spike", "grad_norm_explosion", "activation_rms_growth",
                                                 "update_ratio_high"}


def test_injected_nan_is_critical_and_the_last_good_checkpoint_survives(run, monkeypatch):
    make, run_dir, store, train = run
    config = make()
    # a NaN learning rate at position 25 makes update 26 write NaN weights: the loss of step 27 is NaN
    monkeypatch.setattr(training, "lr_multiplier", fault_at(range(25, 26), float("nan")))
    register_run(store, "r", config, run_dir, "cpu", PEAK)
    training.train_segment(run_dir, config, 0, 20, PEAK, log=lambda *_: None)
    with pytest.raises(TrainingDiverged, match="diverged at step 27.*last good checkpoint \\(step 20\\)") as caught:
        training.train_segment(run_dir, config, 20, 40, PEAK, log=lambda *_: None)
    sentence = record_divergence(store, "r", 20, caught.value)
    assert sentence.startswith("critical: the loss became non-finite")
    _, rows = store.query("SELECT step, status, reasons FROM health WHERE run_id = 'r'")
    assert rows[0][:2] == (27, "critical") and json.loads(rows[0][2])[0]["code"] == "non_finite_loss"
    good = checkpoint_path(run_dir / "checkpoints", 20)
    assert is_good(good) and not checkpoint_path(run_dir / "checkpoints", 30).exists()
    assert all(torch.isfinite(t).all() for t in load_checkpoint(good)["model"].values())


def test_loss_spike_needs_more_than_four_steps(tiny_config):
    cfg = tiny_config().understanding
    base = [{"step": s, "loss": 3.0, "grad_norm": 1.0} for s in range(1, 101)]
    for length, flagged in ((4, False), (5, True)):
        spike = [{"step": 100 + s, "loss": 6.5 if s <= length else 3.0, "grad_norm": 1.0} for s in range(1, 11)]
        health = assess_health(base + spike, [], 101, 110, cfg)
        assert (health["status"] == "needs_attention") == flagged
    assert "spiked to 2.2x its rolling mean for 5 steps" in health["sentence"]


def test_probe_rows_are_identical_whether_a_phase_is_cut_into_segments_or_not(run, tmp_path):
    make, run_dir, _, _ = run
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    config = make()
    training.train_segment(run_dir, config, 0, 40, PEAK, log=lambda *_: None)
    training.train_segment(other, config, 0, 20, PEAK, log=lambda *_: None)
    training.train_segment(other, config, 20, 40, PEAK, log=lambda *_: None)
    one = read_segment_metrics(run_dir, 1, 40, kind="probes").to_pylist()
    two = read_segment_metrics(other, 1, 40, kind="probes").to_pylist()
    assert [r["step"] for r in one] == [10, 20, 30, 40]
    assert one == two  # shimmer at step 30 included: the second segment re-probes its starting weights


def test_concepts_get_tiers_and_no_concepts_is_a_valid_first_state(run):
    make, _, store, train = run
    summaries = train(make())
    assert "no concepts ready yet" in summaries[0]["sentence"]
    _, tiers = store.query("SELECT step, tier, count(*) FROM concepts WHERE run_id = 'r' GROUP BY ALL ORDER BY ALL")
    assert {step for step, *_ in tiers} == {40, 60}
    _, ranges = store.query("SELECT min(stability), max(stability), min(active_fraction), max(active_fraction) "
                            "FROM concepts WHERE run_id = 'r'")
    low, high, active_low, active_high = ranges[0]
    assert -1 <= low < high <= 1 and 0.01 <= active_low and active_high <= 0.5


def test_a_continued_run_tracks_concepts_on_from_its_parent_as_one_run_would(run, tmp_path):
    """Steps 0 -> 60 as one run, then 40 -> 60 again as a run continuing its checkpoint at 40: the continued run's
    concepts at 60 are the uninterrupted run's, tiers included (read against the parent's stabilities at 40).
    Tracking restarted on a continue: the continued run had no concepts for its first segment."""
    make, run_dir, store, train = run

    def freezing_at_90(config):  # a bar the tiny run's concepts reach twice by step 60
        return config.model_copy(update={"understanding": config.understanding.model_copy(
            update={"concept_freeze": 0.9})})
    train(freezing_at_90(make(end_step=60, segment_steps=20)))
    child_dir = tmp_path / "c"
    for prepared in ("shards", "tokenizer"):
        shutil.copytree(run_dir / prepared, child_dir / prepared)
    child = freezing_at_90(make(end_step=60, segment_steps=20, start_step=40, schedule_start=0,
                                continue_from=str(checkpoint_path(run_dir / "checkpoints", 40))))
    training.train_segment(child_dir, child, 40, 60, PEAK, log=lambda *_: None)
    understand_segment(store, "c", child_dir, child, 40, 60)
    columns = "concept_id, previous_step, tier, stability, active_fraction"
    _, one_run = store.query(f"SELECT {columns} FROM concepts WHERE run_id = 'r' AND step = 60 ORDER BY concept_id")
    _, continued = store.query(f"SELECT {columns} FROM concepts WHERE run_id = 'c' AND step = 60 ORDER BY concept_id")
    assert one_run and continued == one_run
    # a candidate needs the stability before too: the parent's, at 40
    assert "candidate_to_freeze" in {tier for _, _, tier, _, _ in continued}


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_frozen_units_stay_bit_identical_for_100_steps_while_the_rest_trains(run, optimizer):
    make, run_dir, _, _ = run
    # weight decay on: AdamW would shrink a frozen weight even with a zero gradient
    config = make(end_step=120, segment_steps=20, weight_decay=0.1, optimizer=optimizer)
    config = config.model_copy(update={"understanding": config.understanding.model_copy(update={"freeze": True})})
    training.train_segment(run_dir, config, 0, 20, PEAK, log=lambda *_: None)
    units = [(0, 3), (0, 100), (0, 255)]
    write_frozen_units(run_dir, 20, units)
    training.train_segment(run_dir, config, 20, 120, PEAK, log=lambda *_: None)
    before = load_checkpoint(checkpoint_path(run_dir / "checkpoints", 20))["model"]
    after_state = load_checkpoint(checkpoint_path(run_dir / "checkpoints", 120))
    after = after_state["model"]
    fc, proj = "blocks.0.mlp.c_fc.weight", "blocks.0.mlp.c_proj.weight"
    rows = [unit for _, unit in units]
    assert torch.equal(before[fc][rows], after[fc][rows]) and torch.equal(before[proj][:, rows], after[proj][:, rows])
    others = [u for u in range(before[fc].size(0)) if u not in rows]
    assert (before[fc][others] != after[fc][others]).float().mean() > 0.9
    assert not torch.equal(before["blocks.0.attn.c_qkv.weight"], after["blocks.0.attn.c_qkv.weight"])
    # and the optimizer holds no momentum for them. AdamW's state is indexed in build_optimizer's order (the
    # embedding, the head, then the blocks' parameters); Muon's holds the blocks' parameters only
    block_names = [f"blocks.{n}" for n, _ in training.build_model(config, 512, torch.device("cpu")).blocks.named_parameters()]
    if optimizer == "muon":
        fc_state = after_state["optimizer"]["muon"]["state"][block_names.index(fc)]
        assert float(fc_state["momentum_buffer"][rows].abs().sum()) == 0
    else:
        fc_state = after_state["optimizer"]["state"][2 + block_names.index(fc)]
        assert float(fc_state["exp_avg"][rows].abs().sum()) == 0 and float(fc_state["exp_avg_sq"][rows].abs().sum()) == 0
    assert math.isfinite(float(after[fc].sum()))


def learning_only_in(layers: set[int]):
    """The real optimizer, with the blocks outside `layers` moved into a group whose learning rate is 0: their
    gradients still flow (and are measured), their weights never move."""
    build = training.build_optimizer

    def confined(model, train_config):
        optimizer = build(model, train_config)
        still = {id(p) for i, block in enumerate(model.blocks) if i not in layers for p in block.parameters()}
        blocks = optimizer.param_groups[2]
        blocks["params"] = [p for p in blocks["params"] if id(p) not in still]
        optimizer.add_param_group({"params": [p for p in model.parameters() if id(p) in still], "lr": 0.0,
                                   "base_lr": 0.0, "weight_decay": blocks["weight_decay"]})
        return optimizer
    return confined


@pytest.mark.parametrize("layers, pattern", [({2, 3}, "late"), ({0, 1}, "early")])
def test_learning_confined_to_some_layers_of_four_is_named_with_those_layers(run, monkeypatch, layers, pattern):
    make, _, store, train = run
    config = make(end_step=40, segment_steps=40)
    config = config.model_copy(update={"model": config.model.model_copy(update={"depth": 4})})
    monkeypatch.setattr(training, "build_optimizer", learning_only_in(layers))
    [summary] = train(config)
    _, rows = store.query("SELECT pattern, most_active_layers, layer_activity, sentence FROM learning_pattern "
                          "WHERE run_id = 'r'")
    found, most_active, activity, sentence = rows[0]
    print(f"confined to {sorted(layers)}: {sentence}; activity {[round(a, 2) for a in activity]}")
    assert found == summary["pattern"] == pattern and f"learning is {pattern}-focused" in sentence
    assert most_active and set(most_active) <= layers
    assert min(activity[i] for i in layers) > max(a for i, a in enumerate(activity) if i not in layers)


def test_a_blown_up_residual_stream_needs_attention(run):
    make, run_dir, store, _ = run
    config = make()
    register_run(store, "r", config, run_dir, "cpu", PEAK)
    for index, (start, end) in enumerate(config.segments()):
        if start == 40:
            # the fault: the block's residual branches written 10x larger into the checkpoint step 41 starts from
            state = load_checkpoint(checkpoint_path(run_dir / "checkpoints", 40))
            for name in ("blocks.0.attn.c_proj.weight", "blocks.0.mlp.c_proj.weight"):
                state["model"][name] *= 10
            save_checkpoint(run_dir / "checkpoints", 40, state)
        summary = training.train_segment(run_dir, config, start, end, PEAK, log=lambda *_: None)
        ingest_segment(store, "r", run_dir, index, summary, 0.0, None)
        verdict = understand_segment(store, "r", run_dir, config, start, end)
    _, rows = store.query("SELECT step, status, reasons, sentence FROM health WHERE run_id = 'r' ORDER BY step")
    print(rows[-1][3])
    assert [status for _, status, _, _ in rows][1:] == ["healthy", "needs_attention"]
    assert verdict["status"] == "needs_attention"
    growth = [r for r in json.loads(rows[-1][2]) if r["code"] == "activation_rms_growth"]
    assert growth and growth[0]["step"] == 50 and growth[0]["value"] >= 3
    assert "activation RMS grew" in rows[-1][3]
