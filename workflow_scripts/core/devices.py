"""Choosing where training runs: the same code on GPU or CPU.

torch is imported inside the functions that need it: the workflow calls `nvidia_gpu_present` while it plans.
"""

from __future__ import annotations

import glob
import os

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def nvidia_gpu_present() -> bool:
    """Whether this machine shows an NVIDIA GPU, without importing torch or initialising CUDA: the workflow asks
    this while it builds the plan.  CUDA_VISIBLE_DEVICES set to nothing (or -1) hides every GPU, as for CUDA."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def resolve_device(requested: str = "auto") -> torch.device:  # noqa: F821 (annotation only)
    """'auto' takes CUDA when present; 'cuda' without a GPU is an error, not a silent CPU run."""
    import torch

    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested (config key training.device) but no CUDA GPU is visible")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def set_cpu_threads(threads: int) -> None:
    """Use exactly the cores Snakemake granted the job."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
