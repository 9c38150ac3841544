"""One training segment: from the newest good checkpoint to the segment's end step, with a checkpoint every
`checkpoint_every` steps and at the end. The schedule, the data and the RNG streams are functions of the global
step, so a segment resumed from any checkpoint trains exactly as if it had never stopped (on CPU: identical
losses). Per-step metrics go to a parquet file beside each checkpoint; the flow process ingests them into the
store (it is the only DuckDB writer)."""
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from phaselog.core.errors import PhaselogError, TrainingDiverged
from phaselog.datasets.mixing import BatchSampler, mix_from_config
from phaselog.datasets.shards import load_stream
from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.checkpoint import (is_good, latest_good_checkpoint, load_checkpoint, prune_checkpoints,
                                       save_checkpoint)
from phaselog.model.device import newton_schulz_dtype, pick_device, trains_bf16
from phaselog.model.distributed import Ranks, launch_segment
from phaselog.model.freezing import UnitFreezer, frozen_units
from phaselog.model.gpt import GPT, GPTShape
from phaselog.model.monitor import Monitor, probe_batch


def lr_multiplier(step: int, train_config) -> float:
    """Warmup, a flat stretch, then a linear warmdown; defined over the phase's global steps, never per segment."""
    t = train_config
    first, last = t.lr_schedule()  # a continued run keeps its parent's schedule start
    into = step - first
    total = last - first
    if into < t.warmup_steps:
        return (into + 1) / t.warmup_steps
    warmdown = int(total * t.warmdown_fraction)
    to_go = max(0, last - step)  # past a pinned schedule_end the lr stays at its final value
    if to_go >= warmdown or warmdown == 0:
        return 1.0
    return t.final_lr_fraction + (1 - t.final_lr_fraction) * to_go / warmdown


def set_lr(optimizer, lr_scale: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * lr_scale


MUON_REFERENCE_TOKENS = 2 ** 19  # the batch train.muon_lr is quoted for; nanochat scales lrs by sqrt(batch / this)


def build_optimizer(model: GPT, train_config) -> "torch.optim.Optimizer | MuonAndAdamW":
    t = train_config
    # embeddings and the head want their own learning rates: their gradients are sparse and tiny respectively
    groups = [
        {"params": [model.wte.weight], "lr": t.embedding_lr, "weight_decay": 0.0},
        {"params": [model.lm_head.weight], "lr": t.head_lr, "weight_decay": 0.0},
        {"params": [p for b in model.blocks for p in b.parameters()],
         "lr": muon_lr(t, model.shape.seq_len) if t.optimizer == "muon" else t.lr, "weight_decay": t.weight_decay},
    ]
    for group in groups:
        group["base_lr"] = group["lr"]
    device = next(model.parameters()).device
    if t.optimizer == "muon":
        # every block parameter is a matrix (no biases, norms without gains), which is all Muon takes; q, k and v
        # are one fused matrix in the model but three maps, so each is orthogonalised apart
        slices = {p: 3 for b in model.blocks for name, p in b.named_parameters() if name.endswith("c_qkv.weight")}
        return MuonAndAdamW(Muon([groups[2]], slices, newton_schulz_dtype(t, device)),
                            torch.optim.AdamW(groups[:2], betas=(0.9, 0.95), eps=1e-10, **adamw_implementation(device)))
    return torch.optim.AdamW(groups, betas=(0.9, 0.95), eps=1e-10, **adamw_implementation(device))


def muon_lr(train_config, seq_len: int) -> float:
    """train.muon_lr is quoted for 2^19-token steps; smaller batches have noisier gradients and take it scaled by
    sqrt(tokens a step / 2^19), as nanochat does (about a twentieth at the demo's 1,024 tokens)."""
    t = train_config
    return t.muon_lr * math.sqrt(t.batch_size * t.grad_accum * seq_len / MUON_REFERENCE_TOKENS)


NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic: 5 steps take every singular value near 1


def orthogonalise(update: torch.Tensor, steps: int = 5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The nearest semi-orthogonal matrix to each (..., rows, cols) matrix, by Newton-Schulz in `dtype`
    (model/device.py: newton_schulz_dtype): fp32 on most CPUs, where bf16 is emulated (torch.optim.Muon's bf16
    cost 8x an AdamW step, docs/benchmarks.md: converge); bf16 on CUDA and on CPUs that compute it natively,
    where it is about twice as fast and the iteration tolerates it."""
    x = update.to(dtype)
    wide = x.size(-2) <= x.size(-1)
    x = x if wide else x.mT  # the Gram matrix of the short side: less work, same result
    x = x.reshape(-1, *x.shape[-2:])  # one batch of matrices, so every iteration is three batched matmuls
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)  # singular values <= 1, where the iteration converges
    a, b, c = NEWTON_SCHULZ
    for _ in range(steps):
        gram = torch.bmm(x, x.mT)
        # x <- a x + (b gram + c gram^2) x, with the scaling and the sums fused into the matmuls (no temporaries)
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    x = x.reshape(update.shape if wide else update.mT.shape)
    return (x if wide else x.mT).to(update.dtype)


class Muon(torch.optim.Optimizer):
    """Nesterov momentum, then the update orthogonalised (Newton-Schulz) and scaled by sqrt(max(1, rows / cols))
    so tall matrices move as much per entry as square ones. The momentum warms up from 0.85 to 0.95 over the
    first 300 steps (modded-nanogpt's): early gradients change fast and a long memory only slows the first
    descent. `slices`: a parameter that stacks several maps (q, k, v) is orthogonalised per map."""
    MOMENTUM, MOMENTUM_START, MOMENTUM_WARMUP = 0.95, 0.85, 300
    NEWTON_SCHULZ_STEPS = 5

    def __init__(self, params, slices: dict[torch.Tensor, int], dtype: torch.dtype = torch.float32):
        super().__init__(params, {"lr": 0.0, "weight_decay": 0.0})  # each group brings its own (build_optimizer)
        self.slices, self.dtype = slices, dtype

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            # one Newton-Schulz call per matrix shape, tall matrices turned wide first: at the demo's width a
            # call's fixed cost (kernel launches, threads waking) is a large share of its work, and the model's
            # maps come in two shapes only (d x d, and d x 4d either way round)
            by_shape = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                parts = self.slices.get(p, 1)
                maps = self.nesterov(p).view(parts, p.size(0) // parts, p.size(1))
                tall = maps.size(-2) > maps.size(-1)
                wide = maps.mT if tall else maps
                by_shape.setdefault(wide.shape[-2:], []).append((p, wide, tall))
            for entries in by_shape.values():
                stacked = orthogonalise(torch.cat([wide for _, wide, _ in entries]), self.NEWTON_SCHULZ_STEPS,
                                        self.dtype)
                for (p, wide, tall), update in zip(entries, stacked.split([wide.size(0) for _, wide, _ in entries])):
                    parts = wide.size(0)
                    rows, cols = p.size(0) // parts, p.size(1)
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    p.view(parts, rows, cols).add_(update.mT if tall else update,
                                                   alpha=-group["lr"] * max(1.0, rows / cols) ** 0.5)

    def nesterov(self, p: torch.Tensor) -> torch.Tensor:
        """The momentum buffer moved by this step's gradient, and the Nesterov look-ahead Muon orthogonalises."""
        state = self.state[p]
        if not state:
            state["step"], state["momentum_buffer"] = 0, torch.zeros_like(p)
        state["step"] += 1
        warm = min(1.0, state["step"] / self.MOMENTUM_WARMUP)
        momentum = self.MOMENTUM_START + warm * (self.MOMENTUM - self.MOMENTUM_START)
        buffer = state["momentum_buffer"].lerp_(p.grad, 1 - momentum)
        return p.grad.lerp(buffer, momentum)


class MuonAndAdamW:
    """Muon on the blocks' matrices and AdamW on the embedding and the head, seen as one optimizer by the lr
    schedule, the checkpoints and the unit freezer. param_groups keep build_optimizer's order (embedding, head,
    blocks) so restore_training_state pairs them as it does for AdamW alone."""

    def __init__(self, muon: "Muon", adamw: torch.optim.AdamW):
        self.muon, self.adamw = muon, adamw

    @property
    def param_groups(self) -> list[dict]:
        return self.adamw.param_groups + self.muon.param_groups

    @property
    def state(self) -> dict:
        return {**self.adamw.state, **self.muon.state}

    def step(self) -> None:
        self.adamw.step()
        self.muon.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.adamw.zero_grad(set_to_none=set_to_none)
        self.muon.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])


def adamw_implementation(device: torch.device) -> dict:
    """The fused kernel (one pass per tensor, CPU and CUDA alike) instead of a dozen small ops per parameter:
    the update is the same function and as deterministic, so exact resume holds."""
    return {"fused": device.type in ("cpu", "cuda")}


def training_autocast(device: torch.device, cpu_bf16: bool = False):
    """The precision of a training step: bf16 autocast on CUDA, with TF32 for the fp32 matmuls autocast leaves
    (free speed on Ampere and later); on CPU fp32, where bf16 is emulated on most machines, or bf16 autocast when
    train.precision asks for it (model/device.py refuses it where the CPU would emulate it)."""
    if device.type != "cuda":
        return torch.autocast("cpu", torch.bfloat16) if cpu_bf16 else nullcontext()
    torch.backends.cuda.matmul.allow_tf32 = True
    return torch.autocast("cuda", torch.bfloat16)


def fuse_legacy_optimizer_state(state: dict, n_layer: int) -> dict:
    """An optimizer state saved before q, k and v were one matrix (six matrices per block, not four): stack the
    three moments the way model.gpt.fuse_legacy_qkv stacks the weights, so an older run resumes where it stopped."""
    blocks = state["param_groups"][2]["params"]
    if len(blocks) != 6 * n_layer:
        return state
    old, new, params = state["state"], {}, {}
    for group_index, group in enumerate(state["param_groups"]):
        per_param = [[i] for i in group["params"]]
        if group_index == 2:
            per_param = [p for b in range(n_layer) for p in ([blocks[6 * b], blocks[6 * b + 1], blocks[6 * b + 2]],
                                                               *[[blocks[6 * b + j]] for j in (3, 4, 5)])]
        params[group_index] = []
        for indices in per_param:
            index = len(new)
            params[group_index].append(index)
            if indices[0] in old:
                first = old[indices[0]]
                new[index] = {key: torch.cat([old[i][key] for i in indices]) if key.startswith("exp_avg") else value
                              for key, value in first.items()}
    groups = [{**g, "params": params[i]} for i, g in enumerate(state["param_groups"])]
    return {"state": new, "param_groups": groups}


def load_data(run_dir: Path, config) -> tuple[Tokenizer, dict[str, np.ndarray]]:
    tokenizer = Tokenizer.load(run_dir / "tokenizer")
    streams = {s.name: load_stream(run_dir / "shards", s.name, "train") for s in config.data.sources}
    return tokenizer, streams


def build_model(config, vocab_size: int, device: torch.device) -> GPT:
    model = GPT(GPTShape.from_config(config.model, vocab_size))
    model.init_weights(config.train.seed)
    return model.to(device)


def resolve_init_from(init_from: str, home: Path) -> Path:
    """A run id (its newest good checkpoint) or a checkpoint file path."""
    path = Path(init_from)
    if path.suffix == ".pt":
        if not path.is_file():
            raise PhaselogError(f"train.init_from: checkpoint file not found: {path}")
        return path
    found = latest_good_checkpoint(home / init_from / "checkpoints")
    if found is None:
        raise PhaselogError(f"train.init_from: run {init_from} has no good checkpoint under {home / init_from}")
    return found.path


def parent_checkpoint(path: str, step: int) -> Path:
    """The checkpoint a continued run starts from; it must still verify and hold the run's first step."""
    path = Path(path)
    if not is_good(path):
        raise PhaselogError(f"train.continue_from: {path} is missing or does not match its marker")
    if int(path.stem.split("_")[1]) != step:
        raise PhaselogError(f"train.continue_from: {path} is not the checkpoint of step {step} (train.start_step)")
    return path


def kind_of(optimizer) -> str:
    return "muon" if isinstance(optimizer, MuonAndAdamW) else "adamw"


def restore_training_state(state: dict, model: GPT, optimizer, log=print) -> int:
    """Weights, optimizer moments and RNG streams from a checkpoint; returns its step. The learning rates and
    weight decay stay those of this run's config: a continued run may change them, and load_state_dict would
    otherwise bring back the saved ones."""
    settings = [{k: group[k] for k in ("base_lr", "weight_decay")} for group in optimizer.param_groups]
    model.load_state_dict(state["model"])
    saved_kind = state.get("config", {}).get("train", {}).get("optimizer", "adamw")
    if saved_kind != kind_of(optimizer):
        # a continued run that switched optimizers: its moments mean nothing to the other one, which starts fresh
        log(f"optimizer changed from {saved_kind} to {kind_of(optimizer)}: weights and RNG streams carry over, "
            f"the {kind_of(optimizer)} state starts empty")
    elif saved_kind == "muon":
        optimizer.load_state_dict(state["optimizer"])
    else:
        optimizer.load_state_dict(fuse_legacy_optimizer_state(state["optimizer"], model.shape.n_layer))
    for group, kept in zip(optimizer.param_groups, settings):
        group.update(kept)
    restore_rng(state["rng"])
    return state["step"]


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def write_metrics(run_dir: Path, rows: list[dict], upto_step: int, kind: str = "metrics") -> None:
    """`kind` names the folder: "metrics" (one row per step) or "probes" (one row per probe step and layer)."""
    metrics_dir = run_dir / kind
    metrics_dir.mkdir(exist_ok=True)
    path = metrics_dir / f"upto_{upto_step:07d}.parquet"
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    tmp.replace(path)


def drop_stale_metrics(run_dir: Path, after_step: int, kind: str = "metrics") -> None:
    """Metrics written after the checkpoint we resume from describe steps that will be trained again."""
    for path in (run_dir / kind).glob("upto_*.parquet"):
        if int(path.stem.split("_")[1]) > after_step:
            path.unlink()


def read_step_scalars(loss: torch.Tensor, grad_norm: torch.Tensor) -> tuple[float, float]:
    """The one device-to-host read of a training step."""
    values = torch.stack([loss.float(), grad_norm.float()]).tolist()
    return values[0], values[1]


def machine_clock() -> dict:
    """The process's CPU time (all its threads), the wall clock and the machine's 1-minute load average, now."""
    return {"cpu": time.process_time(), "wall": time.perf_counter(), "load": os.getloadavg()[0]}


def machine_share(start: dict, end: dict) -> dict:
    """What share of the machine a training loop got, between two machine_clock readings: the segment's columns
    of migration 012 (its threads' share is cpu_seconds / (loop_seconds x threads))."""
    return {"cpu_seconds": end["cpu"] - start["cpu"], "loop_seconds": end["wall"] - start["wall"],
            "threads": torch.get_num_threads(), "cores": os.cpu_count(), "load_start": start["load"],
            "load_end": end["load"]}


def train_segment(run_dir: Path, config, start_step: int, end_step: int, peak_flops: float,
                  home: Path | None = None, on_step=None, log=print,
                  extra_starts: dict[str, int] | None = None, ranks: Ranks | None = None, on_start=None) -> dict:
    """Train global steps (start_step, end_step]; return a small summary. Step s is the s-th optimizer update,
    so the checkpoint named s holds the weights after it. `extra_starts`: see datasets.mixing.mix_from_config.
    With train.nproc_per_node > 1 this process launches torchrun and waits; each rank then runs this function
    with its `ranks` (model/distributed.py). `on_start(step)`: called once before the first step trains, with the
    step training starts from (a resumed segment's checkpoint); not called when the segment was trained already."""
    if ranks is None and config.train.nproc_per_node > 1:
        if on_start is not None:
            on_start(start_step)  # the ranks find the checkpoint to resume from; the launcher does not look
        return launch_segment(run_dir, config, start_step, end_step, peak_flops, home, on_step, log, extra_starts)
    ranks = ranks or Ranks()
    run_dir = Path(run_dir)
    t = config.train
    device = pick_device(t.device)
    # first, so a run's log says how its step times are to be read: a compiled segment's first step compiles
    bf16 = trains_bf16(config)
    log(f"training {'compiled (torch.compile; its first step compiles)' if t.compile else 'eager'} "
        f"(train.compile: {str(t.compile).lower()}), {'bf16 autocast' if bf16 else 'fp32'} on {device.type} "
        f"(train.precision: {t.precision})")
    if t.optimizer == "muon":  # its Newton-Schulz dtype follows the machine under auto: say which one this run got
        dtype = "bf16" if newton_schulz_dtype(t, device) == torch.bfloat16 else "fp32"
        log(f"Muon's Newton-Schulz in {dtype} (train.muon_precision: {t.muon_precision})")
    ckpt_dir = run_dir / "checkpoints"
    tokenizer, streams = load_data(run_dir, config)
    sampler = BatchSampler(streams, mix_from_config(config, extra_starts), config.model.seq_len, t.seed)
    model = build_model(config, tokenizer.vocab_size, device)
    optimizer = build_optimizer(model, t)

    resume = latest_good_checkpoint(ckpt_dir, at_most=end_step, warn=log)
    if resume is not None and resume.step >= t.start_step:
        step = restore_training_state(load_checkpoint(resume.path, device), model, optimizer, log)
        if step == end_step:
            return {"start_step": start_step, "end_step": end_step, "resumed_from": step, "trained_steps": 0,
                    "checkpoint": str(resume.path)}
        if step != start_step:
            log(f"resuming segment [{start_step}, {end_step}) from the checkpoint at step {step}")
    elif start_step != t.start_step:
        raise PhaselogError(f"no good checkpoint at or before step {start_step} in {ckpt_dir}; "
                            "the previous segment did not finish")
    else:
        step = t.start_step
        if t.continue_from:
            state = load_checkpoint(parent_checkpoint(t.continue_from, step), device)
            restore_training_state(state, model, optimizer, log)
            log(f"continuing from {t.continue_from}: weights, optimizer state and RNG streams")
        elif t.init_from:
            source = resolve_init_from(t.init_from, home or run_dir.parent)
            model.load_state_dict(load_checkpoint(source, device)["model"])
            log(f"initialised from {source}")
        if not t.continue_from:
            torch.manual_seed(t.seed)
    resumed_from = step
    if ranks.writes:
        drop_stale_metrics(run_dir, step)
        drop_stale_metrics(run_dir, step, kind="probes")
    last_saved = step
    monitor = None
    # probes on rank 0 only: they read the all-reduced gradients and run the raw model, outside DDP's sync
    if config.understanding.probe_every and ranks.writes:
        monitor = Monitor(model, probe_batch(run_dir, config), config.understanding.probe_every)
        monitor.set_reference(step)
    frozen = frozen_units(run_dir, step) if config.understanding.freeze else []
    freezer = UnitFreezer(model, optimizer, frozen) if frozen else None

    trained = ranks.wrap(model)  # DDP when several processes share each step
    model_for_step = torch.compile(trained) if t.compile else trained
    autocast = training_autocast(device, bf16)
    flops_per_token = model.flops_per_token()
    tokens_per_step = config.tokens_per_step()
    protected = {end for _, end in config.segments()}
    rows = []
    model.train()
    if on_start is not None:
        on_start(step)
    clock = machine_clock()
    while step < end_step:
        # update number step+1 uses the lr and the batch of global position `step` (0-based), so a source whose
        # start_step is a segment boundary first appears in that segment
        t0 = time.perf_counter()
        lr_scale = lr_multiplier(step, t)
        set_lr(optimizer, lr_scale)
        # the loss stays on the device until the step is done: reading it per micro-batch would stall a GPU
        # grad_accum times a step; loss and grad norm come to the host together, once
        loss_sum, mix_counts = torch.zeros((), device=device), {}
        local = ranks.micro_batches(t.grad_accum)
        for micro in local:
            inputs, targets, counts = sampler.batch(step, micro, t.batch_size)
            with ranks.no_sync(trained, more_to_come=micro != local[-1]):
                with autocast:
                    # over this process's share: DDP's mean over processes makes it the mean over grad_accum
                    loss = model_for_step(inputs.to(device), targets.to(device)) / len(local)
                loss.backward()
            loss_sum += loss.detach()
            for name, n in counts.items():
                mix_counts[name] = mix_counts.get(name, 0) + n
        loss_sum, mix_counts = ranks.combine(loss_sum, mix_counts, [s.name for s in config.data.sources], device)
        if freezer is not None:
            freezer.mask_gradients()
        probing = monitor is not None and monitor.is_probe_step(step + 1)
        if probing:
            monitor.before_update()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        loss_sum, grad_norm = read_step_scalars(loss_sum, grad_norm)
        if not (math.isfinite(loss_sum) and math.isfinite(grad_norm)):
            # stop before the optimizer writes non-finite weights; the checkpoints on disk stay good
            raise TrainingDiverged(step + 1, loss_sum, grad_norm, last_saved, run_dir)
        optimizer.step()
        if freezer is not None:
            freezer.restore()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if probing:
            monitor.after_update(step)
        seconds = time.perf_counter() - t0
        tokens_per_sec = tokens_per_step / seconds
        rows.append({"step": step, "loss": loss_sum, "lr": t.lr * lr_scale, "grad_norm": grad_norm,
                     "tokens_per_sec": tokens_per_sec, "mfu": flops_per_token * tokens_per_sec / peak_flops,
                     "step_time_ms": 1000 * seconds,
                     **{f"tokens/{s.name}": mix_counts.get(s.name, 0) for s in config.data.sources}})
        if on_step is not None:
            on_step(step, loss_sum)
        if (step % t.checkpoint_every == 0 or step == end_step) and ranks.writes:
            write_metrics(run_dir, rows, step)
            rows = []
            if monitor is not None and monitor.rows:
                write_metrics(run_dir, monitor.take_rows(), step, kind="probes")
            save_checkpoint(ckpt_dir, step, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng_state(),
                "step": step, "config": config.model_dump(), "config_hash": config.hash(),
                "shape": model.shape.__dict__,
            })
            prune_checkpoints(ckpt_dir, t.keep_checkpoints, protected)
            last_saved = step
    # one process only: under torchrun each rank's share is its own and rank 0's alone would speak for all of
    # them, so the columns stay NULL (docs/phases.md)
    share = machine_share(clock, machine_clock()) if ranks.world == 1 else {}
    return {"start_step": start_step, "end_step": end_step, "resumed_from": resumed_from,
            "trained_steps": end_step - resumed_from, "checkpoint": str(ckpt_dir / f"step_{end_step:07d}.pt"),
            **share}
