"""The peer `bench train` and `bench race` measure phaselog against: the classic GPT-2 trainer as nanoGPT's model.py
builds it with its default bias=False, written here in our own words for the benchmarks only (no run uses it).
Learned position embeddings; pre-norm blocks of LayerNorm (a gain, no bias, eps 1e-5), one fused q/k/v matrix
`c_attn`, causal F.scaled_dot_product_attention, an exact-GELU MLP of 4x width; a final LayerNorm and a head tied
to the token embedding; normal(0.02) init with the residual projections at 0.02 / sqrt(2 n_layer). Its
optimizer is nanoGPT's configure_optimizers: AdamW, betas (0.9, 0.95) (its GPT-2 config; 0.99 in its small-data
configs, which `bench race` uses), weight decay 0.1 on the parameters of two or more dimensions and none on the
rest; its schedule (`reference_lr_multiplier`) a linear warmup, then a cosine to a tenth of the peak lr. nanoGPT
asks for fused AdamW on CUDA only; here the reference takes the fused kernel on CPU too, as phaselog does, so the
optimizer is never where phaselog gains.
`bias=True` gives GPT-2's own layout, which the parameter-count check uses (docs/benchmarks.md)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class ReferenceBlock(nn.Module):
    def __init__(self, d_model: int, n_head: int, bias: bool):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(d_model, bias=bias)
        self.c_attn = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.attn_proj = nn.Linear(d_model, d_model, bias=bias)
        self.ln_2 = nn.LayerNorm(d_model, bias=bias)
        self.c_fc = nn.Linear(d_model, 4 * d_model, bias=bias)
        self.mlp_proj = nn.Linear(4 * d_model, d_model, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class ReferenceGPT(nn.Module):
    def __init__(self, vocab_size: int, n_layer: int, d_model: int, n_head: int, seq_len: int,
                 bias: bool = False):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, d_model)
        self.wpe = nn.Embedding(seq_len, d_model)
        self.blocks = nn.ModuleList(ReferenceBlock(d_model, n_head, bias) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model, bias=bias)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one matrix, counted once
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets, reduction="mean"):
        """The loss; per token with reduction="none" (bench race's evaluator, which phaselog's GPT shares)."""
        positions = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction)


def reference_optimizer(model: ReferenceGPT, lr: float = 6e-4, betas: tuple[float, float] = (0.9, 0.95)
                        ) -> torch.optim.Optimizer:
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    device = next(model.parameters()).device
    return torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1, "base_lr": lr},
                              {"params": others, "weight_decay": 0.0, "base_lr": lr}],
                             lr=lr, betas=betas, fused=device.type in ("cpu", "cuda"))


def reference_lr_multiplier(step: int, steps: int, warmup: int) -> float:
    """nanoGPT's get_lr over a run of `steps` updates, as a share of the peak: linear warmup over `warmup` steps,
    then a cosine from the peak down to min_lr = a tenth of it at the last step."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
