"""`phaselog bench monitor`: what the understanding monitor costs a training step, as the share of step time it
adds at the default probe interval on the demo model."""
import platform
import statistics

import torch

from phaselog.bench.train import TRAIN_SHAPES, spread, time_training_steps
from phaselog.core.config import UnderstandingConfig


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

