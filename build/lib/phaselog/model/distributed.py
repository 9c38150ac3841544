"""A training segment on several processes under PyTorch's own launcher, torchrun (DDP: gloo on CPU, nccl on
CUDA). The flow process stays the only one that touches the store: it starts torchrun as a child in its own
process group, relays rank 0's progress lines from the segment's log, and reads back the outcome file rank 0
writes (the summary, or why training stopped). Whatever ends the wait (a finished segment, a crashed rank, the
flow cancelled or failing, Ctrl-C), no training process outlives it: `finally` stops torchrun and sweeps every
rank it started.

Same global batch as one process: step s draws micro-batches 0..grad_accum-1 from (seed, s, micro); rank r of W
takes r, r+W, r+2W, ... and divides its loss by grad_accum / W, so DDP's all-reduce mean is the single-process
gradient. The per-rank entry point is model/ddp_segment.py."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from phaselog.core.errors import PhaselogError, TrainingDiverged
from phaselog.core.runs import save_config_file
from phaselog.model.device import uses_cuda

STEP_LINE = "phaselog-step"  # rank 0 prints "phaselog-step STEP LOSS" after every step: the parent's progress
LOG_LINE = "phaselog-log"  # rank 0 prints "phaselog-log MESSAGE" for the flow's log
STOP_GRACE_SECONDS = 10.0  # torchrun forwards SIGTERM to its ranks; after this, everything gets SIGKILL


class RankFailed(PhaselogError):
    """A training process of a torchrun segment died; the checkpoints it left are good, so resume works."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes training one segment; `Ranks()` is one process, as before."""
    rank: int = 0
    world: int = 1

    @property
    def writes(self) -> bool:
        # one writer of checkpoints, metrics and probes: the flow ingests each file exactly once
        return self.rank == 0

    def micro_batches(self, grad_accum: int) -> range:
        return range(self.rank, grad_accum, self.world)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return model
        device = next(model.parameters()).device
        # the only buffers are the rotary tables, which never change: no need to broadcast them every forward
        return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                       forward_sync_buffers=False)

    def no_sync(self, trained: torch.nn.Module, more_to_come: bool):
        """Accumulate locally until the rank's last micro-batch: one all-reduce per step, not per micro-batch."""
        return trained.no_sync() if self.world > 1 and more_to_come else nullcontext()

    def combine(self, loss: torch.Tensor, counts: dict[str, int], names: list[str], device: torch.device
                ) -> tuple[torch.Tensor, dict[str, int]]:
        """The step's loss (mean over ranks of each rank's mean, still on the device) and tokens per source
        (summed over ranks), as one process would have measured them. One process: returned untouched."""
        if self.world == 1:
            return loss, counts
        values = torch.cat([loss.detach().reshape(1).double(),
                            torch.tensor([counts.get(n, 0) for n in names], dtype=torch.float64, device=device)])
        dist.all_reduce(values)  # SUM: gloo has no AVG
        total = values[1:].tolist()
        return values[0] / self.world, {n: int(v) for n, v in zip(names, total) if v}


def outcome_path(run_dir: Path, end_step: int) -> Path:
    return Path(run_dir) / "torchrun" / f"segment_{end_step:07d}.json"


def write_outcome(run_dir: Path, end_step: int, outcome: dict) -> None:
    path = outcome_path(run_dir, end_step)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(outcome))
    tmp.replace(path)


def torchrun_command(run_dir: Path, start_step: int, end_step: int, peak_flops: float, nproc: int, home: Path,
                     extra_starts: dict[str, int] | None) -> list[str]:
    # `python -m torch.distributed.run` is torchrun itself, run by this interpreter (no PATH lookup)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "phaselog.model.ddp_segment", str(run_dir), str(start_step), str(end_step), repr(peak_flops),
            "--home", str(home), "--extra-starts", json.dumps(extra_starts or {}), "--watch-pid", str(os.getpid())]


def check_devices(config) -> None:
    nproc = config.train.nproc_per_node
    if uses_cuda(config) and torch.cuda.device_count() < nproc:
        raise PhaselogError(f"train.nproc_per_node is {nproc} but this machine has {torch.cuda.device_count()} "
                            "GPUs; lower it or set train.device: cpu")


def launch_segment(run_dir: Path, config, start_step: int, end_step: int, peak_flops: float, home: Path | None,
                   on_step, log, extra_starts: dict[str, int] | None) -> dict:
    """train_segment's result, trained by `train.nproc_per_node` processes under torchrun."""
    check_devices(config)
    run_dir = Path(run_dir).resolve()
    home = Path(home).resolve() if home is not None else run_dir.parent
    save_config_file(run_dir, config)  # the ranks read the config from the run dir
    outcome = outcome_path(run_dir, end_step)
    outcome.parent.mkdir(exist_ok=True)
    outcome.unlink(missing_ok=True)
    log_path = outcome.with_suffix(".log")
    command = torchrun_command(run_dir, start_step, end_step, peak_flops, config.train.nproc_per_node, home,
                               extra_starts)
    log(f"segment [{start_step}, {end_step}) on {config.train.nproc_per_node} processes; log {log_path}; "
        f"command: {shlex.join(command)}")
    # appended, so a failed attempt's log survives its resume; this attempt is read from `offset` on
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n".encode())
        out.flush()
        # its own session: Ctrl-C in a terminal reaches this process only, which then stops torchrun in order
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    ranks_seen: set[int] = set()
    try:
        follow_rank_zero(proc, log_path, offset, config.train.nproc_per_node, ranks_seen, on_step, log)
    finally:
        stop_torchrun(proc, ranks_seen, run_dir)
    return segment_result(outcome, proc.returncode, attempt_log(log_path, offset), start_step, end_step, run_dir)


def follow_rank_zero(proc: subprocess.Popen, log_path: Path, offset: int, nproc: int, ranks_seen: set[int],
                     on_step, log) -> None:
    """Until torchrun exits: relay rank 0's lines and note every rank's pid for the sweep in stop_torchrun."""
    pending = ""
    with open(log_path, errors="replace") as follow:
        follow.seek(offset)
        while True:
            done = proc.poll() is not None
            if not done and len(ranks_seen) < nproc:  # a /proc scan costs: only until every rank has started
                ranks_seen |= child_pids(proc.pid)
            pending += follow.read()
            *lines, pending = pending.split("\n")
            last_step = None
            for line in lines:
                if line.startswith(STEP_LINE + " "):
                    last_step = line.split()[1:3]
                elif line.startswith(LOG_LINE + " "):
                    log(line[len(LOG_LINE) + 1:])
            if last_step is not None and on_step is not None:
                on_step(int(last_step[0]), float(last_step[1]))  # the newest step is enough for progress
            if done:
                return
            time.sleep(0.2)


def child_pids(pid: int) -> set[int]:
    """Direct children of `pid` (torchrun's ranks), from /proc; empty where there is no /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def is_rank_of(pid: int, run_dir: Path) -> bool:
    # the cmdline check keeps a recycled pid from being killed by mistake
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return "phaselog.model.ddp_segment" in cmdline and str(run_dir) in cmdline


def stop_torchrun(proc: subprocess.Popen, ranks_seen: set[int], run_dir: Path) -> None:
    if proc.poll() is None:
        ranks_seen |= child_pids(proc.pid)
        proc.terminate()  # torchrun forwards SIGTERM to its ranks and waits for them
        try:
            proc.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # still unreaped, so the group id is still torchrun's
            proc.wait()
    # torchrun starts each rank in a session of its own, so killing torchrun's group does not reach them
    for pid in ranks_seen:
        if is_rank_of(pid, run_dir):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def attempt_log(log_path: Path, offset: int) -> list[str]:
    with open(log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace").splitlines()


def segment_result(outcome: Path, returncode: int, lines: list[str], start_step: int, end_step: int,
                   run_dir: Path) -> dict:
    result = json.loads(outcome.read_text()) if outcome.is_file() else {}
    if "summary" in result and returncode == 0:
        return result["summary"]
    if "diverged" in result:
        raise TrainingDiverged(**result["diverged"], run_dir=run_dir)
    if "error" in result:
        raise PhaselogError(result["error"])
    raise RankFailed(f"segment [{start_step}, {end_step}) of {run_dir.name} failed under torchrun "
                     f"(exit code {returncode}): {failed_ranks(lines)}; its checkpoints are kept, "
                     f"`phaselog resume {run_dir.name}` continues from the last good one. End of "
                     f"{outcome.with_suffix('.log')}:\n" + tail(lines))


def failed_ranks(lines: list[str]) -> str:
    """torchrun's failure summary in words, the root cause first: "rank 1 killed by SIGKILL (the first failure),
    then rank 0 killed by SIGTERM". Its entries read "rank : 1 (local_rank: 1)", "exitcode : -9 (pid: ...)".
    torchrun stops the surviving ranks with SIGTERM once one fails, but a survivor may first fail on the broken
    connection and write its error file, and torchrun then names it the root cause: so a rank that ended other
    than by SIGTERM goes first, torchrun's root cause first among equals."""
    entries, rank, in_root_cause = [], None, False
    for line in lines:
        key, _, value = (part.strip() for part in line.partition(":"))
        in_root_cause = in_root_cause or line.startswith("Root Cause")
        if key == "rank" and value.split()[0].isdigit():
            rank = int(value.split()[0])
        elif key == "exitcode" and rank is not None and value.split()[0].lstrip("-").isdigit():
            code = int(value.split()[0])
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            if code < 0 and -code in signal.valid_signals():
                how = f"killed by {signal.Signals(-code).name}"
            entries.append((code == -signal.SIGTERM, not in_root_cause, f"rank {rank} {how}"))
            rank = None
    if not entries:
        return "torchrun reported no failed rank"
    ordered = [text for *_, text in sorted(entries, key=lambda e: e[:2])]  # stable: torchrun's order otherwise
    return ", then ".join([f"{ordered[0]} (the first failure)"] + ordered[1:])


def tail(lines: list[str], count: int = 30) -> str:
    # rank 0's progress lines say nothing about the failure
    return "\n".join([line for line in lines if not line.startswith(STEP_LINE)][-count:])
