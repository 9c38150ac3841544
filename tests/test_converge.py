"""bench converge: both optimizers train for the same seconds on real text, and the verdict follows the rule
(the better one becomes the default only when it reaches the other's final bpb at least 1.2x sooner)."""
import math

import pytest

from phaselog.bench.converge import MARKS, OPTIMIZERS, bench_converge, seconds_to_reach, verdict
from phaselog.core.config import PhaseConfig
from tests.conftest import tiny_config_dict


def curve(*points):
    return [{"seconds": s, "steps": 10 * i, "val_bpb": b} for i, (s, b) in enumerate(points, 1)]


def test_seconds_to_reach_interpolates_between_the_points_around_the_target():
    c = curve((10, 4.0), (20, 3.0), (30, 2.5))
    assert seconds_to_reach(c, 3.5) == 15
    assert seconds_to_reach(c, 3.0) == 20
    assert seconds_to_reach(c, 4.5) == 10
    assert seconds_to_reach(c, 2.0) is None


def test_the_better_optimizer_becomes_the_default_only_when_it_is_1_2x_sooner():
    slow_start = {"adamw": [curve((40, 3.0), (80, 2.6), (120, 2.5))],
                  "muon": [curve((40, 3.2), (80, 2.7), (120, 2.45))]}
    result = verdict(slow_start, 120, "adamw")
    assert result["better"] == "muon" and result["seconds_to_other_final"] == pytest.approx(112)
    assert result["should_be_default"] == "adamw" and result["default_agrees"]
    fast = {"adamw": [curve((40, 3.0), (80, 2.6), (120, 2.5))], "muon": [curve((40, 2.6), (80, 2.4), (120, 2.3))]}
    result = verdict(fast, 120, "adamw")
    assert result["sooner"] == pytest.approx(2.0)
    assert result["should_be_default"] == "muon" and not result["default_agrees"]


def test_bench_converge_trains_both_optimizers_for_the_budget_on_real_text(shared_corpus):
    config = PhaseConfig.model_validate(tiny_config_dict(shared_corpus))
    result = bench_converge(seconds=3, seeds=1, config=config)
    for name in OPTIMIZERS:
        (run,) = result["runs"][name]
        assert len(run) == MARKS + 1 and run[0]["steps"] == 0
        assert run[-1]["seconds"] >= 3 and all(math.isfinite(p["val_bpb"]) for p in run)
        assert [p["steps"] for p in run] == sorted(p["steps"] for p in run)
        assert run[-1]["val_bpb"] < run[0]["val_bpb"], f"{name} did not learn: {run}"
    assert result["should_be_default"] in OPTIMIZERS and result["default"] == "adamw"
    assert f"so the default should be {result['should_be_default']}" in result["summary"]
