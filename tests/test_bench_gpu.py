"""bench gpu: the GPU owner's two-minute check. Here, with no GPU: the one-line refusal, the same code path run on
CPU with a small config (tokens/sec, MFU, the expected range, the plan's micro-batch, the fused head against the
plain one, the verdict), and the branches a card takes that run without one (autocast, chunk sizes, the
datasheet table, the plan's bf16 formulas)."""
import contextlib
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from phaselog.bench.gpu import GRAD_TOLERANCE, LOSS_TOLERANCE, bench_gpu, head_agreement, verdict
from phaselog.core.config import PhaseConfig, load_config
from phaselog.model.flops import datasheet_peak
from phaselog.model.gpt import head_chunk_rows
from phaselog.model.memory import parse_memory, plan_for
from phaselog.model.train import training_autocast
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
    head = result["head"]
    assert abs(head["fused_loss"] - head["plain_loss"]) < 1e-5 and head["grad_error"] < 1e-5  # fp32 on CPU
    # the memory check is not made on CPU, and says so; a tiny model on a busy CPU may fall below the GPU's MFU
    assert "memory: not measured on CPU" in result["summary"]
    assert result["verdict"].endswith("not checked here: memory plan (within 25% of the peak)")
    assert "FAIL: fused head" not in result["verdict"]
    assert result["summary"].splitlines()[-2] == result["verdict"]


def test_the_fused_head_agrees_with_the_plain_one_under_bf16_autocast_within_the_checks_tolerances():
    # the card's branch of HeadCrossEntropy (bf16 products, fp32 sums), here under CPU autocast; logits past the cap
    from tests.test_model import tiny_gpt

    model = tiny_gpt()
    with torch.no_grad():
        model.lm_head.weight.mul_(4000)
    tokens = torch.randint(0, 64, (4, 17), generator=torch.Generator().manual_seed(0))
    head = head_agreement(model, tokens, torch.autocast("cpu", dtype=torch.bfloat16))
    assert head["fused_loss"] > 1.5 * math.log(64)  # far from chance: the cap bends the logits
    assert head["loss_error"] <= LOSS_TOLERANCE and head["grad_error"] <= GRAD_TOLERANCE
    # the verdict names what failed, and what could not be checked
    assert verdict([("speed", True), ("memory", True), ("fused head", True)]) == "verdict: PASS"
    assert verdict([("speed", False), ("memory", None), ("fused head", True)]) == (
        "verdict: FAIL: speed; passed: fused head; not checked here: memory")
    assert verdict([("speed", True), ("memory", None)]) == "verdict: PASS; not checked here: memory"


def test_the_cards_branches_without_a_card():
    # autocast: bf16 on CUDA with TF32 for what it leaves in fp32; fp32 on CPU
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else contextlib.nullcontext():
        on_card = training_autocast(torch.device("cuda"))
    assert (on_card.device, on_card.fast_dtype) == ("cuda", torch.bfloat16)
    assert torch.backends.cuda.matmul.allow_tf32
    assert isinstance(training_autocast(torch.device("cpu")), contextlib.nullcontext)
    # the fused head's chunks: 2^26 logits on CUDA, 8192 x d_model (at least 256 tokens) on CPU
    assert head_chunk_rows(768, 32768, torch.device("cuda")) == 2048
    assert head_chunk_rows(768, 32768, torch.device("cpu")) == 256
    assert head_chunk_rows(128, 2048, torch.device("cpu")) == 512
    # the datasheet table: the longest name that matches, none for an unknown card
    assert datasheet_peak("NVIDIA GeForce RTX 4060 Ti") == 44e12
    assert datasheet_peak("NVIDIA GeForce RTX 4060 Laptop GPU") == 30e12
    assert datasheet_peak("NVIDIA A100-SXM4-80GB") == 312e12
    assert math.isnan(datasheet_peak("NVIDIA GeForce GTX 1080"))
    # phase1's plan for an 8 GB card, each part by the formulas of model/memory.py's docstring, worked by hand
    config = load_config(REPO / "configs" / "phase1.yaml", ["train.device=cuda"])
    plan = plan_for(config, parse_memory("8GB"))
    blocks = 12 * 12 * 768 ** 2  # 12 blocks of 12 d^2
    params = 2 * 32768 * 768 + blocks  # embedding, untied head, blocks
    tokens = plan.micro_batch * 1024
    # Muon (train.optimizer muon): one fp32 momentum per block matrix, AdamW's two moments on the rest
    expected = {"runtime": 0, "weights": 6 * params, "optimizer": 8 * (params - blocks) + 4 * blocks,
                "gradients": 4 * params,
                "activations": 50 * tokens * 768 * 12,  # bytes x d_model per token and layer under CUDA autocast
                "head": 4 * (2 * 2048 * 32768 + (tokens + 32768) * 768)}  # two 2048-row fp32 chunks + kept grads
    expected["peak"] = (expected["weights"] + expected["optimizer"]
                        + max(expected["activations"] + expected["head"], expected["gradients"]))
    assert plan.step_bytes == expected
    assert (plan.micro_batch, plan.grad_accum) == (8, 8) and plan.peak <= parse_memory("8GB")
