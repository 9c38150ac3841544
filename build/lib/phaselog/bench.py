"""`phaselog bench NAME`: each benchmark measures one thing on this machine and reports the median and spread
of several repeats, as ratios measured in the same run (tokens/sec against the matmul peak measured just
before). Every result carries a `summary` line and how to rerun it."""
import platform
import statistics
import time

import torch

from phaselog.bench_train import TRAIN_SHAPES, spread, time_training_steps
from phaselog.core.config import UnderstandingConfig
from phaselog.model.engine import Sampling, generate
from phaselog.model.gpt import GPT, GPTShape

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

