"""`phaselog bench converge`: time to quality, not tokens/sec. The demo's model and data (configs/demo.yaml, both
sources in the mix from the start so every run sees the same data) trains for a fixed wall-clock budget per run,
once with AdamW on everything (train.optimizer adamw) and once with Muon (model/train.py) on the blocks'
matrices and AdamW on the embedding and the head (train.optimizer muon), for a few seeds each, alternating the two
so the machine's load hits both alike. The lr schedule runs over the budget's seconds, not over steps: each
optimizer warms up and decays in full however fast its steps are. Validation bpb is measured at six points of
the budget, off the clock.
The rule for the default (docs/benchmarks.md): an optimizer whose median final bpb is better becomes the default
when, median over seeds, it reaches the other's median final bpb at least 1.2x sooner."""
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from phaselog.bench.train import spread
from phaselog.core.config import PhaseConfig, load_config
from phaselog.datasets.mixing import BatchSampler, mix_from_config
from phaselog.datasets.prepare import prepare_data
from phaselog.model.evaluate import validation_bpb
from phaselog.model.train import build_model, build_optimizer, load_data, lr_multiplier, muon_lr, set_lr

REPO = Path(__file__).resolve().parents[2]
OPTIMIZERS = ("adamw", "muon")
MARKS = 6  # validation points per run, at equal shares of the budget
SCHEDULE_STEPS = 1000  # the demo's schedule scaled to this many steps, onto which the budget's seconds are mapped
SOONER = 1.2  # how much sooner the better optimizer must reach the other's final bpb to become the default


def demo_config(corpus: Path) -> PhaseConfig:
    raw = load_config(REPO / "configs" / "demo.yaml").model_dump()
    raw["data"]["corpus_dir"] = str(corpus)
    for source in raw["data"]["sources"]:
        source["start_step"] = 0
    phase_steps = (raw["train"]["schedule_end"] or raw["train"]["end_step"]) - raw["train"]["start_step"]
    raw["train"].update(start_step=0, end_step=SCHEDULE_STEPS, schedule_end=None,
                        warmup_steps=max(1, SCHEDULE_STEPS * raw["train"]["warmup_steps"] // phase_steps))
    return PhaseConfig.model_validate(raw)


def train_for(config: PhaseConfig, run_dir: Path, seconds: float) -> list[dict]:
    """Train on CPU for `seconds` of training time; the validation bpb of the untrained model (0 s, step 0), then at
    each of MARKS equal shares of the budget. The first point says whether a run learned however few steps the
    budget held: a loaded machine fits fewer steps into the same seconds."""
    t = config.train
    tokenizer, streams = load_data(run_dir, config)
    sampler = BatchSampler(streams, mix_from_config(config), config.model.seq_len, t.seed)
    device = torch.device("cpu")
    model = build_model(config, tokenizer.vocab_size, device)
    optimizer = build_optimizer(model, t)
    torch.manual_seed(t.seed)
    first, last = t.lr_schedule()  # the budget's seconds are spread over these schedule steps
    trained, step = 0.0, 0
    curve = [{"seconds": trained, "steps": step,
              "val_bpb": validation_bpb(model, tokenizer, run_dir, config, device)["val_bpb"]}]
    model.train()
    while len(curve) <= MARKS:
        t0 = time.perf_counter()
        set_lr(optimizer, lr_multiplier(first + min(last - first - 1, int(trained / seconds * (last - first))), t))
        inputs, targets, _ = sampler.batch(step, 0, t.batch_size)
        model(inputs, targets).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        trained += time.perf_counter() - t0
        if trained >= seconds * len(curve) / MARKS:
            bpb = validation_bpb(model, tokenizer, run_dir, config, device)["val_bpb"]
            curve.append({"seconds": trained, "steps": step, "val_bpb": bpb})
    return curve


def seconds_to_reach(curve: list[dict], target: float) -> float | None:
    """When the curve first gets to `target` bpb, interpolated between the point before and the point at or
    below it; None if it never does."""
    for i, point in enumerate(curve):
        if point["val_bpb"] <= target:
            if i == 0:
                return point["seconds"]
            before = curve[i - 1]
            share = (before["val_bpb"] - target) / (before["val_bpb"] - point["val_bpb"])
            return before["seconds"] + share * (point["seconds"] - before["seconds"])
    return None


def verdict(runs: dict[str, list[list[dict]]], seconds: float, default: str) -> dict:
    finals = {name: statistics.median(c[-1]["val_bpb"] for c in curves) for name, curves in runs.items()}
    better, other = sorted(finals, key=finals.get)
    reached = [seconds_to_reach(c, finals[other]) for c in runs[better]]
    when = statistics.median(r if r is not None else float("inf") for r in reached)
    sooner = seconds / when if when > 0 else float("inf")
    should = better if sooner >= SOONER else default
    return {"final_bpb": finals, "better": better, "other": other, "seconds_to_other_final": when, "sooner": sooner,
            "should_be_default": should, "default": default, "default_agrees": should == default}


def bench_converge(seconds: float = 120.0, seeds: int = 3, config: PhaseConfig | None = None) -> dict:
    corpus = Path(os.environ.get("PHASELOG_CORPUS", "../shared/data/corpus")).resolve()
    config = config or demo_config(corpus)
    default = type(config.train).model_fields["optimizer"].default
    runs = {name: [] for name in OPTIMIZERS}
    with tempfile.TemporaryDirectory(prefix="phaselog-converge-") as tmp:
        run_dir = Path(tmp) / "run"
        prepare_data(config, run_dir, log=lambda _: None)
        for seed in range(seeds):
            order = OPTIMIZERS if seed % 2 == 0 else tuple(reversed(OPTIMIZERS))
            for name in order:
                seeded = config.model_copy(update={"train": config.train.model_copy(
                    update={"optimizer": name, "seed": config.train.seed + seed})})
                runs[name].append(train_for(seeded, run_dir, seconds))
    result = verdict(runs, seconds, default)
    steps = {name: spread([c[-1]["steps"] for c in curves]) for name, curves in runs.items()}
    t = config.train
    lines = [f"time to quality on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads: "
             f"{config.name} model (L{config.model.depth} T{config.model.seq_len} B{t.batch_size}), {seconds:.0f} s "
             f"of training per run, {seeds} seeds, val bpb at the start and at {MARKS} points off the clock"]
    for name in OPTIMIZERS:
        finals = [c[-1]["val_bpb"] for c in runs[name]]
        lr = (f"matrices lr {muon_lr(t, config.model.seq_len):.3g} (Muon)" if name == "muon"
              else f"matrices lr {t.lr} (AdamW)")
        lines.append(f"  {name:5}: final val bpb median {statistics.median(finals):.3f} (min {min(finals):.3f}, "
                     f"max {max(finals):.3f}), {steps[name]['median']:.0f} steps in the budget; {lr}")
    reach = result["seconds_to_other_final"]
    lines.append(f"  {result['better']} reaches {result['other']}'s final bpb "
                 + (f"after {reach:.0f} s: {result['sooner']:.2f}x sooner" if reach != float("inf") else "never")
                 + f" (default when >= {SOONER}x); so the default should be {result['should_be_default']}, "
                 f"and it is {default}")
    lines.append("rerun: PHASELOG_CORPUS=DIR phaselog bench converge [--seconds 120] [--seeds 3] [--json]")
    return {"benchmark": "converge", "seconds": seconds, "seeds": seeds, "runs": runs, "steps": steps, **result,
            "summary": "\n".join(lines)}
