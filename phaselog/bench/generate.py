"""`phaselog bench generate`: tokens/sec of sampling with the KV cache against recomputing the whole context at
every token, on a model of the wide training shape with random weights (they cost the same as trained ones)."""
import platform
import statistics
import time

import torch

from phaselog.bench.train import spread
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
