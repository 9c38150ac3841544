"""Peak memory of a training step, estimated from the shape before anything is allocated, and the plan that
follows: the largest micro-batch (with grad_accum keeping the configured tokens per step) that fits the memory
the user has, or one line saying what would fit. Checked against measured peaks by tests/test_memory.py
(model/memory_measure.py measures them).

Where the bytes go, fp32 on CPU (bf16 autocast changes the activations only, see CUDA_BF16_ACTIVATION_BYTES; on CPU
it saves about as much as fp32: measured peaks under train.precision bf16 were 0.90-1.02 of the fp32 estimate plus
the weights' bf16 copy, which is the plan for it):
- weights 4 bytes (and a 2-byte bf16 copy under autocast), AdamW's two moments 8 bytes per parameter (Muon's one
  momentum, 4 bytes, on the blocks' matrices under train.optimizer muon), for the whole step; gradients 4 bytes, which
  fill in as backward frees the activations, so they weigh only when the activations are smaller;
- activations saved for backward: 17 x d_model values per token and layer, counted from what autograd keeps
  (attention: the norm 1, qkv 3, which v keeps whole as a view, the normed q and k 2, the attention output and
  its contiguous copy 2 = 8; MLP: the norm 1, the ReLU output 4, its square 4 = 9; the rotated q and k and the
  residual stream are not kept);
- the head (model.gpt.HeadCrossEntropy, the head's matmul fused with the loss): two chunk buffers of
  rows x vocab fp32 (model.gpt.head_chunk_rows) beside the gradients it keeps for backward (tokens x d_model and
  vocab x d_model), then those gradients scaled, twice over; the whole logits tensor never exists in training;
- on CPU, torch itself: the first training step touches some 90 MB of kernel code and thread buffers, measured
  as the growth of a 1-layer d64 model's step (CUDA's context is not in the card's allocated memory either way);
- the probe pass (every probe_every steps: records of each layer and the attention score matrices) and the
  evaluation at batch 1 (it halves its batch on out-of-memory down to 1) must fit as well."""
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from phaselog.core.errors import PhaselogError
from phaselog.model.device import pick_device, trains_bf16
from phaselog.model.gpt import GPTShape, head_chunk_rows

ACTIVATIONS_PER_TOKEN_LAYER = 17  # x d_model values, see above
# Bytes x d_model per token and layer under CUDA's bf16 autocast, counted the same way but not measured (no GPU
# here; `phaselog bench gpu` prints the measured peak against the plan). Autocast runs norms in fp32, so each
# block norm keeps the fp32 residual it read (4) beside the bf16 copy the next matmul saves (2), and the QK-norm
# keeps an fp32 copy of the rotated q and k (8) while attention saves them again in bf16 (4). Attention: norm 6,
# qkv 6, QK-norm 8, q and k 4, output and its contiguous copy 4 = 28; MLP: norm 6, ReLU output 8, its square 8 =
# 22. Half of fp32's 68 (34, the count before 2026-12-04) assumed every saved tensor bf16, which would put a
# micro-batch on the card that does not fit.
CUDA_BF16_ACTIVATION_BYTES = 50
CPU_RUNTIME_BYTES = 90 * 2 ** 20  # torch's own pages on CPU, see above
UNITS = {"": 1, "B": 1, "KB": 2 ** 10, "MB": 2 ** 20, "GB": 2 ** 30, "TB": 2 ** 40}


def parse_memory(text: str) -> int:
    """"8GB", "512MB", "8 GiB" or a byte count; binary units, as device memory is quoted."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)I?B?\s*", text.upper())
    if not match:
        raise PhaselogError(f"--memory {text!r}: expected a size such as 8GB or 512MB")
    return int(float(match.group(1)) * UNITS[match.group(2) + "B" if match.group(2) else ""])


def human(n: float) -> str:
    return f"{n / 2 ** 30:.2f} GB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MB"


def parameter_count(shape: GPTShape) -> int:
    # embedding and untied head, then per block qkv (3 d^2), attention out (d^2) and the MLP (8 d^2)
    return 2 * shape.vocab_size * shape.d_model + 12 * shape.n_layer * shape.d_model ** 2


def optimizer_bytes(shape: GPTShape, optimizer: str = "adamw") -> int:
    params = parameter_count(shape)
    if optimizer == "muon":  # AdamW on the embedding and the head, one momentum buffer per block matrix
        block_params = 12 * shape.n_layer * shape.d_model ** 2
        return 8 * (params - block_params) + 4 * block_params
    return 8 * params


def train_step_bytes(shape: GPTShape, micro_batch: int, device: str = "cpu", bf16: bool = False,
                     optimizer: str = "adamw") -> dict[str, int]:
    params = parameter_count(shape)
    tokens = micro_batch * shape.seq_len
    # bytes x d_model per token and layer
    saved = CUDA_BF16_ACTIVATION_BYTES if bf16 and device == "cuda" else 4 * ACTIVATIONS_PER_TOKEN_LAYER
    parts = {
        "runtime": runtime_bytes(device),
        "weights": 4 * params + (2 * params if bf16 else 0),  # autocast keeps a bf16 copy of each weight
        "optimizer": optimizer_bytes(shape, optimizer),
        "activations": saved * tokens * shape.d_model * shape.n_layer,
        "head": head_bytes(shape, tokens, device),
        "gradients": 4 * params,
    }
    parts["peak"] = (parts["runtime"] + parts["weights"] + parts["optimizer"]
                     + max(parts["activations"] + parts["head"], parts["gradients"]))
    return parts


def runtime_bytes(device: str) -> int:
    return CPU_RUNTIME_BYTES if device == "cpu" else 0


def head_bytes(shape: GPTShape, tokens: int, device: str) -> int:
    rows = min(tokens, head_chunk_rows(shape.d_model, shape.vocab_size, torch.device(device)))
    kept = (tokens + shape.vocab_size) * shape.d_model  # the gradients of the head's input and weight
    return 4 * max(2 * rows * shape.vocab_size + kept, 2 * kept)


def probe_bytes(shape: GPTShape, windows: int, device: str = "cpu", optimizer: str = "adamw") -> int:
    """The monitor's probe forward (no grad, and no head: model.gpt.GPT.final_hidden) on top of weights and
    optimizer state: its copy of the blocks' weights, per layer the residual and the MLP hidden kept as records,
    and the attention scores and probabilities in fp32."""
    params = parameter_count(shape)
    block_copy = 4 * 12 * shape.n_layer * shape.d_model ** 2
    tokens = windows * shape.seq_len
    records = shape.n_layer * tokens * 5 * shape.d_model * (2 if device == "cuda" else 4)
    scores = 3 * windows * shape.n_head * shape.seq_len ** 2 * 4
    return runtime_bytes(device) + 4 * params + optimizer_bytes(shape, optimizer) + block_copy + records + scores


def eval_bytes(shape: GPTShape, batch: int) -> int:
    """A no-grad forward over `batch` windows with the weights only (evaluation loads the checkpoint afresh)."""
    tokens = batch * shape.seq_len
    return 4 * parameter_count(shape) + tokens * (8 * shape.d_model + 3 * shape.vocab_size) * 4


@dataclass(frozen=True)
class Plan:
    micro_batch: int
    grad_accum: int
    step_bytes: dict[str, int]
    probe_bytes: int
    eval_bytes: int
    budget: int

    @property
    def peak(self) -> int:
        return max(self.step_bytes["peak"], self.probe_bytes, self.eval_bytes)


def plan_for(config, budget: int, vocab_size: int | None = None) -> Plan:
    """The largest micro-batch that fits `budget` bytes with batch_size x grad_accum sequences per step kept
    (and grad_accum a multiple of the processes); a one-line PhaselogError when not even one sequence fits."""
    t = config.train
    shape = plan_shape(config, vocab_size)
    device = pick_device(t.device).type
    sequences = t.batch_size * t.grad_accum
    windows = config.understanding.probe_windows * len(config.data.sources)
    probe = probe_bytes(shape, windows, device, t.optimizer) if config.understanding.probe_every else 0
    evaluation = eval_bytes(shape, 1)
    for micro in sorted((b for b in range(1, sequences + 1) if sequences % b == 0
                         and (sequences // b) % t.nproc_per_node == 0), reverse=True):
        plan = Plan(micro, sequences // micro, configured_step_bytes(config, micro, vocab_size), probe, evaluation,
                    budget)
        if plan.peak <= budget:
            return plan
    smallest = configured_step_bytes(config, 1, vocab_size)
    weights_and_optimizer = 4 * parameter_count(shape) + optimizer_bytes(shape, t.optimizer)
    raise PhaselogError(
        f"{config.name}: does not fit {human(budget)}: even micro-batch 1 x seq_len {shape.seq_len} needs "
        f"{human(max(smallest['peak'], probe, evaluation))} (weights and {t.optimizer} {human(weights_and_optimizer)});"
        f" lower model.seq_len or model.depth")


def check_fits(config, budget: int, vocab_size: int | None = None) -> Plan:
    """Before a run: the configured micro-batch must fit, else one line with the plan that would."""
    plan = plan_for(config, budget, vocab_size)
    t = config.train
    configured = configured_step_bytes(config, t.batch_size, vocab_size)["peak"]
    if max(configured, plan.probe_bytes, plan.eval_bytes) > budget:
        raise PhaselogError(
            f"{config.name}: train.batch_size {t.batch_size} needs ~{human(configured)} of {human(budget)}; set "
            f"train.batch_size {plan.micro_batch} and train.grad_accum {plan.grad_accum} (same tokens per step)")
    return plan


def plan_shape(config, vocab_size: int | None = None) -> GPTShape:
    return GPTShape.from_config(config.model, vocab_size or config.tokenizer.vocab_size)


def configured_step_bytes(config, micro_batch: int, vocab_size: int | None = None) -> dict[str, int]:
    """train_step_bytes for the config's model, device, precision and optimizer."""
    t = config.train
    return train_step_bytes(plan_shape(config, vocab_size), micro_batch, pick_device(t.device).type,
                            trains_bf16(config), t.optimizer)


def available_memory(device: str) -> int:
    """Bytes this run may use: the GPU's total memory, or the machine's available memory on CPU."""
    if pick_device(device).type == "cuda":
        return torch.cuda.get_device_properties(0).total_memory
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise PhaselogError("cannot read MemAvailable from /proc/meminfo; pass --memory")
