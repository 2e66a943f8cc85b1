"""Deterministic seeds derived from names, never from the clock."""

from __future__ import annotations

import hashlib

MAX_SEED = 900_000_000  # Pythia's Random:seed accepts at most 900 000 000.


def derive_seed(global_seed: int, *parts) -> int:
    """A seed in [1, MAX_SEED] that depends only on the global seed and the parts.

    Used for every random stream of the pipeline: (global seed, sample, chunk)
    for event generation, (global seed, run, member) for trainings.  A hash
    keeps streams of neighbouring chunks or members unrelated.
    """
    key = "/".join(str(part) for part in (int(global_seed), *parts))
    digest = hashlib.sha256(key.encode()).digest()
    return 1 + int.from_bytes(digest[:8], "little") % MAX_SEED
