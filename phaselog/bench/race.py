"""`phaselog bench race`: how soon phaselog gets good on this machine against nanoGPT's recipe, side by side.

The peer is nanoGPT's model (bench/reference.py) trained as nanoGPT trains it: AdamW betas (0.9, 0.99), weight
decay 0.1, warmup, cosine to a tenth of the lr, grad clip 1.0, no bias; its lr tuned over PEER_LRS in the first
round, and every claim is against the tuned one. phaselog trains its own model with its own recipe (the demo
config's learning rates and schedule). Both see the same tokens (phaselog's tokenizer and shards, the same batch
for the same seed and step) and are scored by one evaluator on one fixed validation set (the first windows of
each source's held-out split), off the clock.

Per shape: the peer trains for a budget T, set in steps (so the target does not move with the machine's load; on 2
idle cores the default budgets are some 20 s and 40 s of training); the target is its median final val loss over
the seeds. phaselog trains complete schedules (warmup to warmdown, no early stop: rankings flip during the decay)
at FRACTIONS of T's tokens, and its tokens to target are where its median final loss over the seeds crosses the
target, interpolated in log tokens. Time is tokens over throughput, and the throughput ratio is the median over
rounds of each round's ratio of the two trainers' median tok/s (the runs of a round alternate between the two
trainers, so the machine's load hits both alike), so interpolating in log tokens is interpolating in log time:
time_ratio = token_ratio / throughput_ratio, the two reported apart. The interval resamples the seeds (bootstrap).

A lever is raced as config overrides on phaselog's side alone (`--set KEY=VALUE`, as `phaselog run` takes them,
applied after the shape: train.batch_size=32 trains 32 sequences a step, fewer steps for the same tokens;
train.warmup_steps counts the race's steps). `--target LOSS` skips the peer and races phaselog alone to that loss
(one shape): tokens to target and final losses, which do not move with the machine's load, for a lever's quick
look against a target measured before."""
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from phaselog.bench.reference import ReferenceGPT, reference_lr_multiplier, reference_optimizer
from phaselog.bench.train import spread
from phaselog.core.config import PhaseConfig, apply_override, config_from_dict, load_config, parse_override
from phaselog.core.errors import PhaselogError
from phaselog.datasets.mixing import BatchSampler, mix_from_config
from phaselog.datasets.prepare import prepare_data
from phaselog.datasets.shards import load_stream
from phaselog.model.device import trains_bf16
from phaselog.model.train import (build_model, build_optimizer, load_data, lr_multiplier, muon_lr, set_lr,
                                  training_autocast)

REPO = Path(__file__).resolve().parents[2]
# the demo's shape and a wider one, both 1,024 tokens a step; T, the peer's budget in steps (default run, --full):
# long enough that its warmup and cosine run as in a real run, short enough for about 10 minutes on 2 idle cores
SHAPES = [
    {"name": "demo", "depth": 2, "seq_len": 64, "batch_size": 16, "steps": 800, "full_steps": 4000},
    {"name": "wide", "depth": 4, "seq_len": 128, "batch_size": 8, "steps": 300, "full_steps": 1500},
]
PEER_LRS = (3e-4, 1e-3, 3e-3, 6e-3)
PEER_BETAS = (0.9, 0.99)
PEER_WARMUP = 0.02  # share of the run nanoGPT's small-data config warms up over (100 of 5,000 iterations)
FRACTIONS = (0.2, 0.3, 0.5, 1.0)  # 0.2: at the demo shape 0.3 already reached the target (docs/benchmarks.md)
FULL_FRACTIONS = (0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
SEEDS, FULL_SEEDS = 3, 5
INTERVAL = (5, 95)  # percentiles of the bootstrap over seeds
RESAMPLES = 1000


def race_config(base: PhaseConfig, shape: dict, steps: int, seed: int, overrides: list[str] = ()) -> PhaseConfig:
    """phaselog's recipe at `shape` over a complete schedule of `steps`: the base config's learning rates, its
    warmup as the same share of the schedule, its warmdown and final lr; every source in the mix from step 0;
    then the `overrides` (a lever's --set)."""
    raw = base.model_dump()
    for source in raw["data"]["sources"]:
        source["start_step"] = 0
    t = raw["train"]
    phase = (t["schedule_end"] or t["end_step"]) - t["start_step"]
    warmup = max(1, round(steps * t["warmup_steps"] / phase))
    raw["model"].update(depth=shape["depth"], seq_len=shape["seq_len"])
    t.update(start_step=0, end_step=steps, schedule_end=None, schedule_start=None, warmup_steps=warmup,
             batch_size=shape["batch_size"], seed=base.train.seed + seed, device="cpu")
    for text in overrides:
        apply_override(raw, *parse_override(text))
    return config_from_dict(raw, "bench race --set")


def trainer(kind: str, config: PhaseConfig, vocab_size: int, steps: int, lr: float | None):
    """(model, optimizer, lr multiplier of a step) of phaselog or of the peer, initialised from the run's seed."""
    if kind == "phaselog":
        model = build_model(config, vocab_size, torch.device("cpu"))
        return model, build_optimizer(model, config.train), lambda step: lr_multiplier(step, config.train)
    torch.manual_seed(config.train.seed)
    m = config.model
    model = ReferenceGPT(vocab_size, m.depth, m.width, m.n_head, m.seq_len)
    warmup = max(1, round(PEER_WARMUP * steps))
    return (model, reference_optimizer(model, lr, PEER_BETAS),
            lambda step: reference_lr_multiplier(step, steps, warmup))


def train_steps(model, optimizer, multiplier, sampler: BatchSampler, steps: int, batch_size: int,
                bf16: bool = False) -> float:
    """Seconds of training for `steps` updates: batch, forward, backward, clip 1.0, step; `bf16`: phaselog's
    train.precision bf16 autocast."""
    model.train()
    autocast = training_autocast(torch.device("cpu"), bf16)
    started = time.perf_counter()
    for step in range(steps):
        set_lr(optimizer, multiplier(step))
        inputs, targets, _ = sampler.batch(step, 0, batch_size)
        with autocast:
            loss = model(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def validation_windows(run_dir: Path, config: PhaseConfig) -> torch.Tensor:
    """The fixed validation set: consecutive windows from the start of each source's held-out split."""
    seq, per_source = config.model.seq_len, config.train.val_tokens // len(config.data.sources)
    windows = []
    for source in config.data.sources:
        stream = load_stream(run_dir / "shards", source.name, "val")
        windows += [stream[i * seq:i * seq + seq + 1] for i in range(min(per_source, len(stream) - 1) // seq)]
    return torch.from_numpy(np.stack(windows).astype(np.int64))


@torch.no_grad()
def validation_loss(model, windows: torch.Tensor, batch_size: int = 32) -> float:
    """Mean cross-entropy in nats per target token; the one evaluator both trainers are scored by."""
    model.eval()
    total = 0.0
    for block in windows.split(batch_size):
        total += model(block[:, :-1], block[:, 1:], reduction="none").sum().item()
    model.train()
    return total / (windows.size(0) * (windows.size(1) - 1))


def run_once(kind: str, config: PhaseConfig, vocab_size: int, steps: int, lr: float | None,
             streams: dict, windows: torch.Tensor) -> dict:
    sampler = BatchSampler(streams, mix_from_config(config), config.model.seq_len, config.train.seed)
    model, optimizer, multiplier = trainer(kind, config, vocab_size, steps, lr)
    seconds = train_steps(model, optimizer, multiplier, sampler, steps, config.train.batch_size,
                          kind == "phaselog" and trains_bf16(config))
    tokens = steps * config.train.batch_size * config.model.seq_len
    return {"trainer": kind, "lr": lr, "seed": config.train.seed, "steps": steps, "tokens": tokens,
            "seconds": seconds, "tokens_per_sec": tokens / seconds, "val_loss": validation_loss(model, windows)}


def tokens_to_target(points: list[tuple[float, float]], target: float) -> tuple[float | None, str]:
    """Where a curve of (tokens, final val loss) at growing budgets first gets to `target`, interpolated in log
    tokens between the budgets around it: ("crossed"), the first budget if it is already there ("at most"), None
    if the largest budget does not get there ("above")."""
    for i, (tokens, loss) in enumerate(points):
        if loss <= target:
            if i == 0:
                return tokens, "at most"
            (t0, l0) = points[i - 1]
            share = (l0 - target) / (l0 - loss)
            return math.exp(math.log(t0) + share * (math.log(tokens) - math.log(t0))), "crossed"
    return None, "above"


def time_ratio(peer_finals: list[float], curves: list[list[tuple[float, float]]], peer_tokens: float,
               throughput_ratio: float) -> tuple[float | None, float, str, float | None]:
    """(time ratio, target, how the target was met, token ratio) from the peer's per-seed finals and phaselog's
    per-seed curves (tokens, loss) at the fractions of T."""
    target = statistics.median(peer_finals)
    median_curve = [(points[0][0], statistics.median(loss for _, loss in points)) for points in zip(*curves)]
    tokens, how = tokens_to_target(median_curve, target)
    if tokens is None:
        return None, target, how, None
    token_ratio = tokens / peer_tokens
    return token_ratio / throughput_ratio, target, how, token_ratio


def bootstrap_interval(peer_finals, curves, peer_tokens, throughput_ratio) -> list[float | None]:
    """The INTERVAL percentiles of the time ratio over seeds resampled with replacement (the peer's and phaselog's
    apart); None for a bound where the resampled phaselog never reaches the target within T."""
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(RESAMPLES):
        finals = [peer_finals[i] for i in rng.integers(0, len(peer_finals), len(peer_finals))]
        drawn = [curves[i] for i in rng.integers(0, len(curves), len(curves))]
        ratio = time_ratio(finals, drawn, peer_tokens, throughput_ratio)[0]
        ratios.append(math.inf if ratio is None else ratio)
    bounds = np.percentile(ratios, INTERVAL, method="nearest")
    return [None if math.isinf(b) else float(b) for b in bounds]


def race_shape(base: PhaseConfig, shape: dict, run_dir: Path, peer_steps: int, seeds: int,
               fractions: tuple[float, ...], log, overrides: list[str] = (), target: float | None = None) -> dict:
    """One shape's race; with `target`, phaselog's side alone against that loss (no peer, no time ratio)."""
    tokenizer, streams = load_data(run_dir, base)
    vocab = tokenizer.vocab_size
    probe = race_config(base, shape, peer_steps, 0)
    ours_probe = race_config(base, shape, peer_steps, 0, overrides)
    peer_tokens = peer_steps * probe.train.batch_size * probe.model.seq_len
    our_tokens_per_step = ours_probe.train.batch_size * ours_probe.model.seq_len
    # the same shares of T's tokens whatever phaselog's batch (a batch-size lever trains fewer, larger steps)
    our_steps = {f: max(1, round(f * peer_tokens / our_tokens_per_step)) for f in fractions}
    windows = validation_windows(run_dir, probe)
    runs, peer_lr, tuning = [], None, {}
    for seed in range(seeds):
        # round 0 tunes the peer's lr; later rounds run the tuned one; the two trainers' runs alternate
        peer_jobs = [] if target is not None else [("peer", peer_steps, lr)
                                                   for lr in (PEER_LRS if seed == 0 else (peer_lr,))]
        our_jobs = [("phaselog", our_steps[f], None) for f in fractions]
        jobs = []
        for i in range(max(len(peer_jobs), len(our_jobs))):
            pair = peer_jobs[i:i + 1] + our_jobs[i:i + 1]
            jobs += pair if seed % 2 == 0 else pair[::-1]
        for kind, steps, lr in jobs:
            config = race_config(base, shape, steps, seed, overrides if kind == "phaselog" else ())
            runs.append({**run_once(kind, config, vocab, steps, lr, streams, windows), "round": seed})
            log(f"  {shape['name']} seed {seed}: {kind} {steps} steps" + (f" lr {lr:g}" if lr else "")
                + f": val loss {runs[-1]['val_loss']:.4f} in {runs[-1]['seconds']:.1f} s")
        if seed == 0 and target is None:
            tuning = {r["lr"]: r["val_loss"] for r in runs if r["trainer"] == "peer"}
            peer_lr = min(tuning, key=tuning.get)
    peer_runs = [r for r in runs if r["trainer"] == "peer" and r["lr"] == peer_lr]
    ours = [r for r in runs if r["trainer"] == "phaselog"]
    # by round, not by seed: a --set train.seed moves the seeds
    curves = [[(r["tokens"], r["val_loss"]) for r in ours if r["round"] == seed] for seed in range(seeds)]
    t = ours_probe.train
    result = {"name": shape["name"], "depth": shape["depth"], "width": probe.model.width,
              "seq_len": shape["seq_len"], "batch_size": shape["batch_size"], "peer_steps": peer_steps,
              "peer_tokens": peer_tokens, "overrides": list(overrides),
              "phaselog_lr": {"matrices": muon_lr(t, shape["seq_len"]) if t.optimizer == "muon" else t.lr,
                              "embedding": t.embedding_lr, "head": t.head_lr},
              "phaselog_batch_size": t.batch_size,
              "phaselog_tokens_per_sec": spread([r["tokens_per_sec"] for r in ours]),
              "fractions": [{"fraction": f, "steps": our_steps[f], "tokens": our_steps[f] * our_tokens_per_step,
                             "val_loss": statistics.median(c[i][1] for c in curves),
                             "val_losses": [c[i][1] for c in curves]} for i, f in enumerate(fractions)],
              "runs": runs}
    if target is not None:
        # the ratio of tokens alone: time_ratio at a throughput ratio of 1 is the token ratio
        token_ratio, _, how, _ = time_ratio([target], curves, peer_tokens, 1.0)
        return {**result, "target": target, "target_given": True, "reached": how, "token_ratio": token_ratio,
                "token_ratio_interval": bootstrap_interval([target], curves, peer_tokens, 1.0),
                "time_ratio": None, "throughput_ratio": None}
    throughput_ratio = round_throughput_ratio(runs, seeds)
    peer_finals = [r["val_loss"] for r in peer_runs]
    ratio, target, how, token_ratio = time_ratio(peer_finals, curves, peer_tokens, throughput_ratio)
    return {**result, "target": target, "target_given": False, "reached": how, "token_ratio": token_ratio,
            "time_ratio": ratio,
            "time_ratio_interval": bootstrap_interval(peer_finals, curves, peer_tokens, throughput_ratio),
            "throughput_ratio": throughput_ratio,
            "peer_seconds": statistics.median(r["seconds"] for r in peer_runs), "peer_lr": peer_lr,
            "peer_lr_tuning": [{"lr": lr, "val_loss": loss} for lr, loss in tuning.items()],
            "peer_tokens_per_sec": spread([r["tokens_per_sec"] for r in runs if r["trainer"] == "peer"]),
            "peer_val_loss": spread(peer_finals)}


def round_throughput_ratio(runs: list[dict], rounds: int) -> float:
    """phaselog's tok/s over the peer's, the median over rounds of each round's ratio of medians: the two
    trainers alternate within a round, under the same load, but round 0 holds four of the peer's runs (its lr
    tuning) and later rounds one, so medians pooled over the race weigh the peer towards round 0's load (on a
    loaded machine that moved the ratio from 0.88 to 1.41: docs/benchmarks.md, Muon's cost)."""
    ratios = []
    for round_ in range(rounds):
        rates = {kind: [r["tokens_per_sec"] for r in runs if r["round"] == round_ and r["trainer"] == kind]
                 for kind in ("phaselog", "peer")}
        ratios.append(statistics.median(rates["phaselog"]) / statistics.median(rates["peer"]))
    return statistics.median(ratios)


def demo_base(corpus: Path) -> PhaseConfig:
    raw = load_config(REPO / "configs" / "demo.yaml").model_dump()
    raw["data"]["corpus_dir"] = str(corpus)
    return PhaseConfig.model_validate(raw)


def bench_race(full: bool = False, seeds: int | None = None, shape: str | None = None, steps: int | None = None,
               overrides: list[str] = (), target: float | None = None, fractions: list[float] | None = None,
               config: PhaseConfig | None = None, shapes: list[dict] | None = None, log=None) -> dict:
    """`shape` names one of SHAPES to race alone; `steps` sets T for every shape raced (a slower machine, a
    quicker look); `overrides` (--set) change phaselog's config alone; `target` races phaselog alone to that val
    loss (one shape only); `fractions`: the shares of T phaselog trains (e.g. only 1.0: a lever's final loss at
    a fixed budget, for a quick look); `config` and `shapes` (with their `steps`) let a test race tiny models on
    a short budget."""
    corpus = Path(os.environ.get("PHASELOG_CORPUS", "../shared/data/corpus")).resolve()
    # a line per run on stderr, so --json's stdout stays one JSON document
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    base = config or demo_base(corpus)
    seeds = seeds or (FULL_SEEDS if full else SEEDS)
    fractions = tuple(sorted(fractions)) if fractions else FULL_FRACTIONS if full else FRACTIONS
    shapes = shapes or [s for s in SHAPES if shape in (None, s["name"])]
    if target is not None and len(shapes) != 1:
        raise PhaselogError("bench race --target: a target belongs to one shape; give --shape demo or --shape wide")
    race_config(base, shapes[0], 100, 0, overrides)  # a bad --set fails now, not after the first runs
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="phaselog-race-") as tmp:
        run_dir = Path(tmp) / "run"
        prepare_data(race_config(base, shapes[0], 100, 0), run_dir, log=lambda _: None)
        results = [race_shape(base, s, run_dir, steps or s["full_steps" if full else "steps"], seeds, fractions, log,
                              overrides, target)
                   for s in shapes]
    load_after = os.getloadavg()
    against = "a given val loss (phaselog alone)" if target is not None else "nanoGPT's val loss"
    lines = [f"race to {against} on {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
             f"threads, {os.cpu_count()} cores; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
             f"{seeds} seeds, phaselog at {', '.join(f'{f:g}' for f in fractions)} of T; "
             f"{(time.perf_counter() - started) / 60:.1f} min in all"]
    if overrides:
        lines.append(f"  phaselog with --set {' --set '.join(overrides)}")
    for r in results:
        shape_name = f"  {r['name']:4} (L{r['depth']} d{r['width']} T{r['seq_len']} B{r['batch_size']}): "
        tokens = "-" if r["token_ratio"] is None else f"{r['token_ratio']:.2f}"
        at_most = "at most " if r["reached"] == "at most" else ""
        finals = ("phaselog's final loss at each share of T: "
                  + ", ".join(f"{p['fraction']:g}: {p['val_loss']:.4f}" for p in r["fractions"]))
        if r["target_given"]:
            reach = "does not reach" if r["token_ratio"] is None else f"reaches it in {at_most}{tokens}x"
            lines.append(f"{shape_name}target val loss {r['target']:.4f}; phaselog (matrices lr "
                         f"{r['phaselog_lr']['matrices']:.3g}, batch {r['phaselog_batch_size']}) {reach} the tokens "
                         f"of T = {r['peer_steps']} steps (interval {interval_text(*r['token_ratio_interval'])}); "
                         f"{finals}; {r['phaselog_tokens_per_sec']['median']:.0f} tok/s")
            continue
        ratio = "not within T" if r["time_ratio"] is None else f"{at_most}{r['time_ratio']:.2f}x"
        lines.append(f"{shape_name}nanoGPT lr "
                     f"{r['peer_lr']:g} (tuned over {', '.join(f'{lr:g}' for lr in PEER_LRS)}) reaches val loss "
                     f"{r['target']:.4f} in T = {r['peer_steps']} steps ({r['peer_seconds']:.0f} s); phaselog "
                     f"(lr {r['phaselog_lr']['matrices']:g}) gets there in {ratio} its time "
                     f"(interval {interval_text(*r['time_ratio_interval'])}, {INTERVAL[0]}-{INTERVAL[1]}th "
                     "percentile over resampled seeds)")
        lines.append(f"       = tokens {tokens}x / "
                     f"throughput {r['throughput_ratio']:.2f}x (phaselog {r['phaselog_tokens_per_sec']['median']:.0f}"
                     f" tok/s, nanoGPT {r['peer_tokens_per_sec']['median']:.0f}); {finals}")
    lines.append("rerun: PHASELOG_CORPUS=DIR phaselog bench race [--full] [--seeds N] [--shape demo|wide] [--steps T] "
                 "[--set KEY=VALUE ...] [--target LOSS] [--fractions F,F] [--json]")
    return {"benchmark": "race", "full": full, "seeds": seeds, "fractions": list(fractions),
            "overrides": list(overrides), "target": target,
            "load_average": {"before": load_before[0], "after": load_after[0]}, "shapes": results,
            "summary": "\n".join(lines)}


def interval_text(low: float | None, high: float | None) -> str:
    return f"{'?' if low is None else f'{low:.2f}'}-{'never' if high is None else f'{high:.2f}'}"
