"""`phaselog bench NAME`: each benchmark measures one thing on this machine and reports the median and spread
of several repeats, as ratios measured in the same run (tokens/sec against the matmul peak measured just
before). Every result carries a `summary` line and how to rerun it."""
import platform
import statistics
import time

import torch

from model.engine import Sampling, generate
from model.flops import measure_matmul_peak
from model.gpt import GPT, GPTShape
from phaselog.bench_data import bench_data
from phaselog.bench_eval import bench_eval
from phaselog.bench_explore import bench_explore
from phaselog.bench_scan import bench_scan
from reports.bench import bench_report
from understanding.monitor import Monitor

# the demo's model, and one of width >= 256 as the target asks
TRAIN_SHAPES = [
    {"name": "demo", "n_layer": 2, "d_model": 128, "n_head": 2, "seq_len": 64, "batch_size": 16, "vocab_size": 2048},
    {"name": "wide", "n_layer": 4, "d_model": 512, "n_head": 8, "seq_len": 256, "batch_size": 8, "vocab_size": 4096},
]


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def time_training_steps(shape: dict, dtype: torch.dtype, steps: int = 12, warmup: int = 3,
                        probe_every: int = 0) -> tuple[list[float], float]:
    """Seconds per optimizer step on random tokens (the data pipeline is not what is measured here); with
    `probe_every`, the understanding monitor probes as it does in training."""
    torch.manual_seed(0)
    model = GPT(GPTShape(shape["vocab_size"], shape["n_layer"], shape["d_model"], shape["n_head"], shape["seq_len"]))
    model.init_weights(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=False)
    tokens = torch.randint(0, shape["vocab_size"], (shape["batch_size"], shape["seq_len"] + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    # the probe batch of two sources x 4 windows, as in the default config
    monitor = Monitor(model, inputs[:8], probe_every) if probe_every else None
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            loss = model(inputs, targets)
        loss.backward()
        probing = monitor is not None and monitor.is_probe_step(i + 1)
        if probing:
            monitor.before_update()
        optimizer.step()
        if probing:
            monitor.after_update(i + 1)
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


# the wide training shape: generation is worth a cache once the context and the model are not toy-sized
GENERATE_SHAPE = {"n_layer": 4, "d_model": 512, "n_head": 8, "seq_len": 256, "vocab_size": 4096,
                  "prompt_tokens": 16, "new_tokens": 256}


def bench_generate(repeats: int = 3) -> dict:
    """Tokens/sec generating 256 new tokens after a 16-token prompt (batch 1, greedy, so both paths produce
    the same tokens), with the KV cache and recomputing the whole context at every token."""
    s = GENERATE_SHAPE
    torch.manual_seed(0)
    model = GPT(GPTShape(s["vocab_size"], s["n_layer"], s["d_model"], s["n_head"], s["seq_len"]))
    model.init_weights(0)
    prompt = [torch.randint(0, s["vocab_size"], (s["prompt_tokens"],)).tolist()]
    greedy = Sampling(temperature=0, max_new_tokens=s["new_tokens"])
    rates = {}
    for name, use_cache in (("kv_cache", True), ("recompute", False)):
        generate(model, prompt, Sampling(temperature=0, max_new_tokens=8), use_cache)  # warm up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            generate(model, prompt, greedy, use_cache)
            times.append(time.perf_counter() - t0)
        rates[name] = [s["new_tokens"] / t for t in times]
    speedup = statistics.median(rates["kv_cache"]) / statistics.median(rates["recompute"])
    lines = [f"generation on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads: "
             f"L{s['n_layer']} d{s['d_model']} T{s['seq_len']}, prompt {s['prompt_tokens']} tokens, "
             f"{s['new_tokens']} new tokens, batch 1, greedy, {repeats} repeats"]
    for name, values in rates.items():
        lines.append(f"  {name:9}: median {statistics.median(values):7.1f} tok/s "
                     f"(min {min(values):.1f}, max {max(values):.1f})")
    lines.append(f"  speedup of the KV cache: {speedup:.1f}x (target >= 5x)")
    lines.append("rerun: phaselog bench generate [--json]")
    return {"benchmark": "generate", **s, "kv_cache": spread(rates["kv_cache"]),
            "recompute": spread(rates["recompute"]), "speedup": speedup, "summary": "\n".join(lines)}


def bench_monitor(repeats: int = 5, steps: int = 200) -> dict:
    """Training step time with the understanding monitor at the default probe interval against without it, on
    the demo model in fp32; repeats alternate the two so drift in the machine hits both alike."""
    from phaselog.config import UnderstandingConfig

    every = UnderstandingConfig().probe_every
    shape = TRAIN_SHAPES[0]
    plain, monitored = [], []
    for _ in range(repeats):
        plain.append(statistics.fmean(time_training_steps(shape, torch.float32, steps)[0]))
        monitored.append(statistics.fmean(time_training_steps(shape, torch.float32, steps, probe_every=every)[0]))
    overheads = [100 * (m / p - 1) for p, m in zip(plain, monitored)]
    result = {"benchmark": "monitor", "shape": shape, "probe_every": every, "steps": steps,
              "step_ms_plain": spread([1000 * t for t in plain]), "step_ms_monitored": spread([1000 * t for t in monitored]),
              "overhead_percent": spread(overheads)}
    lines = [f"monitor overhead on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads: "
             f"demo model (L{shape['n_layer']} d{shape['d_model']} T{shape['seq_len']} B{shape['batch_size']}, fp32), "
             f"probe every {every} steps, mean step time over {steps} steps, {repeats} alternating repeats",
             f"  without monitor: median {statistics.median(plain) * 1000:.2f} ms/step "
             f"(min {min(plain) * 1000:.2f}, max {max(plain) * 1000:.2f})",
             f"  with monitor:    median {statistics.median(monitored) * 1000:.2f} ms/step "
             f"(min {min(monitored) * 1000:.2f}, max {max(monitored) * 1000:.2f})",
             f"  overhead: median {statistics.median(overheads):+.2f}% (min {min(overheads):+.2f}%, "
             f"max {max(overheads):+.2f}%; target <= 3%)",
             "rerun: phaselog bench monitor [--json]"]
    return {**result, "summary": "\n".join(lines)}


BENCHMARKS = {"monitor": bench_monitor, "train": bench_train, "generate": bench_generate, "report": bench_report, "data": bench_data,
              "eval": bench_eval, "explore": bench_explore, "scan": bench_scan}
