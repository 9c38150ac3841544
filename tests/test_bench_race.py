"""bench race: the peer and phaselog train on the same real text at a tiny budget, and the JSON says, per shape,
the time ratio, the token ratio and the throughput ratio apart, the target and both lrs, consistent with the runs
behind them (the figure itself is docs/benchmarks.md's, measured at the real budget)."""
import json
import math
import statistics
import subprocess
import sys

import pytest

from phaselog.bench.race import PEER_LRS, bench_race, tokens_to_target
from phaselog.core.config import PhaseConfig
from tests.conftest import REPO, tiny_config_dict

TINY_SHAPES = [{"name": "narrow", "depth": 1, "seq_len": 32, "batch_size": 8, "steps": 24, "full_steps": 24},
               {"name": "deeper", "depth": 2, "seq_len": 32, "batch_size": 8, "steps": 24, "full_steps": 24}]


def test_tokens_to_target_interpolates_in_log_tokens_and_says_when_it_cannot():
    curve = [(100, 4.0), (400, 3.0), (1600, 2.0)]
    assert tokens_to_target(curve, 3.5) == (pytest.approx(200), "crossed")  # halfway in log between 100 and 400
    assert tokens_to_target(curve, 3.0) == (pytest.approx(400), "crossed")
    assert tokens_to_target(curve, 5.0) == (100, "at most")
    assert tokens_to_target(curve, 1.5) == (None, "above")


def test_bench_race_reports_consistent_ratios_per_shape_on_real_text(shared_corpus):
    config = PhaseConfig.model_validate(tiny_config_dict(shared_corpus))
    logged = []
    result = bench_race(seeds=3, config=config, shapes=TINY_SHAPES, log=logged.append)
    json.dumps(result)  # --json prints it as it is
    assert [s["name"] for s in result["shapes"]] == ["narrow", "deeper"]
    for shape in result["shapes"]:
        runs = shape["runs"]
        peer = [r for r in runs if r["trainer"] == "peer"]
        ours = [r for r in runs if r["trainer"] == "phaselog"]
        # round 0 tunes the peer over the whole grid; the other rounds run the tuned lr; phaselog every share of T
        assert sorted(r["lr"] for r in peer if r["seed"] == config.train.seed) == sorted(PEER_LRS)
        tuning = {t["lr"]: t["val_loss"] for t in shape["peer_lr_tuning"]}
        assert shape["peer_lr"] == min(tuning, key=tuning.get)
        tuned = [r for r in peer if r["lr"] == shape["peer_lr"]]
        assert len(tuned) == 3 and len({r["seed"] for r in tuned}) == 3
        assert len(ours) == 3 * len(result["fractions"])
        assert all(math.isfinite(r["val_loss"]) and r["seconds"] > 0 for r in runs)
        assert shape["target"] == pytest.approx(statistics.median(r["val_loss"] for r in tuned))
        assert shape["phaselog_lr"] == {"matrices": config.train.lr, "embedding": config.train.embedding_lr,
                                        "head": config.train.head_lr}
        # both trainers learned from the same tokens: their runs over all of T end below chance
        longest = [r for r in ours if r["steps"] == max(o["steps"] for o in ours)]
        assert len(longest) == 3 and max(r["val_loss"] for r in tuned + longest) < math.log(512)
        # per round, where the two trainers alternate under one load, then the median over the rounds
        per_round = [statistics.median(r["tokens_per_sec"] for r in ours if r["round"] == i)
                     / statistics.median(r["tokens_per_sec"] for r in peer if r["round"] == i) for i in range(3)]
        assert shape["throughput_ratio"] == pytest.approx(statistics.median(per_round))
        steps = [f["steps"] for f in shape["fractions"]]
        assert steps == sorted(steps) and all(r["steps"] == shape["peer_steps"] for r in peer)
        assert shape["reached"] in ("crossed", "at most", "above")
        if shape["time_ratio"] is None:
            assert shape["reached"] == "above" and shape["token_ratio"] is None
        else:
            # time is tokens over throughput: the two ratios make the time ratio
            assert shape["time_ratio"] == pytest.approx(shape["token_ratio"] / shape["throughput_ratio"])
            low, high = shape["time_ratio_interval"]
            assert (low is None or low <= shape["time_ratio"]) and (high is None or shape["time_ratio"] <= high)
        assert f"nanoGPT lr {shape['peer_lr']:g}" in result["summary"]
    assert len(logged) == len(result["shapes"]) * (len(PEER_LRS) + 2 + 3 * len(result["fractions"]))
    assert "rerun: PHASELOG_CORPUS=DIR phaselog bench race" in result["summary"]


def test_a_lever_races_alone_to_a_given_target_with_its_overrides_on_phaselog_only(shared_corpus):
    """--set changes phaselog's config alone and is recorded; --target skips the peer. A doubled batch trains
    half the steps for the same shares of T's tokens."""
    config = PhaseConfig.model_validate(tiny_config_dict(shared_corpus))
    overrides = ["train.batch_size=16", "train.lr=0.02", "train.seed=7"]
    result = bench_race(seeds=2, config=config, shapes=TINY_SHAPES[:1], overrides=overrides, target=5.5,
                        log=lambda _: None)
    json.dumps(result)
    shape = result["shapes"][0]
    assert result["overrides"] == overrides == shape["overrides"] and result["target"] == 5.5
    assert {r["trainer"] for r in shape["runs"]} == {"phaselog"} and shape["time_ratio"] is None
    assert shape["phaselog_lr"]["matrices"] == 0.02 and shape["phaselog_batch_size"] == 16
    assert {r["seed"] for r in shape["runs"]} == {7}  # a seed set by hand holds in every round
    assert all(len(share["val_losses"]) == 2 for share in shape["fractions"])
    peer_tokens = TINY_SHAPES[0]["steps"] * TINY_SHAPES[0]["batch_size"] * TINY_SHAPES[0]["seq_len"]
    for share in shape["fractions"]:
        assert share["tokens"] == share["steps"] * 16 * 32
        assert abs(share["tokens"] - share["fraction"] * peer_tokens) <= 16 * 32 / 2  # rounded to whole steps
        assert share["val_loss"] == pytest.approx(statistics.median(share["val_losses"]))
    finals = [(f["tokens"], f["val_loss"]) for f in shape["fractions"]]
    reached, how = tokens_to_target(finals, 5.5)
    assert shape["reached"] == how
    assert shape["token_ratio"] == (None if reached is None else pytest.approx(reached / peer_tokens))
    assert "--set train.batch_size=16 --set train.lr=0.02 --set train.seed=7" in result["summary"]


def test_race_options_are_refused_in_one_line_where_they_do_not_apply():
    for args, message in ((["race", "--steps", "5"], "--steps at least 10"),
                          (["train", "--full"], "bench train: --full applies to bench race only"),
                          (["train", "--set", "train.lr=1"], "bench train: --set applies to bench race only"),
                          (["race", "--target", "5"], "give --shape demo or --shape wide"),
                          (["race", "--shape", "demo", "--set", "train.lr=x"], "bench race --set: train.lr")):
        done = subprocess.run([sys.executable, "-m", "phaselog.cli", "bench", *args], cwd=REPO, capture_output=True,
                              text=True)
        assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
