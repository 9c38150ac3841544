"""Which torch device a run trains on: one choice, read by training, evaluation, self-play and torchrun."""
import torch


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def uses_cuda(config) -> bool:
    return pick_device(config.train.device).type == "cuda"
