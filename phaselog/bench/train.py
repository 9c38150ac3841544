"""`phaselog bench train`: tokens/sec and MFU of the full training step (forward, backward, AdamW) at the demo
shape and at a width of 512, against nanoGPT's GPT-2 trainer (phaselog/bench/reference.py) measured in
the same minutes: each trainer in a process of its own, the two alternating round by round so drift in the
machine's load hits both alike. bf16 rows only where the CPU computes bf16 natively (emulated bf16 is one slow
thread per op and made this benchmark run for more than 30 minutes); every shape gets a time budget, so the
whole benchmark ends in under 2 minutes (on a heavily loaded machine, the minimum of one warm-up and one timed
step per trainer can take longer)."""
import contextlib
import multiprocessing
import platform
import statistics
import time

import torch

from phaselog.bench.reference import ReferenceGPT, reference_optimizer
from phaselog.model.device import native_bf16
from phaselog.model.flops import measure_matmul_peak, peak_flops
from phaselog.model.gpt import GPT, GPTShape
from phaselog.model.monitor import Monitor
from phaselog.model.train import adamw_implementation

# the demo's model, and one of width >= 256 as the target asks
TRAIN_SHAPES = [
    {"name": "demo", "n_layer": 2, "d_model": 128, "n_head": 2, "seq_len": 64, "batch_size": 16, "vocab_size": 2048},
    {"name": "wide", "n_layer": 4, "d_model": 512, "n_head": 8, "seq_len": 256, "batch_size": 8, "vocab_size": 4096},
]
# per shape and dtype: steps and rounds shrink to fit it (one warm-up and one timed step per trainer at the least)
SHAPE_BUDGET_SECONDS = 60.0
def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def random_batch(shape: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, shape["vocab_size"], (shape["batch_size"], shape["seq_len"] + 1), device=device)
    return tokens[:, :-1], tokens[:, 1:]


def phaselog_trainer(shape: dict, device: torch.device) -> tuple[GPT, torch.optim.Optimizer]:
    model = GPT(GPTShape(shape["vocab_size"], shape["n_layer"], shape["d_model"], shape["n_head"], shape["seq_len"]))
    model.init_weights(0)
    model.to(device)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3, **adamw_implementation(device))


def reference_trainer(shape: dict, device: torch.device) -> tuple[ReferenceGPT, torch.optim.Optimizer]:
    model = ReferenceGPT(shape["vocab_size"], shape["n_layer"], shape["d_model"], shape["n_head"], shape["seq_len"])
    model.to(device)
    return model, reference_optimizer(model)


def timed_steps(model, optimizer, batch, steps: int, autocast, monitor: Monitor | None = None,
                first_step: int = 0) -> list[float]:
    """Seconds of each of `steps` optimizer steps; the device is synchronised before each clock read."""
    inputs, targets = batch
    sync = torch.cuda.synchronize if inputs.device.type == "cuda" else (lambda: None)
    times = []
    for i in range(first_step, first_step + steps):
        sync()
        t0 = time.perf_counter()
        with autocast:
            loss = model(inputs, targets)
        loss.backward()
        probing = monitor is not None and monitor.is_probe_step(i + 1)
        if probing:
            monitor.before_update()
        optimizer.step()
        if probing:
            monitor.after_update(i + 1)
        optimizer.zero_grad(set_to_none=True)
        sync()
        times.append(time.perf_counter() - t0)
    return times


def time_training_steps(shape: dict, dtype: torch.dtype, steps: int = 12, warmup: int = 3,
                        probe_every: int = 0) -> tuple[list[float], float]:
    """Seconds per optimizer step of phaselog's model on CPU after `warmup` steps; with `probe_every`, the
    understanding monitor probes as it does in training (bench monitor)."""
    torch.manual_seed(0)
    model, optimizer = phaselog_trainer(shape, torch.device("cpu"))
    batch = random_batch(shape, torch.device("cpu"))
    # the probe batch of two sources x 4 windows, as in the default config
    monitor = Monitor(model, batch[0][:8], probe_every) if probe_every else None
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)
    times = timed_steps(model, optimizer, batch, warmup + steps, autocast, monitor)
    return times[warmup:], model.flops_per_token()


def trainer_process(conn, kind: str, shape: dict, device: str, dtype_name: str) -> None:
    """One trainer in a process of its own, as it runs for its user: run the steps asked for over `conn`, send
    back their times, stop on None. In one shared process the trainers' temporaries land in one allocator, and
    which one the allocator favours shifted the ratio by 10% with what ran before (the matmul peak)."""
    device = torch.device(device)
    torch.manual_seed(0)
    batch = random_batch(shape, device)
    model, optimizer = (reference_trainer if kind.startswith("reference") else phaselog_trainer)(shape, device)
    if kind.endswith("compiled"):
        model = torch.compile(model)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if dtype_name == "bf16" else contextlib.nullcontext()
    conn.send(model.flops_per_token() if kind == "phaselog" else None)
    while (steps := conn.recv()) is not None:
        conn.send(timed_steps(model, optimizer, batch, steps, autocast))


def reply(workers: dict, kind: str):
    try:
        return workers[kind].recv()
    except EOFError:
        raise RuntimeError(f"bench train: the {kind} trainer's process ended without answering (its error is "
                           "above)") from None


def alternate(workers: dict, budget: float, round_seconds: float = 0.5, max_rounds: int = 40) -> tuple[dict, int]:
    """Step times per trainer over as many rounds as fit in `budget` seconds (at most `max_rounds`), the order
    of the trainers flipping every round. A round is about `round_seconds` of steps per trainer (one step at the
    least), from the warm-up step's time: the machine's speed drifts by more than the differences measured (10%
    within a minute on a shared VM), so many short rounds compared pairwise beat a few long ones."""
    def run(name: str, steps: int) -> list[float]:
        workers[name].send(steps)
        return reply(workers, name)

    times = {name: [] for name in workers}
    start = time.perf_counter()
    for name in workers:
        run(name, 1)  # warm-up: allocator, kernels, optimizer state
    warm = time.perf_counter() - start
    per_round = max(1, int(round_seconds * len(workers) / warm))
    done = 0
    while done < max_rounds and (done == 0 or time.perf_counter() - start + warm * per_round < budget):
        for name in (list(workers) if done % 2 == 0 else list(reversed(workers))):
            times[name].append(run(name, per_round))
        done += 1
    return times, done


def measure_shape(shape: dict, dtype_name: str, device: torch.device, peak: float, with_reference: bool,
                  compiled: bool = False) -> dict:
    kinds = (["phaselog"] + (["reference"] if with_reference else []) + (["compiled"] if compiled else [])
             + (["reference_compiled"] if compiled and with_reference else []))
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter each: no allocator or thread pool shared
    workers, processes = {}, []
    try:
        for kind in kinds:
            ours, theirs = spawn.Pipe()
            process = spawn.Process(target=trainer_process, args=(theirs, kind, shape, device.type, dtype_name),
                                    daemon=True)
            process.start()
            workers[kind] = ours
            processes.append(process)
        flops_per_token = {kind: reply(workers, kind) for kind in kinds}["phaselog"]  # each says it is ready
        compile_seconds = {}
        for kind in [k for k in kinds if k.endswith("compiled")]:  # the first step compiles: timed apart, off budget
            started = time.perf_counter()
            workers[kind].send(1)
            reply(workers, kind)
            compile_seconds[kind] = time.perf_counter() - started
        budget = SHAPE_BUDGET_SECONDS * len(kinds) / 2  # each trainer past two gets its share
        times, done = alternate(workers, budget)
    finally:
        for conn in workers.values():
            with contextlib.suppress(OSError):  # a trainer that died has said why on stderr
                conn.send(None)
        for process in processes:
            process.join(timeout=30)
    tokens = shape["batch_size"] * shape["seq_len"]
    rates = {name: [tokens / t for block in blocks for t in block] for name, blocks in times.items()}
    row = {**shape, "dtype": dtype_name, "device": device.type, "tokens_per_sec": statistics.median(rates["phaselog"]),
           "tokens_per_sec_spread": spread(rates["phaselog"]), "flops_per_token": flops_per_token,
           "peak_flops": peak, "rounds": done}
    row["mfu"] = flops_per_token * row["tokens_per_sec"] / peak
    def ratios(ours: str, theirs: str) -> dict:
        # the ratio of each round's medians, then spread over rounds: both sides saw the same minutes
        return spread([statistics.median(tokens / t for t in a) / statistics.median(tokens / t for t in b)
                       for a, b in zip(times[ours], times[theirs])])

    if with_reference:
        row.update(reference_tokens_per_sec=statistics.median(rates["reference"]),
                   reference_tokens_per_sec_spread=spread(rates["reference"]),
                   ratio_to_reference=ratios("phaselog", "reference"))
    if compiled:
        row.update(compiled_tokens_per_sec=statistics.median(rates["compiled"]),
                   compile_seconds=compile_seconds["compiled"], ratio_compiled_to_eager=ratios("compiled", "phaselog"))
    if compiled and with_reference:
        row.update(reference_compiled_tokens_per_sec=statistics.median(rates["reference_compiled"]),
                   reference_compile_seconds=compile_seconds["reference_compiled"],
                   compiled_ratio_to_compiled_reference=ratios("compiled", "reference_compiled"))
    return row


def bench_train(device: str = "cpu", compile: bool = False) -> dict:
    """`compile` adds torch.compile'd copies of phaselog's model and of the reference beside the eager ones:
    nanoGPT's train.py compiles by default, phaselog's CPU configs do not (the compilation is timed apart and not
    counted in the budget; it is why compiled rows are not in the default run)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        dtypes = {"bf16": peak_flops(device)}  # the datasheet's dense bf16 peak (model/flops.py)
        skipped = [{"dtype": "fp32", "reason": "on CUDA the trainer runs bf16 autocast; fp32 rows are for CPUs"}]
    else:
        dtypes = {"fp32": measure_matmul_peak(torch.float32)}
        has_bf16, why = native_bf16()
        skipped = []
        if has_bf16:
            dtypes["bf16"] = measure_matmul_peak(torch.bfloat16)
        else:
            skipped.append({"dtype": "bf16", "reason": why})
    results = [measure_shape(shape, dtype_name, device, peak, with_reference=dtype_name == "fp32", compiled=compile)
               for dtype_name, peak in dtypes.items() for shape in TRAIN_SHAPES]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    peaks = ", ".join(f"{name} {peak / 1e9:.0f} GFLOP/s" for name, peak in dtypes.items())
    lines = [f"training step throughput on {where}, {torch.get_num_threads()} threads; matmul peak {peaks} "
             + ("(datasheet)" if device.type == "cuda" else "(best median of 9 square products, n=1024 and 2048)"),
             "  both trainers eager, as phaselog trains on CPU; " + (
                 "compiled copies of both beside them (nanoGPT's train.py compiles by default)" if compile else
                 "nanoGPT's train.py compiles by default: --compile adds compiled copies of both")]
    for r in results:
        line = (f"  {r['name']:5} {r['dtype']}: L{r['n_layer']} d{r['d_model']} T{r['seq_len']} B{r['batch_size']}"
                f"  {r['tokens_per_sec']:9.0f} tok/s (min {r['tokens_per_sec_spread']['min']:.0f}, "
                f"max {r['tokens_per_sec_spread']['max']:.0f})  MFU {100 * r['mfu']:.1f}%")
        if "ratio_to_reference" in r:
            line += (f"  reference {r['reference_tokens_per_sec']:.0f} tok/s, ratio "
                     f"{r['ratio_to_reference']['median']:.2f}x (min {r['ratio_to_reference']['min']:.2f}, "
                     f"max {r['ratio_to_reference']['max']:.2f}, {r['rounds']} alternating rounds)")
        lines.append(line)
        if "compiled_tokens_per_sec" in r:
            lines.append(f"        compiled: {r['compiled_tokens_per_sec']:9.0f} tok/s, "
                         f"{r['ratio_compiled_to_eager']['median']:.2f}x eager (min "
                         f"{r['ratio_compiled_to_eager']['min']:.2f}, max {r['ratio_compiled_to_eager']['max']:.2f}); "
                         f"compiling took {r['compile_seconds']:.0f} s")
        if "reference_compiled_tokens_per_sec" in r:
            ratio = r["compiled_ratio_to_compiled_reference"]
            lines.append(f"        compiled reference: {r['reference_compiled_tokens_per_sec']:.0f} tok/s (compiling "
                         f"took {r['reference_compile_seconds']:.0f} s); compiled against compiled "
                         f"{ratio['median']:.2f}x (min {ratio['min']:.2f}, max {ratio['max']:.2f})")
    if device.type == "cpu" and "bf16" in dtypes:  # what train.precision bf16 would change, shape by shape
        fp32 = {r["name"]: r["tokens_per_sec"] for r in results if r["dtype"] == "fp32"}
        lines.append("  train.precision bf16 trains as the bf16 rows do: " + ", ".join(
            f"{r['name']} {r['tokens_per_sec'] / fp32[r['name']]:.2f}x its fp32 row" for r in results
            if r["dtype"] == "bf16") + " (measured one after the other, not in alternating rounds)")
    for s in skipped:
        lines.append(f"  {s['dtype']} rows skipped: {s['reason']}")
    lines.append("rerun: phaselog bench train [--json] [--device cuda] [--compile]")
    return {"benchmark": "train", "models": results, "skipped": skipped, "summary": "\n".join(lines)}
