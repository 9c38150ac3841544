"""`phaselog bench eval`: examples/sec of the CORE-style suite (the shipped evals/core_mini bundle) on the demo's
model shape and a wider one, at the default start batch and at batch 1 (what the OOM back-off falls to). The
tokenizer is trained on the bundle's own text, so the benchmark needs no corpus; the weights are random, which
costs the same as trained ones."""
import json
import platform
import statistics
import time

import torch

from phaselog.bench.train import spread
from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.core_bundle import load_bundle
from phaselog.model.core_eval import evaluate_core
from phaselog.model.gpt import GPT, GPTShape

EVAL_SHAPES = [
    {"name": "demo", "n_layer": 2, "d_model": 128, "n_head": 2, "seq_len": 64},
    {"name": "wide", "n_layer": 4, "d_model": 512, "n_head": 8, "seq_len": 256},
]


def bench_eval(repeats: int = 3) -> dict:
    tasks = load_bundle("evals/core_mini")
    tokenizer = Tokenizer.train([json.dumps(t.items) for t in tasks] * 20, 1024)
    device = torch.device("cpu")
    results = []
    for shape in EVAL_SHAPES:
        model = GPT(GPTShape(tokenizer.vocab_size, shape["n_layer"], shape["d_model"], shape["n_head"],
                             shape["seq_len"]))
        model.init_weights(0)
        for batch_size in (32, 1):
            evaluate_core(model, tokenizer, tasks[:1], device, max_items=4, batch_size=batch_size)  # warm up
            rates = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                done = evaluate_core(model, tokenizer, tasks, device, batch_size=batch_size)
                rates.append(done.examples / (time.perf_counter() - t0))
            results.append({**shape, "batch_size": batch_size, "examples": done.examples,
                            "examples_per_sec": statistics.median(rates), "spread": spread(rates)})
    lines = [f"CORE-style suite (evals/core_mini, {results[0]['examples']} items, {len(tasks)} tasks) on "
             f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {repeats} repeats"]
    for r in results:
        lines.append(f"  {r['name']:5} L{r['n_layer']} d{r['d_model']} T{r['seq_len']} batch {r['batch_size']:2}: "
                     f"median {r['examples_per_sec']:7.1f} examples/s (min {r['spread']['min']:.1f}, "
                     f"max {r['spread']['max']:.1f})")
    lines.append("rerun: phaselog bench eval [--json]")
    return {"benchmark": "eval", "results": results, "summary": "\n".join(lines)}
