"""The compiled CPU training kernel of the small-network ensembles (``_mlp_kernel.c``).

``pip install -e .`` compiles it next to this file; it is loaded with ctypes, which releases the GIL
during the call, so several threads can train disjoint member ranges at once.  Where it was not built
(no C compiler at install time), ``available()`` is False and ensemble.py trains with its torch step.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

LIBRARY_STEM = "_mlp_kernel"
ABI_VERSION = 2  # MLP_KERNEL_ABI_VERSION in _mlp_kernel.c
LOSS_CODES = {"bce": 0, "mae": 1, "llp": 2}
OPTIMIZER_CODES = {"adam": 0, "sgd": 1}
_STATUS_MESSAGES = {1: "out of memory", 2: "invalid sizes, loss or optimizer"}


def library_path() -> Path | None:
    """The compiled library beside this module, or None."""
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = here / f"{LIBRARY_STEM}{suffix}"
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _library():
    path = library_path()
    if path is None:
        # Said once per process: a checkout whose kernel was never built (a second clone run without its own
        # `pip install -e .`) trains several times slower, and nothing else would show why.
        warnings.warn(f"the CPU training kernel is not built in {Path(__file__).resolve().parent}: training falls back "
                      "to the torch step, several times slower on a CPU; `pip install -e .` in this checkout builds it",
                      RuntimeWarning, stacklevel=2)
        return None
    library = ctypes.CDLL(str(path))
    # A library built from an older _mlp_kernel.c (an editable install does not rebuild it) would be called
    # with the wrong arguments: refuse it and say how to rebuild.
    version = library.mlp_kernel_abi_version() if hasattr(library, "mlp_kernel_abi_version") else None
    if version != ABI_VERSION:
        warnings.warn(f"{path} is a stale build (interface {version}, expected {ABI_VERSION}): training falls back to "
                      "the torch step until `pip install -e .` rebuilds it", RuntimeWarning, stacklevel=2)
        return None
    pointer, int64 = ctypes.c_void_p, ctypes.c_int64
    library.mlp_train_epoch.argtypes = [int64] * 5 + [pointer, pointer, int64] + [pointer] * 6 + [ctypes.c_int] * 2
    library.mlp_train_epoch.restype = ctypes.c_int
    return library


def available() -> bool:
    return _library() is not None


def _checked(name: str, array: np.ndarray, dtype, shape) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape or not array.flags.c_contiguous:
        got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"cpu kernel: {name} must be a C-contiguous {np.dtype(dtype)} array of shape {shape}, got {got}")
    return array


def pack_events(x, groups) -> np.ndarray:
    """The kernel's event table (N, n_in + 1) float32: each event's inputs, then its group index.

    One row per event keeps the values a step reads for one event together: with the toy model's
    three inputs a row is 16 bytes, one cache line, and rows are read in random order.
    """
    x = np.asarray(x, dtype=np.float32)
    groups = np.asarray(groups)
    if x.ndim != 2 or groups.shape != (len(x),):
        raise ValueError(f"cpu kernel: x must be (N, n_inputs) and groups (N,), got {x.shape} and {groups.shape}")
    if len(groups) and (groups.min() < 0 or groups.max() >= 2**24):
        raise ValueError("cpu kernel: group indices must lie in [0, 2^24), where float32 holds them exactly")
    return np.ascontiguousarray(np.column_stack([x, groups.astype(np.float32)]))


def train_epoch(events, targets, order, step_sizes, params, adam_m, adam_v, *, n_hidden: int, batch_size: int,
                loss: str, optimizer: str, event_weights=None, threads: int = 1) -> None:
    """One epoch of every member, updating params, adam_m and adam_v in place.

    events (N, n_in + 1) float32 from pack_events; targets (E, G) float32, member e's target for each
    group; order (E, N) int32, each member's shuffle; step_sizes (ceil(N / batch_size),) float32;
    params, adam_m, adam_v (E, P) float32 in MLPEnsemble's layout; event_weights (N,) float32 or None.
    The caller checks value ranges (ensemble.train_ensemble does); this checks types and shapes, which
    the C code cannot.
    """
    library = _library()
    if library is None:
        raise RuntimeError("the CPU training kernel is not built: reinstall with `pip install -e .` where a C compiler is on PATH")
    n_events, n_inputs = events.shape[0], events.shape[1] - 1
    n_members, n_groups = targets.shape
    n_params = n_inputs * n_hidden + 2 * n_hidden + 1
    arrays = {
        "events": _checked("events", events, np.float32, (n_events, n_inputs + 1)),
        "targets": _checked("targets", targets, np.float32, (n_members, n_groups)),
        "order": _checked("order", order, np.int32, (n_members, n_events)),
        "step_sizes": _checked("step_sizes", step_sizes, np.float32, (-(-n_events // batch_size),)),
    }
    state = [_checked(name, array, np.float32, (n_members, n_params))
             for name, array in (("params", params), ("adam_m", adam_m), ("adam_v", adam_v))]
    if event_weights is not None:
        _checked("event_weights", event_weights, np.float32, (n_events,))

    def run(members: slice) -> int:
        return library.mlp_train_epoch(
            members.stop - members.start, n_events, n_inputs, n_hidden, batch_size,
            arrays["events"].ctypes.data, arrays["targets"][members].ctypes.data, n_groups,
            None if event_weights is None else event_weights.ctypes.data, arrays["order"][members].ctypes.data,
            arrays["step_sizes"].ctypes.data, *(array[members].ctypes.data for array in state),
            LOSS_CODES[loss], OPTIMIZER_CODES[optimizer],
        )

    bounds = np.linspace(0, n_members, max(1, min(threads, n_members)) + 1).astype(int)
    chunks = [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]
    if len(chunks) == 1:
        statuses = [run(chunks[0])]
    else:
        with ThreadPoolExecutor(len(chunks)) as pool:
            statuses = list(pool.map(run, chunks))
    for status in statuses:
        if status:
            raise RuntimeError(f"cpu kernel failed: {_STATUS_MESSAGES.get(status, f'status {status}')}")
