"""The errors a user can cause and fix: each message names the file, field or run and what to do."""
import math
from pathlib import Path


class PhaselogError(Exception):
    """An error the user can fix: its message names the file, field or run and what to do."""


class StoreHeld(PhaselogError):
    """Another process holds the store file past the writer's wait: the message names it."""


class StoreUnreachable(PhaselogError):
    """A lake's catalog could not be reached, or its writes kept failing for a cause that passes: the message
    names the store, the whole cause and the tries; `cause` is the cause alone."""

    def __init__(self, message: str, cause: str):
        super().__init__(message)
        self.cause = cause


class DataError(PhaselogError):
    """Input text or data that cannot be used for training, with the file that caused it."""


class TrainingDiverged(PhaselogError):
    """Non-finite loss or gradients: the segment stops before the optimizer step, nothing newer is checkpointed."""

    def __init__(self, step: int, loss: float, grad_norm: float, last_good_step: int, run_dir: Path):
        self.step, self.loss, self.grad_norm, self.last_good_step = step, loss, grad_norm, last_good_step
        super().__init__(
            f"training diverged at step {step} (loss {loss}, gradient norm {grad_norm}) in {run_dir}; the last "
            f"good checkpoint (step {last_good_step}) is kept: lower train.lr or train.grad_clip, then "
            "`phaselog resume`")

    def reasons(self) -> list[dict]:
        found = []
        if not math.isfinite(self.loss):
            found.append({"code": "non_finite_loss", "step": self.step, "layer": None, "value": self.loss, "threshold": None})
        if not math.isfinite(self.grad_norm):
            found.append({"code": "non_finite_grad", "step": self.step, "layer": None, "value": self.grad_norm, "threshold": None})
        return found
