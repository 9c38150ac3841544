"""The mixing schedule and batch drawing. Every batch is a pure function of (seed, global step): which sources
are active at that step and with what weight, which source each row comes from, and where in that source's
token stream the row starts. Resuming or cutting a phase into segments therefore draws exactly the same data."""
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MixEntry:
    source: str
    weight: float
    start_step: int
    end_step: int | None

    def active_at(self, step: int) -> bool:
        return step >= self.start_step and (self.end_step is None or step < self.end_step)


def mix_from_config(config, extra_starts: dict[str, int] | None = None) -> list[MixEntry]:
    """The sources' schedule. `extra_starts` {source: step} holds a source back until that step; the review's
    counterexample source (review.counterexample_source) stays out of the mix unless it names it. The caller
    derives it from recorded decisions (phaselog.reviews.counterexample_starts), so batches stay a pure function
    of (seed, step, the reviews table)."""
    starts = extra_starts or {}
    held = config.review.counterexample_source
    return [MixEntry(s.name, s.weight, max(s.start_step, starts.get(s.name, 0)), s.end_step)
            for s in config.data.sources if s.name != held or s.name in starts]


def weights_at(mix: list[MixEntry], step: int) -> dict[str, float]:
    """Normalised weights of the sources active at `step`."""
    active = {m.source: m.weight for m in mix if m.active_at(step)}
    total = sum(active.values())
    return {name: w / total for name, w in active.items()}


class BatchSampler:
    def __init__(self, streams: dict[str, np.ndarray], mix: list[MixEntry], seq_len: int, seed: int):
        self.streams = streams
        self.mix = mix
        self.seq_len = seq_len
        self.seed = seed
        for name, stream in streams.items():
            if len(stream) <= seq_len + 1:
                raise ValueError(f"source {name} has {len(stream)} training tokens, fewer than one sequence "
                                 f"of {seq_len + 1}; add text or shorten model.seq_len")

    def batch(self, step: int, micro_step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Inputs, targets, and how many tokens each source contributed."""
        weights = weights_at(self.mix, step)
        if not weights:
            raise ValueError(f"no data source is active at step {step}; check the sources' start_step/end_step")
        rng = np.random.default_rng([self.seed, step, micro_step])
        names = sorted(weights)
        picks = rng.choice(len(names), size=batch_size, p=[weights[n] for n in names])
        rows, counts = [], {}
        for pick in picks:
            stream = self.streams[names[pick]]
            start = int(rng.integers(0, len(stream) - self.seq_len - 1))
            rows.append(stream[start:start + self.seq_len + 1])
            counts[names[pick]] = counts.get(names[pick], 0) + self.seq_len
        block = torch.from_numpy(np.stack(rows))
        return block[:, :-1], block[:, 1:], counts
