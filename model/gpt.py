"""A nanochat-style GPT: rotary position embeddings, QK-norm, parameter-free RMSNorm, ReLU^2 MLP, an untied
head and no biases. Sizes come from `ModelConfig` (depth is the dial). The forward pass can also hand back
per-layer activations for the understanding module, so probing needs no hooks."""
import math
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


def head_chunk_rows(d_model: int, vocab: int, device: torch.device) -> int:
    """Tokens per chunk of the fused head. A logit costs 6 d_model FLOPs of matmul and ten elementwise passes:
    at a small width the passes dominate and want the chunk in cache, at a large width the matmuls want rows.
    On CPU 8192 x d_model logits per chunk (measured: 512 tokens at the demo's d128 V2048, 1024 at d512 V4096,
    each the fastest within noise of 64 to 2048), at least 256 tokens. On CUDA 2^26 logits (256 MB of fp32), so
    that the chunk's matmuls fill the card and the step still never holds the whole logits tensor."""
    logits = 2 ** 13 * d_model if device.type == "cpu" else 2 ** 26
    return max(256, logits // vocab)


class HeadCrossEntropy(torch.autograd.Function):
    """The head's matmul, the soft cap and the mean cross-entropy as one function, a chunk of tokens at a time.
    The logits are the largest tensors of a step (tokens x vocab); here they never exist in full. Each chunk's
    gradient is made in the forward, while its logits are in cache, and the function keeps only the gradients
    of its inputs (tokens x d_model and vocab x d_model) for the backward to scale. Forward passes without a
    backward (evaluation, probes, torch.no_grad) skip the gradient work (`with_grad`).

    Per chunk: u = 2 cap sigmoid(2 x / cap) is the capped logit plus cap (the softmax does not see the shift), so
    exp(u) <= exp(2 cap) needs no max subtracted while vocab x exp(2 cap) fits in fp32 (at cap 15: 1e13 x vocab);
    p = softmax(u); the loss is -log p(target),
    safe in fp32 because the cap bounds each probability below by exp(-2 cap) / vocab. The gradient on the logits
    is (p - one_hot(target)) times the cap's derivative 1 - (capped / cap)^2 = u (2 cap - u) / cap^2."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, cap: float,
                with_grad: bool) -> torch.Tensor:
        n, vocab = x.size(0), weight.size(0)
        assert 2 * cap + math.log(vocab) < 88, "the sum of exp(2 cap) over the vocabulary must fit in fp32"
        rows = head_chunk_rows(x.size(1), vocab, x.device)
        wide = torch.promote_types(x.dtype, torch.float32)  # fp32 at the least: bf16 loses small probabilities
        mixed = torch.is_autocast_enabled(x.device.type)  # out= and in-place ops do not autocast
        # chunk buffers for the whole pass: the logits turning into probabilities, then into their gradient; and
        # the cap's derivative
        logits = torch.empty(min(rows, n), vocab, dtype=wide, device=x.device)
        loss = torch.zeros((), dtype=wide, device=x.device)
        if with_grad:
            d_cap = torch.empty_like(logits)
            grad_x = torch.empty(x.shape, dtype=wide, device=x.device)
            grad_weight = torch.zeros(weight.shape, dtype=wide, device=x.device)
        for start in range(0, n, rows):
            chunk, chunk_targets = x[start:start + rows], targets[start:start + rows, None]
            u = logits[:chunk.size(0)]
            if mixed:
                u.copy_(F.linear(chunk, weight))
            else:
                torch.mm(chunk, weight.t(), out=u)
            u.mul_(2 / cap).sigmoid_().mul_(2 * cap)
            if with_grad:  # u (u - 2 cap), which is -cap^2 times the cap's derivative
                d = torch.add(u, -2 * cap, out=d_cap[:chunk.size(0)]).mul_(u)
            probs = u.exp_()
            probs.div_(probs.sum(-1, keepdim=True))
            loss -= probs.gather(1, chunk_targets).log_().sum()
            if not with_grad:
                continue
            d_target = d.gather(1, chunk_targets)
            d_logits = probs.mul_(d).scatter_add_(1, chunk_targets, d_target.neg_())  # -cap^2 of the gradient
            if mixed:  # bf16 products, summed in fp32
                grad_x[start:start + rows] = d_logits @ weight
                grad_weight += d_logits.t() @ chunk
            else:  # straight into the gradients, no product tensors
                torch.mm(d_logits, weight, out=grad_x[start:start + rows])
                grad_weight.addmm_(d_logits.t(), chunk)
        if with_grad:
            scale = -1 / (cap ** 2 * n)
            ctx.save_for_backward(grad_x.mul_(scale).to(x.dtype), grad_weight.mul_(scale).to(weight.dtype))
        return loss / n

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad_x, grad_weight = ctx.saved_tensors
        return grad_x * grad, grad_weight * grad, None, None, None


def head_cross_entropy(x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, cap: float) -> torch.Tensor:
    with_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    return HeadCrossEntropy.apply(x, weight, targets, cap, with_grad)


def rotary_tables(seq_len: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-width tables for the rotate-half form below: cos repeated over both halves, sin negated on the first
    (dims i and i + head_dim/2 rotate together by angle i)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([cos, cos], -1)[None, :, None, :], torch.cat([-sin, sin], -1)[None, :, None, :]


class Rotary(torch.autograd.Function):
    """(x1 cos - x2 sin, x2 cos + x1 sin) over the halves x1, x2 of each head, the sign in the sin table.
    The halves are read through views rather than swapped into a new tensor: two passes each way, where
    autograd's composition takes a dozen half-size ones. The backward is the rotation by the opposite angle."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(cos, sin)
        return rotate(x, cos, sin, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cos, sin = ctx.saved_tensors
        return rotate(grad, cos, sin, -1), None, None


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, direction: int) -> torch.Tensor:
    h = x.size(-1) // 2
    out = x * cos
    out[..., :h].addcmul_(x[..., h:], sin[..., :h], value=direction)
    out[..., h:].addcmul_(x[..., :h], sin[..., h:], value=direction)
    return out


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

    def final_hidden(self, idx, kv_cache=None, records: list | None = None) -> torch.Tensor:
        """The normed hidden state the head reads. `records`, when a list, receives one dict per layer with the
        residual stream after the block, the MLP hidden activations and the attention entropy (the understanding
        module's probes, which need no logits: at phase1's vocabulary those would be the largest tensors)."""
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
        return rms_norm(x)

    def forward(self, idx, targets=None, kv_cache=None, reduction="mean"):
        """Logits, or the loss when targets are given (per token with reduction="none")."""
        x = self.final_hidden(idx, kv_cache)
        if targets is not None and reduction == "mean":  # training: the head is fused with the loss
            return head_cross_entropy(x.view(-1, x.size(-1)), self.lm_head.weight, targets.reshape(-1), LOGIT_CAP)
        # logits in fp32 and soft-capped: bf16 loses the small probabilities, and the cap stops runaway logits
        logits = soft_cap(self.lm_head(x).float(), LOGIT_CAP)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction)

    def matrix_params(self) -> int:
        """Parameters that take part in matmuls per token: everything but the embedding table."""
        return sum(p.numel() for n, p in self.named_parameters() if n != "wte.weight")

    def flops_per_token(self) -> float:
        # 6 per matmul parameter (forward + backward) plus attention scores and values over the context
        s = self.shape
        return 6 * self.matrix_params() + 12 * s.n_layer * s.d_model * s.seq_len
