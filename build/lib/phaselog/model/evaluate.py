"""Evaluation of a saved checkpoint: validation bits per byte per source and overall, and the CORE-style task
suite (model/core_eval.py). bpb is the summed cross-entropy in nats over ALL validation targets divided by
(ln 2 x their summed UTF-8 byte length); special tokens (BOS) count 0 bytes but their loss still counts, as the
design defines it: predicting where a document ends is part of coding the text.

The checkpoint is read onto the CPU and only the model weights go to the device: the optimizer state it also
holds is never moved there. `python -m phaselog.model.evaluate RUN_DIR STEP OUT.json` does the same in a fresh process
(evaluation.process: subprocess), so even a crash of evaluation cannot take the training run with it."""
import gc
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from phaselog.core.config import PhaseConfig
from phaselog.datasets.shards import load_stream
from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.checkpoint import checkpoint_path, load_model
from phaselog.model.core_bundle import load_bundle
from phaselog.model.core_eval import evaluate_core, free_memory, is_out_of_memory
from phaselog.model.device import pick_device
from phaselog.model.gpt import GPT


@torch.no_grad()
def bits_per_byte(model, stream: np.ndarray, token_bytes: torch.Tensor, max_tokens: int, batch_size: int = 8,
                  device: torch.device = torch.device("cpu"), forward=None) -> tuple[float, int]:
    """bpb over consecutive, non-overlapping windows from the start of `stream`; also the bytes scored.
    On out-of-memory the batch is halved and the same windows retried, down to one window."""
    forward = forward or model
    seq_len = model.shape.seq_len
    n_windows = max(1, min(max_tokens, len(stream) - 1) // seq_len)
    nats, n_bytes, first = 0.0, 0, 0
    was_training = model.training
    model.eval()
    while first < n_windows:
        count = min(batch_size, n_windows - first)
        windows = [stream[i * seq_len:i * seq_len + seq_len + 1] for i in range(first, first + count)]
        windows = [w for w in windows if len(w) == seq_len + 1]
        if not windows:
            break
        block = torch.from_numpy(np.stack(windows)).to(device)
        inputs, targets = block[:, :-1], block[:, 1:]
        try:
            losses = forward(inputs, targets, reduction="none").view(-1)
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err) or count == 1:
                raise
            losses = None
        if losses is None:
            # freed outside the except block: the traceback would keep the failed batch's tensors alive
            del block, inputs, targets
            free_memory()
            batch_size = max(1, count // 2)
            continue
        target_bytes = token_bytes.to(device)[targets.reshape(-1)]
        nats += losses.sum().item()
        n_bytes += target_bytes.sum().item()
        first += count
    model.train(was_training)
    return (nats / (math.log(2) * n_bytes) if n_bytes else float("nan")), n_bytes


def load_eval_model(run_dir: Path, config, step: int, device: torch.device) -> tuple[GPT, Tokenizer]:
    return load_model(run_dir, config.model, checkpoint_path(run_dir / "checkpoints", step), device)


def validation_bpb(model: GPT, tokenizer: Tokenizer, run_dir: Path, config, device) -> dict[str, float]:
    """`val_bpb/<source>` on every source's held-out split, and `val_bpb`: all sources' bits over all their
    bytes, not a mean of ratios."""
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


def evaluate_checkpoint(run_dir, config, step: int, forward=None) -> dict:
    """{"values": {name: value}, "skipped": [{"task", "reason"}], "examples": n} for the checkpoint at `step`.
    CORE tasks run only when evaluation.enabled; `forward` replaces the model call (tests inject OOMs)."""
    run_dir = Path(run_dir)
    free_memory()
    device = pick_device(config.train.device)
    model, tokenizer = load_eval_model(run_dir, config, step, device)
    values, skipped, examples = validation_bpb(model, tokenizer, run_dir, config, device), [], 0
    ev = config.evaluation
    if ev.enabled:
        core = evaluate_core(model, tokenizer, load_bundle(ev.bundle), device, ev.max_items_per_task,
                             ev.start_batch_size, forward)
        values.update(core.values)
        skipped, examples = core.skipped, core.examples
    del model
    gc.collect()
    return {"values": values, "skipped": skipped, "examples": examples}



def evaluate_in_subprocess(run_dir: Path, step: int) -> dict:
    """`python -m phaselog.model.evaluate` on the saved checkpoint; if that process dies (the kernel's OOM killer, a
    driver fault), the whole evaluation is reported as skipped and the caller carries on."""
    with tempfile.TemporaryDirectory(prefix="phaselog-eval-") as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, "-m", "phaselog.model.evaluate", str(run_dir), str(step), str(out)],
                              capture_output=True, text=True)
        if done.returncode == 0 and out.is_file():
            return json.loads(out.read_text())
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"values": {}, "examples": 0,
            "skipped": [{"task": "*", "reason": f"evaluation process exited with {done.returncode}: {tail}"[:500]}]}


def run_evaluation(run_dir: Path, config, step: int) -> dict:
    """Where the config says: in this process, or in a fresh one that cannot take the run down with it."""
    if config.evaluation.process == "subprocess":
        return evaluate_in_subprocess(Path(run_dir), step)
    return evaluate_checkpoint(Path(run_dir), config, step)


if __name__ == "__main__":
    run_dir, step, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    config = PhaseConfig.model_validate_json((run_dir / "config.json").read_text())
    out.write_text(json.dumps(evaluate_checkpoint(run_dir, config, step)))
