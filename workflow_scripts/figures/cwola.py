"""Figures of Beauchesne, Chen and Chiang: M_jj (Fig. 1), jet images (Fig. 2), significance (Figs. 3-6); and beyond
the paper, significance improvement curves of every method and the no-signal control's sculpting check."""

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
                labels=("CWoLa", "CWoLa"), baseline: pd.DataFrame | None = None) -> None:
    """Paper Fig. 3 (and Fig. 4 with `compare`): significance after the cut against injected S/sqrt(B), mean and
    standard deviation over pseudo-experiments, one panel per (resolution, benchmark), one colour per background
    efficiency; `compare` is drawn dashed in the same colours (Fig. 4: transfer solid, plain CWoLa dashed), and
    `baseline` (the fully supervised network, beyond the paper) dash-dotted."""
    if summary.empty:
        raise ValueError("the figure needs training metrics; the summary table is empty")
    resolutions = sorted(summary.resolution.unique())
    figure, axes = plt.subplots(len(resolutions), len(benchmarks), figsize=(6.5 * len(benchmarks), 5.5 * len(resolutions)),
                                squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    tables = [(summary, "-", "o", labels[0])] + ([(compare, "--", "s", labels[1])] if compare is not None else [])
    # The axes fit the weakly supervised curves; the supervised ceiling may leave through the top.
    top = max(max(table.injection.max(), table.significance_after.max()) for table, *_ in tables) * 1.1
    tables += [(baseline, "-.", "v", "supervised")] if baseline is not None else []
    for row, resolution in enumerate(resolutions):
        for column, benchmark in enumerate(benchmarks):
            axis = axes[row, column]
            for table, style, marker, label in tables:
                selected = table[(table.benchmark == benchmark) & (table.resolution == resolution)]
                for color, (efficiency, curve) in zip(colors, selected.groupby("background_efficiency")):
                    points = curve.groupby("injection").significance_after.agg(["mean", "std"]).reset_index()
                    axis.errorbar(points.injection, points["mean"], yerr=points["std"].fillna(0.0), color=color,
                                  ls=style, marker=marker, capsize=3,
                                  label=rf"{label if len(tables) > 1 else ''} $\epsilon_b$ = {efficiency:g}".strip())
            selected = summary[(summary.benchmark == benchmark) & (summary.resolution == resolution)]
            n_trials = int(selected.groupby(["injection", "background_efficiency"]).size().max()) if len(selected) else 0
            axis.plot([0, top], [0, top], ls=":", color="black", label="slope 1 (no classifier)")
            axis.set(xlabel=r"injected $S/\sqrt{B}$", ylabel=r"significance after the cut [$\sigma$]", xlim=(0, top),
                     ylim=(0, top))
            axis.set_title(f"{sample_label(benchmark)}, {resolution}x{resolution}, {n_trials} trials", fontsize=13)
            axis.legend(loc="upper left", fontsize=10)
    save(figure, output)


METHOD_STYLES = {"cwola": ("CWoLa", "tab:blue"), "transfer": ("transfer", "tab:orange"),
                 "meta": ("meta-transfer", "tab:green"), "supervised": ("supervised", "black")}


def sic(rocs: pd.DataFrame, benchmark: str, resolution: int, output, min_background_events: int = 25) -> None:
    """Significance improvement curves of every method, one panel per injected S/sqrt(B): median over trials and
    the band between the 16 % and 84 % quantiles; the supervised baseline (injection-independent) in every panel."""
    selected = rocs[(rocs.benchmark == benchmark) & (rocs.resolution == resolution)]
    if selected.empty:
        raise ValueError(f"no ROC tables of {benchmark} at {resolution}x{resolution}")
    from workflow_scripts.studies.cwola.performance import sic_bands

    bands = sic_bands(selected, min_background_events)
    injections = sorted(selected.injection.dropna().unique()) if "injection" in selected else []
    if not injections:
        raise ValueError("the SIC figure needs at least one method trained at injected signal (an injection column)")
    figure, axes = plt.subplots(1, len(injections), figsize=(max(8.0, 4.5 * len(injections)), 5.5), sharey=True,
                                squeeze=False)
    for axis, injection in zip(axes[0], injections):
        shown = bands[(bands.injection == injection) | bands.injection.isna()]
        for method, curve in shown.groupby("method", sort=False):
            label, color = METHOD_STYLES.get(method, (method, None))
            line, = axis.plot(curve.signal_efficiency, curve["median"], color=color,
                              label=f"{label} ({int(curve.trials.max())} trials)")
            axis.fill_between(curve.signal_efficiency, curve.low, curve.high, color=line.get_color(), alpha=0.2, lw=0)
        if shown.empty:
            axis.text(0.5, 0.5, f"fewer than {min_background_events} test\nbackground events pass", ha="center",
                      va="center", transform=axis.transAxes, fontsize=11)
        axis.axhline(1.0, color="grey", ls=":", lw=1)
        axis.set(xlabel=r"signal efficiency $\epsilon_s$", xlim=(0, 1))
        axis.set_title(rf"injected $S/\sqrt{{B}}$ = {injection:g}", fontsize=12)
    axes[0, 0].set_ylabel(r"SIC = $\epsilon_s/\sqrt{\epsilon_b}$")
    axes[0, 0].set_ylim(bottom=0)
    if axes[0, 0].get_legend_handles_labels()[0]:
        axes[0, 0].legend(loc="upper right", fontsize=9)
    figure.suptitle(f"{sample_label(benchmark)}, {resolution}x{resolution}: median and 68 % band over trials "
                    f"(at least {min_background_events} test background events pass)", fontsize=12)
    save(figure, output)


def sculpting(efficiencies: pd.DataFrame, histograms: pd.DataFrame, injection: float, signal_region, output) -> None:
    """The sculpting check of the networks trained at one injection (the no-signal control at 0): M_jj of held-out
    background passing each sideband-set cut against the expectation (all held-out background times the cut's SB
    efficiency), summed over those networks, and their ratio; one column per cut, one colour per method."""
    efficiencies = efficiencies[efficiencies.injection == injection]
    histograms = histograms[histograms.injection == injection]
    if efficiencies.empty:
        raise ValueError(f"no sculpting check of networks trained at injected S/sqrt(B) = {injection:g}")
    cuts = sorted(efficiencies.background_efficiency.unique(), reverse=True)
    figure, axes = plt.subplots(2, len(cuts), figsize=(max(8.0, 6.5 * len(cuts)), 8.0), sharex=True, squeeze=False,
                                gridspec_kw={"height_ratios": [3, 2]})
    network_keys = ["benchmark", "resolution", "trial"]
    for column, cut in enumerate(cuts):
        top, bottom = axes[0, column], axes[1, column]
        for method, table in efficiencies[efficiencies.background_efficiency == cut].groupby("method", sort=False):
            label, color = METHOD_STYLES.get(method, (method, None))
            bins = histograms[(histograms.background_efficiency == cut) & (histograms.method == method)]
            bins = bins.merge(table[[*network_keys, "sb_efficiency"]], on=network_keys)
            bins = bins.assign(expected=bins.n_all * bins.sb_efficiency).groupby(["mjj_low_gev", "mjj_high_gev"],
                                                                                 sort=True)[["n_pass", "expected"]].sum()
            edges = np.r_[bins.index.get_level_values(0), bins.index.get_level_values(1)[-1]]
            centres = 0.5 * (edges[1:] + edges[:-1])
            top.stairs(bins.expected, edges, color=color, ls="--")
            top.errorbar(centres, bins.n_pass, yerr=np.sqrt(bins.n_pass), color=color, fmt="o", ms=4,
                         label=f"{label}: SR/SB efficiency {table.sr_over_sb.mean():.2f}, "
                               f"spurious {table.spurious_significance.mean():+.1f}$\\sigma$ ({len(table)} networks)")
            ratio = np.divide(bins.n_pass, bins.expected, out=np.full(len(bins), np.nan), where=bins.expected > 0)
            bottom.errorbar(centres, ratio, yerr=np.sqrt(bins.n_pass) / np.where(bins.expected > 0, bins.expected, np.nan),
                            color=color, fmt="o", ms=4)
        for axis in (top, bottom):
            axis.axvspan(*signal_region, color="grey", alpha=0.15)
        bottom.axhline(1.0, color="black", lw=1)
        top.set_ylabel("passing events", fontsize=14)
        top.set_title(rf"cut keeping $\epsilon$ = {cut:g} of the SB background", fontsize=13)
        top.set_xlim(edges[0], edges[-1])
        top.legend(loc="upper right", fontsize=8, title="points: passing; dashed: SB expectation", title_fontsize=8)
        bottom.set_xlabel(r"$M_{jj}$ [GeV]")
        bottom.set_ylabel("passing / expected", fontsize=14)
    figure.suptitle(rf"Sculpting check of the networks trained at injected $S/\sqrt{{B}}$ = {injection:g} (grey: SR)",
                    fontsize=13)
    save(figure, output)
