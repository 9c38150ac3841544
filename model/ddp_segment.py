"""One rank of a segment under torchrun, started by model/distributed.py (never by hand):
`torchrun --standalone --nproc-per-node N -m model.ddp_segment RUN_DIR START END PEAK_FLOPS ...`.
It reads the config from RUN_DIR/config.json and runs the same train_segment as one process does, as rank
$RANK of $WORLD_SIZE. Rank 0 alone prints progress and writes files; its outcome file tells the parent what
happened, since torchrun's exit code cannot carry a summary or a divergence."""
import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record

from phaselog.core.config import PhaseConfig
from phaselog.core.errors import PhaselogError, TrainingDiverged
from phaselog.model.device import uses_cuda
from phaselog.model.distributed import LOG_LINE, STEP_LINE, Ranks, write_outcome
from phaselog.model.train import train_segment


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="phaselog.model.ddp_segment")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("start_step", type=int)
    parser.add_argument("end_step", type=int)
    parser.add_argument("peak_flops", type=float)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--extra-starts", type=json.loads, default={})
    parser.add_argument("--watch-pid", type=int, required=True, help="the flow process; rank 0 stops without it")
    return parser.parse_args(argv)


def parent_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@record  # a rank's traceback then appears in torchrun's failure summary, which the parent quotes
def main(argv: list[str]) -> None:
    args = parse_args(argv)
    config = PhaseConfig.model_validate_json((args.run_dir / "config.json").read_text())
    ranks = Ranks(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
    cuda = uses_cuda(config)
    if cuda:
        # "cuda" then means this rank's GPU everywhere train_segment puts a tensor
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if cuda else "gloo")

    def on_step(step: int, loss: float) -> None:
        print(f"{STEP_LINE} {step} {loss!r}", flush=True)
        # a flow process killed with SIGKILL cannot stop us in `finally`; an orphaned segment stops itself
        # rather than write into a run that is being resumed by someone else
        if parent_gone(args.watch_pid):
            raise SystemExit(f"rank 0: the flow process {args.watch_pid} is gone; stopping the segment")

    def log(message: str) -> None:
        print(f"{LOG_LINE} {message}", flush=True)

    quiet = not ranks.writes
    try:
        summary = train_segment(args.run_dir, config, args.start_step, args.end_step, args.peak_flops,
                                home=args.home, on_step=None if quiet else on_step,
                                log=(lambda message: None) if quiet else log,
                                extra_starts=args.extra_starts, ranks=ranks)
    except TrainingDiverged as err:
        if ranks.writes:
            write_outcome(args.run_dir, args.end_step, {"diverged": {
                "step": err.step, "loss": err.loss, "grad_norm": err.grad_norm,
                "last_good_step": err.last_good_step}})
        raise
    except PhaselogError as err:
        if ranks.writes:
            write_outcome(args.run_dir, args.end_step, {"error": str(err)})
        raise
    if ranks.writes:
        write_outcome(args.run_dir, args.end_step, {"summary": summary})
    # every rank tears the group down together, not rank 1 while rank 0 still writes the outcome: once in CI
    # rank 1 died after its last step with "terminate called without an active exception" (SIGABRT) in the
    # teardown; not reproduced in 10 runs under load, so this follows the usual rule (synchronise, then destroy)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
