"""The monitor: every `probe_every` steps, per transformer block, the gradient norm and the update/weight ratio of
that optimizer step, and the block's activations on a fixed probe batch (residual RMS and max |x|, MLP sparsity,
attention entropy, shimmer). It runs inside the training loop; all figures of one probe are stacked into one
tensor and read with a single device sync. Rows go back to the flow in a parquet file beside each checkpoint."""
from pathlib import Path

import numpy as np
import torch

from phaselog.core.errors import DataError
from phaselog.datasets.shards import load_stream
from phaselog.model.gpt import GPT, rms_norm

STAT_COLUMNS = ["resid_rms", "resid_max_abs", "mlp_sparsity", "attn_entropy", "grad_norm", "update_ratio",
                "weight_norm", "shimmer"]


def probe_batch(run_dir: Path, config) -> torch.Tensor:
    """The fixed probe set: the first `probe_windows` windows of each source's validation stream. It depends only
    on the shards, so every probe point, checkpoint and resumed segment sees the same tokens."""
    seq_len = config.model.seq_len
    windows = []
    for source in config.data.sources:
        stream = load_stream(Path(run_dir) / "shards", source.name, "val")
        count = min(config.understanding.probe_windows, len(stream) // seq_len)
        windows += [stream[i * seq_len:(i + 1) * seq_len] for i in range(count)]
    if not windows:
        raise DataError(f"the validation text of every source is shorter than model.seq_len {seq_len} tokens "
                        f"(in {Path(run_dir) / 'shards'}): shorten model.seq_len, or add text or raise "
                        "data.val_fraction")
    return torch.from_numpy(np.stack(windows))


@torch.no_grad()
def probe_records(model: GPT, probe: torch.Tensor) -> list[dict]:
    records = []
    model.final_hidden(probe, records=records)
    return records


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors]))


class Monitor:
    def __init__(self, model: GPT, probe: torch.Tensor, every: int):
        self.model = model
        self.probe = probe.to(next(model.parameters()).device)
        self.every = every
        self.layers = [list(block.parameters()) for block in model.blocks]
        self.rows: list[dict] = []
        self.previous: tuple[int, list[torch.Tensor]] | None = None  # (step, normalised residuals) for shimmer

    def is_probe_step(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def set_reference(self, step: int) -> None:
        """Probe the weights we start from, so the first probe point of a segment has a shimmer. Only at a probe
        point: then a resumed segment measures the same interval an uninterrupted run did."""
        if self.is_probe_step(step):
            self.previous = (step, [rms_norm(r["residual"].float()) for r in probe_records(self.model, self.probe)])

    def before_update(self) -> None:
        """Between backward and the optimizer step, before clipping: raw per-layer gradient norms and a copy of
        the weights the update will be measured against."""
        self._grad_norms = torch.stack([_norm([p.grad for p in ps if p.grad is not None]) for ps in self.layers])
        self._before = [[p.detach().clone() for p in ps] for ps in self.layers]

    def after_update(self, step: int) -> None:
        with torch.no_grad():
            weight_norms = torch.stack([_norm(before) for before in self._before])
            updates = torch.stack([_norm([p.detach() - b for p, b in zip(ps, before)])
                                   for ps, before in zip(self.layers, self._before)])
            records = probe_records(self.model, self.probe)
            normalised = [rms_norm(r["residual"].float()) for r in records]
            if self.previous is not None:
                shimmer = torch.stack([(z - z0).abs().mean() for z, z0 in zip(normalised, self.previous[1])])
            else:
                shimmer = torch.full((len(records),), float("nan"), device=self.probe.device)
            stats = torch.stack([
                torch.stack([r["residual"].float().pow(2).mean().sqrt() for r in records]),
                torch.stack([r["residual"].float().abs().amax() for r in records]),
                torch.stack([(r["mlp"] == 0).float().mean() for r in records]),
                torch.stack([r["attn_entropy"] for r in records]),
                self._grad_norms, updates / weight_norms.clamp_min(1e-30), weight_norms, shimmer,
            ], dim=1)
        values = stats.tolist()  # the one device sync of this probe
        previous_step = self.previous[0] if self.previous is not None else None
        for layer, row in enumerate(values):
            record = dict(zip(STAT_COLUMNS, row))
            if previous_step is None:
                record["shimmer"] = None
            self.rows.append({"step": step, "layer": layer, "previous_step": previous_step, **record})
        self.previous = (step, normalised)
        del self._before, self._grad_norms

    def take_rows(self) -> list[dict]:
        rows, self.rows = self.rows, []
        return rows
