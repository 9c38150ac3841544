"""`phaselog bench gpu`: the two-minute check for someone with a GPU that what docs/benchmarks.md derives for
configs/phase1.yaml holds on their card, and that the step is right there. The phase's own model and optimizer
(bf16 autocast, fused AdamW, TF32, grad_accum with one device read per step), at the micro-batch `phaselog plan`
picks for the card's memory, on random tokens for a time budget; then three checks and a one-line verdict:
- speed: tokens/sec and MFU against the card's datasheet peak (model/flops.py), below, within or above the
  30-40% MFU the docs expect;
- memory: the peak torch measured (max_memory_allocated; reserved beside it, which is what runs out) against the
  plan's estimate;
- the fused head: the training loss and the head's gradient from model.gpt.HeadCrossEntropy (chunked, under
  bf16 autocast on the card) against the plain head (full logits, soft cap, F.cross_entropy) on one batch.
Without a CUDA device it refuses in one line; tests run the same code on CPU with a small config."""
import math
import statistics
import time
from pathlib import Path

import torch

from phaselog.core.config import PhaseConfig, load_config
from phaselog.core.errors import PhaselogError
from phaselog.model.flops import peak_flops
from phaselog.model.gpt import GPT, GPTShape
from phaselog.model.memory import available_memory, human, plan_for
from phaselog.model.train import build_optimizer, read_step_scalars, training_autocast

REPO = Path(__file__).resolve().parents[2]
EXPECTED_MFU = (0.30, 0.40)  # what a model of phase1's size usually reaches on a consumer card (docs/benchmarks.md)
MEMORY_TOLERANCE = 0.25  # the plan is trusted within a quarter of the measured peak, as tests/test_memory.py on CPU
# the fused head against the plain one: the same bf16 products, summed in another order
LOSS_TOLERANCE = 1e-3  # relative
GRAD_TOLERANCE = 2e-2  # relative (norm of the difference / norm of the plain gradient)


def head_agreement(model: GPT, tokens: torch.Tensor, autocast) -> dict:
    """The training loss and the head's gradient by the fused head and by the plain one, on `tokens`."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    results = {}
    for name, reduction in (("fused", "mean"), ("plain", "none")):  # reduction "none" takes the plain head
        with autocast:
            loss = model(inputs, targets, reduction=reduction).mean()
        (grad,) = torch.autograd.grad(loss, model.lm_head.weight)
        results[name] = (loss.detach().double(), grad.double())
    (fused_loss, fused_grad), (plain_loss, plain_grad) = results["fused"], results["plain"]
    return {"fused_loss": fused_loss.item(), "plain_loss": plain_loss.item(),
            "loss_error": (abs(fused_loss - plain_loss) / plain_loss).item(),
            "grad_error": ((fused_grad - plain_grad).norm() / plain_grad.norm()).item()}


def verdict(checks: list[tuple[str, bool | None]]) -> str:
    """One line: PASS when every check made passed, else FAIL naming those that did not; a check of None was not
    made here (memory on CPU)."""
    by_outcome = {outcome: [name for name, ok in checks if ok is outcome] for outcome in (False, True, None)}
    parts = [("FAIL: " + ", ".join(by_outcome[False])) if by_outcome[False] else "PASS"]
    parts += [f"{label}: {', '.join(by_outcome[outcome])}" for outcome, label in ((True, "passed"),
                                                                                  (None, "not checked here"))
              if by_outcome[outcome] and (outcome is None or by_outcome[False])]
    return "verdict: " + "; ".join(parts)


def bench_gpu(seconds: float = 90.0, device: str = "cuda", config: PhaseConfig | None = None) -> dict:
    if device == "cuda" and not torch.cuda.is_available():
        raise PhaselogError("bench gpu: no CUDA device here (torch.cuda.is_available() is False); on a CPU use "
                            "`phaselog bench train`")
    config = config or load_config(REPO / "configs" / "phase1.yaml", [f"train.device={device}"])
    device = torch.device(device)
    cuda = device.type == "cuda"
    plan = plan_for(config, available_memory(config.train.device))
    shape = GPTShape.from_config(config.model, config.tokenizer.vocab_size)
    torch.manual_seed(0)
    model = GPT(shape)
    model.init_weights(0)
    model.to(device)
    optimizer = build_optimizer(model, config.train)
    autocast = training_autocast(device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
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
    trained_seconds = time.perf_counter() - started
    measured_memory = torch.cuda.max_memory_allocated(device) if cuda else None
    reserved_memory = torch.cuda.max_memory_reserved(device) if cuda else None
    # after the memory is read: the plain head's full logits are no part of a training step
    head = head_agreement(model, torch.randint(0, shape.vocab_size, (1, shape.seq_len + 1), device=device), autocast)

    timed = times[1:] or times  # the first step pays for kernel selection and the optimizer's state
    tokens_per_sec = tokens_per_step / statistics.median(timed)
    peak = peak_flops(device)
    flops_per_token = model.flops_per_token()
    mfu = flops_per_token * tokens_per_sec / peak
    expected = [m * peak / flops_per_token for m in EXPECTED_MFU]
    estimate = plan.step_bytes["peak"]
    memory_ratio = estimate / measured_memory if measured_memory else None
    checks = [(f"speed (MFU at least {100 * EXPECTED_MFU[0]:.0f}%)",
               None if math.isnan(mfu) else mfu >= EXPECTED_MFU[0]),
              (f"memory plan (within {100 * MEMORY_TOLERANCE:.0f}% of the peak)",
               None if memory_ratio is None else abs(memory_ratio - 1) <= MEMORY_TOLERANCE),
              ("fused head (agrees with the plain head)",
               head["loss_error"] <= LOSS_TOLERANCE and head["grad_error"] <= GRAD_TOLERANCE)]
    where = torch.cuda.get_device_name(device) if cuda else "CPU"
    lines = [f"{config.name} on {where}: L{shape.n_layer} d{shape.d_model} T{shape.seq_len} V{shape.vocab_size}, "
             f"micro-batch {plan.micro_batch} x grad_accum {plan.grad_accum} (the plan for "
             f"{human(plan.budget)}), eager, {'bf16 autocast' if cuda else 'fp32'}, {len(times)} steps in "
             f"{trained_seconds:.0f} s",
             f"  speed: {tokens_per_sec:,.0f} tok/s (median of {len(timed)} steps, {statistics.median(timed):.2f} s "
             f"per {tokens_per_step:,}-token step), MFU {100 * mfu:.1f}% of {peak / 1e12:.1f} TFLOP/s"
             + (" (datasheet bf16)" if cuda else " (measured fp32 matmul peak)")
             + f"; expected at {100 * EXPECTED_MFU[0]:.0f}-{100 * EXPECTED_MFU[1]:.0f}% MFU: {expected[0]:,.0f}-"
             f"{expected[1]:,.0f} tok/s: " + ("unknown card, no datasheet peak in model/flops.py" if math.isnan(mfu)
                                               else "below that range" if mfu < EXPECTED_MFU[0]
                                               else "above that range" if mfu > EXPECTED_MFU[1]
                                               else "within that range")]
    if cuda:
        lines.append(f"  memory: peak {human(measured_memory)} allocated ({human(reserved_memory)} reserved by "
                     f"torch's allocator), {human(estimate)} planned: estimate / measured {memory_ratio:.2f}")
    else:
        lines.append("  memory: not measured on CPU here (tests/test_memory.py checks the plan on CPU)")
    lines.append(f"  fused head: loss {head['fused_loss']:.5f} against the plain head's {head['plain_loss']:.5f} "
                 f"(relative difference {head['loss_error']:.1e}, at most {LOSS_TOLERANCE:.0e}); head gradient "
                 f"{head['grad_error']:.1e} apart (at most {GRAD_TOLERANCE:.0e})")
    lines.append(verdict(checks))
    lines.append("rerun: phaselog bench gpu [--seconds 90] [--json]; paste the lines above with your card's name")
    return {"benchmark": "gpu", "device": where, **shape.__dict__, "micro_batch": plan.micro_batch,
            "grad_accum": plan.grad_accum, "steps": len(times), "tokens_per_sec": tokens_per_sec, "mfu": mfu,
            "peak_flops": peak, "expected_tokens_per_sec": expected, "memory_estimate_bytes": estimate,
            "memory_measured_bytes": measured_memory, "memory_reserved_bytes": reserved_memory, "head": head,
            "verdict": lines[-2], "summary": "\n".join(lines)}
