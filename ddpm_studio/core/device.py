"""Choosing the torch device: CUDA when present, then Apple MPS, then the CPU; the user may override."""

from __future__ import annotations

import torch

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Device names usable on this machine, best first (always ends with "cpu")."""
    names: list[str] = []
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names + ["cpu"]


def resolve_device(name: str = "auto") -> torch.device:
    """The torch.device for ``name``: "auto", "cpu", "cuda", "cuda:N" or "mps".

    Raises:
        ValueError: an unknown name, or a device this machine does not have (said in one line).
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device(available_devices()[0].split(":")[0])
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if "mps" not in available_devices():
            raise ValueError("device 'mps' was requested but Apple MPS is not available on this machine")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was requested but CUDA is not available on this machine")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ValueError(
                f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA devices"
            )
        return torch.device(name)
    raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps")
