"""Freezing MLP units under AdamW. A zero gradient is not enough: AdamW's momentum keeps moving a weight after its
gradient stops, and decoupled weight decay shrinks it regardless. So: mask the gradient before the step, zero the
unit's optimizer state (AdamW's moments, or Muon's momentum under train.optimizer muon: any state tensor of the
weight's shape), and write the frozen values back after the step (Muon's orthogonalised update reaches rows whose
gradient is zero too). A unit is its c_fc row and c_proj column."""
import json
from pathlib import Path

import torch

from phaselog.model.gpt import GPT


class UnitFreezer:
    def __init__(self, model: GPT, optimizer: torch.optim.Optimizer, units: list[tuple[int, int]]):
        self.optimizer = optimizer
        self.entries = []  # (parameter, boolean mask, frozen values)
        for layer in sorted({layer for layer, _ in units}):
            mlp = model.blocks[layer].mlp
            rows = torch.tensor([unit for lay, unit in units if lay == layer], device=mlp.c_fc.weight.device)
            fc_mask = torch.zeros_like(mlp.c_fc.weight, dtype=torch.bool)
            fc_mask[rows] = True
            proj_mask = torch.zeros_like(mlp.c_proj.weight, dtype=torch.bool)
            proj_mask[:, rows] = True
            for param, mask in ((mlp.c_fc.weight, fc_mask), (mlp.c_proj.weight, proj_mask)):
                self.entries.append((param, mask, param.detach().clone()))
        self.zero_state()

    @torch.no_grad()
    def zero_state(self) -> None:
        for param, mask, _ in self.entries:
            for value in self.optimizer.state.get(param, {}).values():
                if torch.is_tensor(value) and value.shape == mask.shape:
                    value.masked_fill_(mask, 0.0)

    @torch.no_grad()
    def mask_gradients(self) -> None:
        for param, mask, _ in self.entries:
            if param.grad is not None:
                param.grad.masked_fill_(mask, 0.0)

    @torch.no_grad()
    def restore(self) -> None:
        """After the optimizer step: the frozen values back, bit for bit, and no optimizer state left for them."""
        for param, mask, frozen in self.entries:
            param.copy_(torch.where(mask, frozen, param))
        self.zero_state()


def frozen_units_file(run_dir: Path, from_step: int) -> Path:
    return Path(run_dir) / "frozen_units" / f"from_{from_step:07d}.json"


def write_frozen_units(run_dir: Path, from_step: int, units: list[tuple[int, int]]) -> None:
    """The units frozen from `from_step` on; keyed by step so a re-run segment reads the set it first ran with."""
    path = frozen_units_file(run_dir, from_step)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(sorted(units)))


def frozen_units(run_dir: Path, step: int) -> list[tuple[int, int]]:
    """The (layer, unit) pairs frozen for training that starts at `step`: the newest file from at or before it."""
    files = [p for p in (Path(run_dir) / "frozen_units").glob("from_*.json") if int(p.stem.split("_")[1]) <= step]
    if not files:
        return []
    return [tuple(u) for u in json.loads(max(files, key=lambda p: p.stem).read_text())]


def carry_frozen_units(parent_dir: Path, run_dir: Path, step: int) -> None:
    """A continued run starts with the units its parent had frozen at `step`: once frozen, a unit stays frozen for
    the rest of the phase, across `phaselog continue` too (training and concept tracking read the run's own folder)."""
    units = frozen_units(parent_dir, step)
    if units:
        write_frozen_units(run_dir, step, units)
