"""`phaselog bench NAME`: each benchmark measures one thing on this machine and reports the median and spread
of several repeats, as ratios measured in the same run (tokens/sec against the matmul peak measured just
before). Every result carries a `summary` line and how to rerun it."""
import platform
import statistics
import time

import torch

from model.flops import measure_matmul_peak
from model.gpt import GPT, GPTShape

# the demo's model, and one of width >= 256 as the target asks
TRAIN_SHAPES = [
    {"name": "demo", "n_layer": 2, "d_model": 128, "n_head": 2, "seq_len": 64, "batch_size": 16, "vocab_size": 2048},
    {"name": "wide", "n_layer": 4, "d_model": 512, "n_head": 8, "seq_len": 256, "batch_size": 8, "vocab_size": 4096},
]


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def time_training_steps(shape: dict, dtype: torch.dtype, steps: int = 12, warmup: int = 3) -> tuple[list[float], float]:
    """Seconds per optimizer step on random tokens (the data pipeline is not what is measured here)."""
    torch.manual_seed(0)
    model = GPT(GPTShape(shape["vocab_size"], shape["n_layer"], shape["d_model"], shape["n_head"], shape["seq_len"]))
    model.init_weights(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=False)
    tokens = torch.randint(0, shape["vocab_size"], (shape["batch_size"], shape["seq_len"] + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            loss = model(inputs, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times, model.flops_per_token()


def bench_train() -> dict:
    results = []
    peaks = {}
    for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peaks[dtype_name] = measure_matmul_peak(dtype)
        for shape in TRAIN_SHAPES:
            times, flops_per_token = time_training_steps(shape, dtype)
            tokens = shape["batch_size"] * shape["seq_len"]
            rates = [tokens / t for t in times]
            tokens_per_sec = statistics.median(rates)
            results.append({**shape, "dtype": dtype_name, "tokens_per_sec": tokens_per_sec,
                            "tokens_per_sec_spread": spread(rates), "flops_per_token": flops_per_token,
                            "peak_flops": peaks[dtype_name],
                            "mfu": flops_per_token * tokens_per_sec / peaks[dtype_name]})
    lines = [f"training step throughput on {platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} threads; matmul peak fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, "
             f"bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s (best median of 9 square products, n=1024 and 2048)"]
    for r in results:
        lines.append(f"  {r['name']:5} {r['dtype']}: L{r['n_layer']} d{r['d_model']} T{r['seq_len']} B{r['batch_size']}"
                     f"  {r['tokens_per_sec']:9.0f} tok/s (min {r['tokens_per_sec_spread']['min']:.0f}, "
                     f"max {r['tokens_per_sec_spread']['max']:.0f})  MFU {100 * r['mfu']:.1f}%")
    lines.append("rerun: phaselog bench train [--json]")
    return {"benchmark": "train", "models": results, "summary": "\n".join(lines)}


BENCHMARKS = {"train": bench_train}
