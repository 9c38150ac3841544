"""Atomic checkpoints. A checkpoint is `step_NNNNNNN.pt` plus a completion marker `step_NNNNNNN.json` that holds
the file's size and sha256. The .pt file is written to a temp name, fsynced and renamed; the marker is written
the same way only after that. So a checkpoint is good exactly when its marker exists and matches the file:
a crash at any moment leaves either a good checkpoint or one that is ignored, never a half-read one."""
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.gpt import GPT, GPTShape


@dataclass(frozen=True)
class CheckpointInfo:
    step: int
    path: Path


def checkpoint_path(directory: Path, step: int) -> Path:
    return Path(directory) / f"step_{step:07d}.pt"


def marker_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _write_atomically(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    # the rename itself must reach the disk before the marker that vouches for it
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(directory: Path, step: int, state: dict) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, step)
    _write_atomically(path, lambda f: torch.save(state, f))
    marker = {"step": step, "bytes": path.stat().st_size, "sha256": _sha256(path)}
    _write_atomically(marker_path(path), lambda f: f.write(json.dumps(marker).encode()))
    return path


def is_good(path: Path) -> bool:
    marker = marker_path(path)
    if not (path.is_file() and marker.is_file()):
        return False
    try:
        expected = json.loads(marker.read_text())
    except (json.JSONDecodeError, OSError):
        return False
    return path.stat().st_size == expected.get("bytes") and _sha256(path) == expected.get("sha256")


def list_checkpoints(directory: Path) -> list[CheckpointInfo]:
    """Every checkpoint file with a marker, oldest first (goodness is checked on load, since hashing costs)."""
    found = []
    for marker in Path(directory).glob("step_*.json"):
        path = marker.with_suffix(".pt")
        if path.is_file():
            found.append(CheckpointInfo(int(path.stem.split("_")[1]), path))
    return sorted(found, key=lambda c: c.step)


def latest_good_checkpoint(directory: Path, at_most: int | None = None, warn=print) -> CheckpointInfo | None:
    """The newest checkpoint that verifies, at or before `at_most`; a corrupt one is reported and skipped."""
    for info in reversed(list_checkpoints(directory)):
        if at_most is not None and info.step > at_most:
            continue
        if is_good(info.path):
            return info
        warn(f"checkpoint {info.path} is corrupt (size or hash does not match its marker); "
             "falling back to the previous one")
    return None


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=False)


def prune_checkpoints(directory: Path, keep_last: int, protected: set[int]) -> None:
    """Delete all but the newest `keep_last` checkpoints, never touching the steps in `protected`."""
    candidates = [c for c in list_checkpoints(directory) if c.step not in protected]
    for info in candidates[:-keep_last] if keep_last else candidates:
        marker_path(info.path).unlink(missing_ok=True)  # marker first: a half-deleted checkpoint reads as absent
        info.path.unlink(missing_ok=True)


def load_model(run_dir: Path, model_config, checkpoint: Path, device="cpu") -> tuple[GPT, Tokenizer]:
    """The one way into a checkpoint for inference: the run's tokenizer and a GPT holding the checkpoint's weights,
    in eval mode on `device`. The file is read onto the CPU first and only the weights move on: the optimizer
    state it also holds never takes device memory."""
    tokenizer = Tokenizer.load(Path(run_dir) / "tokenizer")
    model = GPT(GPTShape.from_config(model_config, tokenizer.vocab_size))
    state = load_checkpoint(checkpoint, "cpu")
    model.load_state_dict(state["model"])
    del state
    return model.to(device).eval(), tokenizer
