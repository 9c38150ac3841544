"""Validation bits per byte: summed cross-entropy in nats over the validation targets divided by
(ln 2 x their summed UTF-8 byte length). Special tokens count 0 bytes, so the figure compares across tokenizers."""
import math
from pathlib import Path

import numpy as np
import torch

from datasets.shards import load_stream
from model.checkpoint import checkpoint_path, load_checkpoint
from model.gpt import GPT, GPTShape
from model.tokenizer import Tokenizer
from model.train import pick_device


@torch.no_grad()
def bits_per_byte(model, stream: np.ndarray, token_bytes: torch.Tensor, max_tokens: int, batch_size: int = 8,
                  device: torch.device = torch.device("cpu")) -> tuple[float, int]:
    """bpb over consecutive, non-overlapping windows from the start of `stream`; also the bytes scored."""
    seq_len = model.shape.seq_len
    n_windows = max(1, min(max_tokens, len(stream) - 1) // seq_len)
    nats, n_bytes = 0.0, 0
    was_training = model.training
    model.eval()
    for first in range(0, n_windows, batch_size):
        windows = [stream[i * seq_len:i * seq_len + seq_len + 1]
                   for i in range(first, min(first + batch_size, n_windows))]
        windows = [w for w in windows if len(w) == seq_len + 1]
        if not windows:
            break
        block = torch.from_numpy(np.stack(windows)).to(device)
        inputs, targets = block[:, :-1], block[:, 1:]
        losses = model(inputs, targets, reduction="none").view(-1)
        target_bytes = token_bytes.to(device)[targets.reshape(-1)]
        counted = target_bytes > 0
        nats += losses[counted].sum().item()
        n_bytes += target_bytes.sum().item()
    model.train(was_training)
    return (nats / (math.log(2) * n_bytes) if n_bytes else float("nan")), n_bytes


def evaluate_checkpoint(run_dir, config, step: int) -> dict[str, float]:
    """val bpb of the checkpoint at `step` on every source's held-out split (`val_bpb/<source>`) and overall
    (`val_bpb`: all sources' nats over all their bytes, not a mean of ratios)."""
    run_dir = Path(run_dir)
    device = pick_device(config.train.device)
    tokenizer = Tokenizer.load(run_dir / "tokenizer")
    model = GPT(GPTShape.from_config(config.model, tokenizer.vocab_size)).to(device)
    model.load_state_dict(load_checkpoint(checkpoint_path(run_dir / "checkpoints", step), device)["model"])
    token_bytes = tokenizer.token_bytes()
    per_source = config.train.val_tokens // len(config.data.sources)
    results, total_bits, total_bytes = {}, 0.0, 0
    for source in config.data.sources:
        stream = load_stream(run_dir / "shards", source.name, "val")
        bpb, n_bytes = bits_per_byte(model, stream, token_bytes, per_source, device=device)
        results[f"val_bpb/{source.name}"] = bpb
        total_bits += bpb * n_bytes
        total_bytes += n_bytes
    results["val_bpb"] = total_bits / total_bytes if total_bytes else float("nan")
    return results
