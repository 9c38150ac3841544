"""Which torch device a run trains on, and in which precision: one choice, read by training, evaluation,
self-play, torchrun and the memory plan."""
from pathlib import Path

import torch

from phaselog.core.errors import PhaselogError


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def uses_cuda(config) -> bool:
    return pick_device(config.train.device).type == "cuda"


NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 AVX-512 BF16 / AMX, and aarch64's bf16


def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[bool, str]:
    """Whether this CPU has bf16 instructions, and the reason to quote either way."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False, f"cannot read {cpuinfo} to tell whether bf16 is native"
    flags = set()
    for line in text.splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            flags |= set(line.split(":", 1)[1].split())
    found = sorted(NATIVE_BF16_FLAGS & flags)
    if found:
        return True, f"native bf16 ({', '.join(found)})"
    return False, "no native bf16 on this CPU (no avx512_bf16, amx_bf16 or bf16 flag): torch would emulate it"


def trains_bf16(config) -> bool:
    """bf16 autocast in the training step: always on CUDA, on CPU when train.precision asks for it."""
    return uses_cuda(config) or config.train.precision == "bf16"


def newton_schulz_dtype(train_config, device: torch.device, cpuinfo: Path = Path("/proc/cpuinfo")) -> torch.dtype:
    """The dtype Muon orthogonalises in. auto: bf16 on CUDA (tensor cores) and on a CPU that computes bf16
    natively (about half the fp32 time at the race's shapes, the same loss: docs/benchmarks.md, Muon's cost),
    fp32 on a CPU that would emulate it; fp32 / bf16 force one (check_precision refuses an emulated bf16)."""
    wanted = train_config.muon_precision
    if wanted == "auto":
        return torch.bfloat16 if device.type == "cuda" or native_bf16(cpuinfo)[0] else torch.float32
    return torch.bfloat16 if wanted == "bf16" else torch.float32


def check_precision(config, cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """bf16 on a CPU that would emulate it (10-30x slower per op than fp32) is refused: train.precision's autocast
    and train.muon_precision's Newton-Schulz alike."""
    if uses_cuda(config):
        return
    for key in ("precision", "muon_precision"):
        if getattr(config.train, key) == "bf16":
            native, why = native_bf16(cpuinfo)
            if not native:
                raise PhaselogError(f"train.{key} bf16: {why}; keep train.{key} auto (fp32 on this CPU)")
