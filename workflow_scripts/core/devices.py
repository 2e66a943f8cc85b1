"""Choosing where training runs: the same code on GPU or CPU."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str = "auto") -> torch.device:
    """'auto' takes CUDA when present; 'cuda' without a GPU is an error, not a silent CPU run."""
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested (config key training.device) but no CUDA GPU is visible")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def set_cpu_threads(threads: int) -> None:
    """Use exactly the cores Snakemake granted the job."""
    torch.set_num_threads(max(1, int(threads)))
