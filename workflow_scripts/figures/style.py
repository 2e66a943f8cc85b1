"""The one plot style of every figure, and writing a figure as PDF and PNG.

matplotlib's non-interactive backend is chosen here, before pyplot is imported anywhere in a figure job.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402

from workflow_scripts.core.files import atomic_output  # noqa: E402

FULL_COLOR, WEAK_COLOR, BAYES_COLOR = "tab:orange", "tab:blue", "black"
LOSS_COLORS = {"bce": "tab:blue", "mae": "tab:green", "llp": "tab:red"}


def apply_style() -> None:
    plt.style.use(mplhep.style.ROOT)
    plt.rcParams.update({"figure.figsize": (7, 6), "legend.fontsize": 13, "axes.labelsize": 18})


def save(figure, output) -> None:
    """Write output (.pdf) and its .png sibling atomically; the same figure gives the same bytes (no creation date)."""
    output = Path(output)
    figure.tight_layout()
    for path in (output, output.with_suffix(".png")):
        kind = path.suffix[1:]
        with atomic_output(path) as temporary:
            figure.savefig(temporary, format=kind, dpi=120, metadata={"CreationDate": None} if kind == "pdf" else None)
    plt.close(figure)
