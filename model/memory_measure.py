"""Measured peak memory of training steps, for checking model/memory.py: `python -m phaselog.model.memory_measure VOCAB
LAYERS WIDTH HEADS SEQ_LEN MICRO_BATCH [bf16]` prints one JSON object (bf16: the step under CPU bf16 autocast,
as train.precision bf16 trains). It must be a fresh process: the peak is the
kernel's high-water mark of resident memory (VmHWM), taken just before the model exists and after two full
steps (forward, backward, clip, fused AdamW), so the growth is what training added and nothing that ran before."""
import json
import resource
import sys
from pathlib import Path

import torch

from phaselog.model.gpt import GPT, GPTShape
from phaselog.model.train import adamw_implementation


def peak_rss_bytes() -> int:
    # VmHWM is this process's own high-water mark. ru_maxrss is not: across fork and exec it starts from the
    # parent's (a test process of a gigabyte would hide a 300 MB training step entirely)
    status = Path("/proc/self/status")
    if status.is_file():
        line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main(argv: list[str]) -> None:
    vocab, layers, width, heads, seq_len, micro_batch = map(int, argv[:6])
    autocast = torch.autocast("cpu", torch.bfloat16, enabled=argv[6:] == ["bf16"])
    # the kernels' own buffers and thread pools first, on a product too small to matter, so they are baseline
    torch.randn(64, 64) @ torch.randn(64, 64)
    before = peak_rss_bytes()
    model = GPT(GPTShape(vocab, layers, width, heads, seq_len))
    model.init_weights(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, **adamw_implementation(torch.device("cpu")))
    tokens = torch.randint(0, vocab, (micro_batch, seq_len + 1))
    for _ in range(2):
        with autocast:
            loss = model(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    print(json.dumps({"peak_growth_bytes": peak_rss_bytes() - before}))


if __name__ == "__main__":
    main(sys.argv[1:])
