"""bench gpu: the GPU owner's two-minute check. Here, with no GPU: the one-line refusal, and the same code path
run on CPU with a small config (tokens/sec, MFU, the expected range, the plan's micro-batch)."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from phaselog.bench_gpu import bench_gpu
from phaselog.core.config import PhaseConfig
from tests.conftest import tiny_config_dict

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the refusal does not apply")
def test_without_a_gpu_bench_gpu_refuses_in_one_line():
    done = subprocess.run([sys.executable, "-m", "phaselog.cli", "bench", "gpu"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "phaselog: error: bench gpu: no CUDA device here (torch.cuda.is_available() is False); on a CPU use "
        "`phaselog bench train`"]


def test_the_gpu_check_runs_the_phase_step_at_the_planned_micro_batch_on_cpu(shared_corpus):
    config = PhaseConfig.model_validate(tiny_config_dict(shared_corpus, grad_accum=2))
    result = bench_gpu(seconds=2, device="cpu", config=config)
    # 8 x 2 sequences per step as configured; the tiny model fits them in one micro-batch, which the plan prefers
    assert (result["micro_batch"], result["grad_accum"]) == (16, 1)
    assert result["steps"] >= 2 and result["tokens_per_sec"] > 0 and 0 < result["mfu"] < 1
    low, high = result["expected_tokens_per_sec"]
    assert low < high
    assert "peak memory: not measured on CPU" in result["summary"]
