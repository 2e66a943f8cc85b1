"""Figures of Beauchesne, Chen and Chiang: M_jj (Fig. 1), jet images (Fig. 2), significance (Figs. 3-6)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from workflow_scripts.figures.style import save
from workflow_scripts.generation.cards import sample_label


def read_mjj(paths) -> np.ndarray:
    """M_jj of every selected event in the given event files."""
    from workflow_scripts.core.files import read_awkward

    values = [np.asarray(read_awkward(path, columns=["mjj_gev"])[0]["mjj_gev"], dtype=float) for path in paths]
    values = np.concatenate(values) if values else np.array([])
    return values[np.isfinite(values)]


def fig01(background_mjj, signal_mjj, signal_label, signal_region, sidebands, output) -> None:
    """Unit-normalised M_jj of background and one signal after the Table 1b selection, SR and SB marked."""
    if len(background_mjj) == 0 or len(signal_mjj) == 0:
        raise ValueError("fig01 needs selected background and signal events; none passed the selection")
    figure, axis = plt.subplots()
    bins = np.linspace(3000, 7000, 41)
    for values, label, color in ((background_mjj, "QCD dijets", "tab:blue"), (signal_mjj, signal_label, "tab:red")):
        counts, _ = np.histogram(values, bins=bins)
        axis.stairs(counts / max(counts.sum(), 1), bins, color=color, lw=2, label=f"{label} ({len(values)} events)")
    axis.axvspan(*signal_region, color="grey", alpha=0.25, label="signal region")
    for low, high in sidebands:
        axis.axvspan(low, high, color="gold", alpha=0.25, label="sidebands" if low == sidebands[0][0] else None)
    axis.set(xlabel=r"$M_{jj}$ [GeV]", ylabel="Fraction of events / 100 GeV", xlim=(bins[0], bins[-1]))
    axis.legend(loc="upper left")
    save(figure, output)


def fig02(inputs: dict, signal_label: str, output) -> None:
    """Paper Fig. 2: one signal event's leading jet before (a) and after (b) preprocessing, mean images (c, d)."""
    from matplotlib.colors import LogNorm

    npix = inputs["after"].shape[0]
    panels = [
        ("before", f"(a) one signal event, translated only\n$M_{{jj}}$ = {inputs['mjj_gev']:.0f} GeV"),
        ("after", "(b) the same jet, preprocessed"),
        ("background_mean", f"(c) mean of {inputs['n_background']} background events"),
        ("signal_mean", f"(d) mean of {inputs['n_signal']} signal events"),
    ]
    figure, axes = plt.subplots(2, 2, figsize=(11, 10))
    for axis, (key, title) in zip(axes.flat, panels):
        image = inputs[key]
        positive = image[image > 0]
        norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if len(positive) else None
        shown = axis.imshow(np.ma.masked_less_equal(image, 0), origin="lower", extent=(-1, 1, -1, 1), norm=norm,
                            cmap="viridis", interpolation="nearest")
        figure.colorbar(shown, ax=axis, label=r"$p_T$ per pixel [GeV]")
        axis.set(xlabel=r"$\eta'$", ylabel=r"$\phi'$")
        axis.set_title(title, fontsize=12)
    figure.suptitle(f"Leading jet, {npix}x{npix} pixels, signal: {signal_label}", fontsize=14)
    save(figure, output)


def fig03(summary: pd.DataFrame, benchmarks, output, compare: pd.DataFrame | None = None,
                labels=("CWoLa", "CWoLa")) -> None:
    """Paper Fig. 3 (and Fig. 4 with `compare`): significance after the cut against injected S/sqrt(B), mean and
    standard deviation over pseudo-experiments, one panel per (resolution, benchmark), one colour per background
    efficiency; `compare` is drawn dashed in the same colours (Fig. 4: transfer solid, plain CWoLa dashed)."""
    if summary.empty:
        raise ValueError("the figure needs training metrics; the summary table is empty")
    resolutions = sorted(summary.resolution.unique())
    figure, axes = plt.subplots(len(resolutions), len(benchmarks), figsize=(6.5 * len(benchmarks), 5.5 * len(resolutions)),
                                squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    tables = [(summary, "-", "o", labels[0])] + ([(compare, "--", "s", labels[1])] if compare is not None else [])
    top = max(max(table.injection.max(), table.significance_after.max()) for table, *_ in tables) * 1.1
    for row, resolution in enumerate(resolutions):
        for column, benchmark in enumerate(benchmarks):
            axis = axes[row, column]
            for table, style, marker, label in tables:
                selected = table[(table.benchmark == benchmark) & (table.resolution == resolution)]
                for color, (efficiency, curve) in zip(colors, selected.groupby("background_efficiency")):
                    points = curve.groupby("injection").significance_after.agg(["mean", "std"]).reset_index()
                    axis.errorbar(points.injection, points["mean"], yerr=points["std"].fillna(0.0), color=color,
                                  ls=style, marker=marker, capsize=3,
                                  label=rf"{label if compare is not None else ''} $\epsilon_b$ = {efficiency:g}".strip())
            selected = summary[(summary.benchmark == benchmark) & (summary.resolution == resolution)]
            n_trials = int(selected.groupby(["injection", "background_efficiency"]).size().max()) if len(selected) else 0
            axis.plot([0, top], [0, top], ls=":", color="black", label="slope 1 (no classifier)")
            axis.set(xlabel=r"injected $S/\sqrt{B}$", ylabel=r"significance after the cut [$\sigma$]", xlim=(0, top),
                     ylim=(0, top))
            axis.set_title(f"{sample_label(benchmark)}, {resolution}x{resolution}, {n_trials} trials", fontsize=13)
            axis.legend(loc="upper left", fontsize=10)
    save(figure, output)
