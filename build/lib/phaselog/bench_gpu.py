"""`phaselog bench gpu`: the two-minute check for someone with a GPU that what docs/benchmarks.md derives for
configs/phase1.yaml holds on their card. The phase's own model and optimizer (bf16 autocast, fused AdamW, TF32,
grad_accum with one device read per step), at the micro-batch `phaselog plan` picks for the card's memory, on
random tokens for a time budget; then tokens/sec and MFU against the datasheet peak and against the 30-40% MFU
the docs expect, and the peak memory torch measured (max_memory_allocated) against the plan's estimate. Without
a CUDA device it refuses in one line; tests run the same code on CPU with a small config."""
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from phaselog.core.config import PhaseConfig, load_config
from phaselog.core.errors import PhaselogError
from phaselog.model.flops import peak_flops
from phaselog.model.gpt import GPT, GPTShape
from phaselog.model.memory import available_memory, human, plan_for
from phaselog.model.train import build_optimizer, read_step_scalars

REPO = Path(__file__).resolve().parents[1]
EXPECTED_MFU = (0.30, 0.40)  # what a model of phase1's size usually reaches on a consumer card (docs/benchmarks.md)


def bench_gpu(seconds: float = 90.0, device: str = "cuda", config: PhaseConfig | None = None) -> dict:
    if device == "cuda" and not torch.cuda.is_available():
        raise PhaselogError("bench gpu: no CUDA device here (torch.cuda.is_available() is False); on a CPU use "
                            "`phaselog bench train`")
    config = config or load_config(REPO / "configs" / "phase1.yaml", [f"train.device={device}"])
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats(device)
    plan = plan_for(config, available_memory(config.train.device), bf16=cuda)
    shape = GPTShape.from_config(config.model, config.tokenizer.vocab_size)
    torch.manual_seed(0)
    model = GPT(shape)
    model.init_weights(0)
    model.to(device)
    optimizer = build_optimizer(model, config.train)
    autocast = torch.autocast("cuda", torch.bfloat16) if cuda else nullcontext()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    tokens_per_step = plan.micro_batch * plan.grad_accum * shape.seq_len
    times, started = [], time.perf_counter()
    while not times or (time.perf_counter() - started < seconds and len(times) < 50):
        sync()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        for _ in range(plan.grad_accum):
            tokens = torch.randint(0, shape.vocab_size, (plan.micro_batch, shape.seq_len + 1), device=device)
            with autocast:
                loss = model(tokens[:, :-1], tokens[:, 1:]) / plan.grad_accum
            loss.backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
        read_step_scalars(loss_sum, grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        times.append(time.perf_counter() - t0)
    timed = times[1:] or times  # the first step pays for kernel selection and the optimizer's state
    tokens_per_sec = tokens_per_step / statistics.median(timed)
    peak = peak_flops(device)
    flops_per_token = model.flops_per_token()
    mfu = flops_per_token * tokens_per_sec / peak
    expected = [m * peak / flops_per_token for m in EXPECTED_MFU]
    measured_memory = torch.cuda.max_memory_allocated(device) if cuda else None
    where = torch.cuda.get_device_name(device) if cuda else "CPU"
    lines = [f"{config.name} on {where}: L{shape.n_layer} d{shape.d_model} T{shape.seq_len} V{shape.vocab_size}, "
             f"micro-batch {plan.micro_batch} x grad_accum {plan.grad_accum} (the plan for "
             f"{human(plan.budget)}), {len(times)} steps in {time.perf_counter() - started:.0f} s",
             f"  {tokens_per_sec:,.0f} tok/s (median of {len(timed)} steps, {statistics.median(timed):.2f} s per "
             f"{tokens_per_step:,}-token step), MFU {100 * mfu:.1f}% of {peak / 1e12:.1f} TFLOP/s"
             + (" (datasheet bf16)" if cuda else " (measured fp32 matmul peak)"),
             f"  expected at {100 * EXPECTED_MFU[0]:.0f}-{100 * EXPECTED_MFU[1]:.0f}% MFU: {expected[0]:,.0f}-"
             f"{expected[1]:,.0f} tok/s: " + ("below" if mfu < EXPECTED_MFU[0] else
                                               "above" if mfu > EXPECTED_MFU[1] else "within") + " that range"]
    estimate = plan.step_bytes["peak"]
    if measured_memory is not None:
        lines.append(f"  peak memory {human(measured_memory)} measured (torch.cuda.max_memory_allocated), "
                     f"{human(estimate)} planned: estimate / measured {estimate / measured_memory:.2f}")
    else:
        lines.append("  peak memory: not measured on CPU here (tests/test_memory.py checks the plan on CPU)")
    lines.append("rerun: phaselog bench gpu [--seconds 90] [--json]; report the lines above with your card's name")
    return {"benchmark": "gpu", "device": where, **shape.__dict__, "micro_batch": plan.micro_batch,
            "grad_accum": plan.grad_accum, "steps": len(times), "tokens_per_sec": tokens_per_sec, "mfu": mfu,
            "peak_flops": peak, "expected_tokens_per_sec": expected, "memory_estimate_bytes": estimate,
            "memory_measured_bytes": measured_memory, "summary": "\n".join(lines)}
