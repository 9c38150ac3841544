"""A nanochat-style GPT: rotary position embeddings, QK-norm, parameter-free RMSNorm, ReLU^2 MLP, an untied
head and no biases. Sizes come from `ModelConfig` (depth is the dial). The forward pass can also hand back
per-layer activations for the understanding module, so probing needs no hooks."""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

LOGIT_CAP = 15.0


@dataclass(frozen=True)
class GPTShape:
    vocab_size: int
    n_layer: int
    d_model: int
    n_head: int
    seq_len: int

    @classmethod
    def from_config(cls, model_config, vocab_size: int) -> "GPTShape":
        return cls(vocab_size, model_config.depth, model_config.width, model_config.n_head, model_config.seq_len)


class RMSNorm(torch.autograd.Function):
    """x / rms(x) with a backward of three passes, saving the output and one scale per row. On CPU F.rms_norm's
    backward is composed of some thirty small ops (pow, mean, casts, ...); at the demo's width the norms cost as
    much as a block's matmuls (profiled). CUDA keeps torch's fused kernel."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(x.dtype).eps  # F.rms_norm's default
        wide = torch.promote_types(x.dtype, torch.float32)  # bf16 rows are summed in fp32
        rstd = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=wide).square_()
        rstd = rstd.div_(x.size(-1)).add_(eps).rsqrt_().to(x.dtype)
        y = x * rstd
        ctx.save_for_backward(y, rstd)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        y, rstd = ctx.saved_tensors
        # d/dx of x * rstd(x): rstd * (g - y * mean(g * y))
        mean_gy = torch.linalg.vecdot(grad, y).unsqueeze(-1).div_(y.size(-1))
        return torch.addcmul(grad, y, mean_gy, value=-1).mul_(rstd)


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    # no learnable gain: one less thing to tune, and it trains as well at this scale
    return F.rms_norm(x, (x.size(-1),)) if x.is_cuda else RMSNorm.apply(x)


class ReLUSquared(torch.autograd.Function):
    """relu(x)^2 keeping relu(x) for a backward of 2 relu(x) g: two passes each way, where autograd's relu and
    square take five (CPU profile of the demo shape)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        r = F.relu(x)
        ctx.save_for_backward(r)
        return r * r

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (r,) = ctx.saved_tensors
        return (r * grad).mul_(2)


def relu_squared(x: torch.Tensor) -> torch.Tensor:
    return ReLUSquared.apply(x)


def soft_cap(logits: torch.Tensor, cap: float) -> torch.Tensor:
    """cap * tanh(logits / cap), written as 2 cap sigmoid(2 logits / cap) - cap (the same function): CPU's tanh
    kernel cost as much as the head's matmul at the demo shape (profiled), its sigmoid a quarter of that."""
    return torch.full((), -cap, dtype=logits.dtype, device=logits.device).add(
        (logits * (2 / cap)).sigmoid_(), alpha=2 * cap)


class SoftCapCrossEntropy(torch.autograd.Function):
    """The mean cross-entropy of soft-capped logits as one function. The logits are the largest tensors of a step
    (tokens x vocab): autograd's soft cap, log-softmax and NLL make thirteen passes over them and a zero-filled
    gradient; this makes ten (one thread at the demo shape: 22 ms -> 14 ms). Backward: the softmax minus the
    one-hot targets, times the cap's derivative 1 - (capped / cap)^2."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, cap: float) -> torch.Tensor:
        capped = soft_cap(logits, cap)
        log_probs = F.log_softmax(capped, dim=-1)
        ctx.save_for_backward(capped, log_probs, targets)
        ctx.cap = cap
        return -log_probs.gather(1, targets[:, None]).mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        capped, log_probs, targets = ctx.saved_tensors
        probs = log_probs.exp()
        probs.scatter_add_(1, targets[:, None], torch.full((targets.numel(), 1), -1.0, dtype=probs.dtype,
                                                           device=probs.device))
        probs.mul_(grad / targets.numel())
        scaled = probs * capped
        return torch.addcmul(probs, scaled, capped, value=-1 / ctx.cap ** 2, out=scaled), None, None


def rotary_tables(seq_len: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-width tables for the rotate-half form below: cos repeated over both halves, sin negated on the first
    (dims i and i + head_dim/2 rotate together by angle i)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([cos, cos], -1)[None, :, None, :], torch.cat([-sin, sin], -1)[None, :, None, :]


def swap_halves(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x2, x1], dim=-1)


class Rotary(torch.autograd.Function):
    """x * cos + swap_halves(x) * sin: (x1 cos - x2 sin, x2 cos + x1 sin). The backward is the rotation by the
    opposite angle, g * cos + swap_halves(g * sin), three passes where autograd's takes a dozen half-size ones."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(cos, sin)
        return torch.addcmul(x * cos, swap_halves(x), sin)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cos, sin = ctx.saved_tensors
        return torch.addcmul(swap_halves(grad * sin), grad, cos), None, None


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return Rotary.apply(x, cos, sin).type_as(x)


def fuse_legacy_qkv(state_dict, prefix, *_):
    """Checkpoints written before q, k and v were fused hold three matrices: stack them, in q, k, v order."""
    names = [f"{prefix}c_{part}.weight" for part in "qkv"]
    if names[0] in state_dict:
        state_dict[f"{prefix}c_qkv.weight"] = torch.cat([state_dict.pop(n) for n in names])


def attention_entropy(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal attention entropy over log(visible keys), averaged over batch, heads and positions: 1 is uniform
    attention, 0 one key only. Position 0 sees one key and has no choice, so it is left out. Probe passes only:
    it materialises the score matrix that the fused kernel avoids."""
    T = q.size(2)
    scores = (q @ k.transpose(-2, -1)) * q.size(-1) ** -0.5
    causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    probs = scores.float().masked_fill(~causal, float("-inf")).softmax(-1)
    entropy = -(probs * probs.clamp_min(1e-30).log()).sum(-1)
    visible = torch.arange(1, T + 1, device=q.device, dtype=torch.float32).log()
    return (entropy[..., 1:] / visible[1:]).mean()


class Attention(nn.Module):
    def __init__(self, shape: GPTShape):
        super().__init__()
        self.n_head = shape.n_head
        self.head_dim = shape.d_model // shape.n_head
        # q, k and v in one matmul: at the demo's width three small products cost a third more than one
        self.c_qkv = nn.Linear(shape.d_model, 3 * shape.d_model, bias=False)
        self.c_proj = nn.Linear(shape.d_model, shape.d_model, bias=False)
        self._register_load_state_dict_pre_hook(fuse_legacy_qkv)

    def forward(self, x, cos, sin, kv_cache=None, record=None):
        B, T, C = x.shape
        qkv = self.c_qkv(x).view(B, T, 3 * self.n_head, self.head_dim)
        qk, v = qkv.split([2 * self.n_head, self.n_head], dim=2)
        # QK-norm keeps attention logits bounded, which is what lets the lr be high without spikes; q and k go
        # through the rotary and the norm together, half the kernels of doing them one by one
        q, k = rms_norm(apply_rotary(qk, cos, sin)).transpose(1, 2).split(self.n_head, dim=1)
        v = v.transpose(1, 2)
        if kv_cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k, v = kv_cache.append(k, v)
            # queries sit at the end of the cached keys: causal within the new tokens, full view of the past
            past = k.size(2) - T
            mask = torch.ones(T, k.size(2), dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        if record is not None:
            record["attn_entropy"] = attention_entropy(q, k)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, shape: GPTShape):
        super().__init__()
        self.c_fc = nn.Linear(shape.d_model, 4 * shape.d_model, bias=False)
        self.c_proj = nn.Linear(4 * shape.d_model, shape.d_model, bias=False)

    def forward(self, x, record=None):
        hidden = relu_squared(self.c_fc(x))
        if record is not None:
            record["mlp"] = hidden
        return self.c_proj(hidden)


class Block(nn.Module):
    def __init__(self, shape: GPTShape):
        super().__init__()
        self.attn = Attention(shape)
        self.mlp = MLP(shape)

    def forward(self, x, cos, sin, kv_cache=None, record=None):
        x = x + self.attn(rms_norm(x), cos, sin, kv_cache, record)
        x = x + self.mlp(rms_norm(x), record)
        return x


class GPT(nn.Module):
    def __init__(self, shape: GPTShape):
        super().__init__()
        self.shape = shape
        self.wte = nn.Embedding(shape.vocab_size, shape.d_model)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.n_layer))
        self.lm_head = nn.Linear(shape.d_model, shape.vocab_size, bias=False)
        # tables for twice the context so generation may run past seq_len without recomputing them
        cos, sin = rotary_tables(2 * shape.seq_len, shape.d_model // shape.n_head)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    @torch.no_grad()
    def init_weights(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        std = self.shape.d_model ** -0.5
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                # residual branches start as identity: the deep net begins as a shallow one
                p.zero_()
            elif name == "wte.weight":
                p.copy_(torch.randn(p.shape, generator=generator))
            elif name == "lm_head.weight":
                p.copy_(torch.randn(p.shape, generator=generator) * 0.001)
            else:
                p.uniform_(-std * 3 ** 0.5, std * 3 ** 0.5, generator=generator)

    def forward(self, idx, targets=None, kv_cache=None, records: list | None = None, reduction="mean"):
        """Logits, or the loss when targets are given. `records`, when a list, receives one dict per layer with
        the residual stream after the block, the MLP hidden activations and the attention entropy (for the
        understanding module)."""
        B, T = idx.shape
        past = kv_cache.length if kv_cache is not None else 0
        cos, sin = self.cos[:, past:past + T], self.sin[:, past:past + T]
        x = rms_norm(self.wte(idx))
        for i, block in enumerate(self.blocks):
            record = {} if records is not None else None
            x = block(x, cos, sin, kv_cache.layer(i) if kv_cache is not None else None, record)
            if records is not None:
                record["residual"] = x
                records.append(record)
        x = rms_norm(x)
        # logits in fp32 and soft-capped: bf16 loses the small probabilities, and the cap stops runaway logits
        logits = self.lm_head(x).float()
        if targets is None:
            return soft_cap(logits, LOGIT_CAP)
        if reduction == "mean":
            return SoftCapCrossEntropy.apply(logits.view(-1, logits.size(-1)), targets.reshape(-1), LOGIT_CAP)
        return F.cross_entropy(soft_cap(logits, LOGIT_CAP).view(-1, logits.size(-1)), targets.reshape(-1),
                               reduction=reduction)

    def matrix_params(self) -> int:
        """Parameters that take part in matmuls per token: everything but the embedding table."""
        return sum(p.numel() for n, p in self.named_parameters() if n != "wte.weight")

    def flops_per_token(self) -> float:
        # 6 per matmul parameter (forward + backward) plus attention scores and values over the context
        s = self.shape
        return 6 * self.matrix_params() + 12 * s.n_layer * s.d_model * s.seq_len
