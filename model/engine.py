"""Sampling from a GPT with a KV cache: temperature, top-k, top-p, a token budget, stop tokens and a seed, for a
batch of prompts, on whatever device the model lives on. Without the cache every new token recomputes the whole
context; `use_cache=False` keeps that path so tests and the benchmark can compare the two token for token.

Prompts of the same length run as one batch. Prompts of different lengths run as separate batches, one after
the other, instead of being padded: that keeps every row's positions and attention exactly those of a lone
prompt, at the price of less parallelism when lengths differ (self-play sends N copies of one prompt)."""
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0   # 0 means greedy (argmax)
    top_k: int | None = None   # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set of tokens whose probability reaches p
    max_new_tokens: int = 64
    stop_tokens: tuple[int, ...] = ()  # generation of a row ends at these; they are not returned
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class KVCache:
    """Keys and values of every layer for a batch, preallocated up to `capacity` positions. The forward pass
    reads `length` (positions already cached) and calls `layer(i).append(k, v)` once per layer; the cache moves
    on by the new tokens once the last layer has stored its part."""

    def __init__(self, n_layer: int, batch: int, n_head: int, head_dim: int, capacity: int,
                 device: torch.device, dtype: torch.dtype = torch.float32):
        self.keys = torch.empty(n_layer, batch, n_head, capacity, head_dim, device=device, dtype=dtype)
        self.values = torch.empty_like(self.keys)
        self.length = 0

    @classmethod
    def for_model(cls, model, batch: int, capacity: int) -> "KVCache":
        s = model.shape
        return cls(s.n_layer, batch, s.n_head, s.d_model // s.n_head, capacity, model.cos.device)

    def layer(self, index: int) -> "LayerCache":
        return LayerCache(self, index)

    def store(self, index: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.length, self.length + k.size(2)
        if end > self.keys.size(3):
            raise ValueError(f"KV cache holds {self.keys.size(3)} positions; {end} requested")
        self.keys[index, :, :, start:end] = k
        self.values[index, :, :, start:end] = v
        if index == self.keys.size(0) - 1:
            self.length = end
        return self.keys[index, :, :, :end], self.values[index, :, :, :end]


class LayerCache:
    def __init__(self, cache: KVCache, index: int):
        self.cache, self.index = cache, index

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new keys/values (B, heads, T, head_dim); return all of them so far."""
        return self.cache.store(self.index, k, v)


def context_limit(model) -> int:
    """Longest sequence the model can run: its rotary tables (twice the training context)."""
    return model.cos.size(1)


def sample_next(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> torch.Tensor:
    """One token id per row of (B, vocab) logits."""
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < logits.size(-1):
        kth = torch.topk(logits, sampling.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p is not None and sampling.top_p < 1.0:
        ordered, order = torch.sort(logits, dim=-1, descending=True)
        probs = ordered.softmax(dim=-1)
        # drop a token when the more likely ones already reach p; the most likely token always stays
        drop = probs.cumsum(dim=-1) - probs >= sampling.top_p
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def generate_batch(model, prompt: torch.Tensor, sampling: Sampling, generator: torch.Generator,
                   use_cache: bool = True) -> list[list[int]]:
    """New tokens for a (B, T) batch of equal-length prompts, each row cut at its first stop token."""
    batch, length = prompt.shape
    total = length + sampling.max_new_tokens
    if total > context_limit(model):
        raise ValueError(f"prompt of {length} tokens + {sampling.max_new_tokens} new tokens exceeds the model's "
                         f"limit of {context_limit(model)} positions")
    cache = KVCache.for_model(model, batch, total) if use_cache else None
    sequence = prompt
    logits = model(prompt, kv_cache=cache)[:, -1]
    stops = torch.tensor(sampling.stop_tokens, dtype=torch.long, device=prompt.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=prompt.device)
    new = []
    for i in range(sampling.max_new_tokens):
        token = sample_next(logits, sampling, generator)
        new.append(token)
        finished |= torch.isin(token, stops)
        if finished.all() or i == sampling.max_new_tokens - 1:
            break
        if use_cache:
            logits = model(token[:, None], kv_cache=cache)[:, -1]
        else:
            sequence = torch.cat([sequence, token[:, None]], dim=1)
            logits = model(sequence)[:, -1]
    rows = torch.stack(new, dim=1).tolist() if new else [[] for _ in range(batch)]
    stop_set = set(sampling.stop_tokens)
    return [row[:next((j for j, t in enumerate(row) if t in stop_set), len(row))] for row in rows]


def generate(model, prompts: list[list[int]], sampling: Sampling, use_cache: bool = True) -> list[list[int]]:
    """New tokens for every prompt, in the prompts' order. One generator seeded once per call: the same prompts
    with the same sampling give the same tokens."""
    if any(not p for p in prompts):
        raise ValueError("every prompt needs at least one token (start it with BOS)")
    device = model.cos.device
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    was_training = model.training
    model.eval()
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    results: list[list[int]] = [[] for _ in prompts]
    for indices in by_length.values():
        batch = torch.tensor([prompts[i] for i in indices], dtype=torch.long, device=device)
        for i, row in zip(indices, generate_batch(model, batch, sampling, generator, use_cache)):
            results[i] = row
    model.train(was_training)
    return results
