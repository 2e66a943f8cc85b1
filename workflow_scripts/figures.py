"""Paper figures, redrawn from the tidy metrics CSVs (never from models).

``python -m workflow_scripts.figures NAME --metrics-dir DIR --output FILE.pdf``
writes FILE.pdf and FILE.png.  Plot styling lives in ``apply_style`` only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from scipy.special import expit  # noqa: E402

from workflow_scripts.cards import sample_label  # noqa: E402
from workflow_scripts.files import atomic_output, read_table  # noqa: E402

FULL_COLOR, WEAK_COLOR, BAYES_COLOR = "tab:orange", "tab:blue", "black"
LOSS_COLORS = {"bce": "tab:blue", "mae": "tab:green", "llp": "tab:red"}


def apply_style() -> None:
    plt.style.use(mplhep.style.ROOT)
    plt.rcParams.update({"figure.figsize": (7, 6), "legend.fontsize": 13, "axes.labelsize": 18})


def save(figure, output) -> None:
    """Write output (.pdf) and its .png sibling atomically."""
    output = Path(output)
    figure.tight_layout()
    for path in (output, output.with_suffix(".png")):
        with atomic_output(path) as temporary:
            figure.savefig(temporary, format=path.suffix[1:], dpi=120)
    plt.close(figure)


# ----------------------------------------------------------------------------
# Reading the toy study's CSVs
# ----------------------------------------------------------------------------


def read_toy(metrics_dir, jobs) -> dict[str, pd.DataFrame]:
    """The training jobs' metrics, ROC curves and output histograms, plus the Bayes-optimal reference."""
    metrics_dir = Path(metrics_dir)
    tables = {}
    for kind, name in (("metrics", "metrics.csv"), ("roc", "roc.csv"), ("hist", "outputs_hist.csv")):
        tables[kind] = pd.concat([pd.read_csv(metrics_dir / "jobs" / job / name) for job in jobs], ignore_index=True)
    tables["bayes"] = pd.read_csv(metrics_dir / "bayes_optimal.csv")
    tables["bayes_roc"] = pd.read_csv(metrics_dir / "bayes_optimal_roc.csv")
    return tables


def _run(tables, run) -> pd.DataFrame:
    rows = tables["metrics"][tables["metrics"]["run"] == run]
    if rows.empty:
        raise KeyError(f"run {run!r} is not among the metrics ({sorted(tables['metrics']['run'].unique())})")
    return rows


def _roc_matrix(tables, run) -> tuple[np.ndarray, np.ndarray]:
    """(fpr grid, tpr (members, grid)) of a run."""
    roc = tables["roc"][tables["roc"]["run"] == run]
    if roc.empty:
        raise KeyError(f"no ROC curves for run {run!r}")
    wide = roc.pivot(index="member", columns="fpr", values="tpr")
    return wide.columns.to_numpy(), wide.to_numpy()


def _bayes_line(axis, tables, log_fpr=False) -> None:
    auc = tables["bayes"]["auc"].iloc[0]
    roc = tables["bayes_roc"]
    keep = roc["fpr"] > 0 if log_fpr else slice(None)
    axis.plot(roc["fpr"][keep], roc["tpr"][keep], color=BAYES_COLOR, ls=":", lw=2, label=f"Bayes-optimal AUC: {auc:.4f}")


def _roc_band(axis, tables, run, color, label) -> None:
    fpr, tpr = _roc_matrix(tables, run)
    auc = _run(tables, run)["auc"]
    keep = fpr > 0
    low, mid, high = np.percentile(tpr[:, keep], [0, 50, 100], axis=0)
    axis.fill_between(fpr[keep], low, high, color=color, alpha=0.3, lw=0)
    axis.plot(fpr[keep], mid, color=color, label=f"{label} AUC: {auc.mean():.4f} ± {auc.std(ddof=0):.4f}")


def _label_runs(tables, loss="bce") -> list[tuple[float, str]]:
    weak = tables["metrics"][(tables["metrics"]["supervision"] == "weak") & (tables["metrics"]["loss"] == loss)]
    return sorted({(float(label), run) for label, run in zip(weak["label_b"], weak["run"])})


def _true_label_run(tables, loss="bce") -> str:
    """The weak run whose labels equal the datasets' true fractions."""
    rows = tables["metrics"][(tables["metrics"]["supervision"] == "weak") & (tables["metrics"]["loss"] == loss)]
    distance = (rows["label_b"] - rows["true_fraction_b"]).abs()
    return rows.loc[distance.idxmin(), "run"]


# ----------------------------------------------------------------------------
# Cohen, Freytsis, Ostdiek (2018): toy-model figures
# ----------------------------------------------------------------------------


def cohen2018_fig04(tables, output) -> None:
    """ROC of one weakly and one fully supervised network (member 0), with the optimal classifier."""
    figure, axis = plt.subplots()
    for run, color, label in (("full-bce", FULL_COLOR, "Fully supervised"), (_true_label_run(tables), WEAK_COLOR, "Weakly supervised")):
        fpr, tpr = _roc_matrix(tables, run)
        auc = _run(tables, run).set_index("member")["auc"].iloc[0]
        axis.plot(fpr, tpr[0], color=color, label=f"{label} AUC: {auc:.4f}")
    _bayes_line(axis, tables)
    axis.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.02))
    axis.legend(loc="lower right")
    save(figure, output)


def cohen2018_fig05(tables, output) -> None:
    """Left: ROC spread over trainings; right: AUC box plots against the label of the 0.7 set."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
    _roc_band(left, tables, _true_label_run(tables), WEAK_COLOR, "Weak")
    _roc_band(left, tables, "full-bce", FULL_COLOR, "Full")
    _bayes_line(left, tables, log_fpr=True)
    left.set(xscale="log", xlim=(1e-4, 1), ylim=(0, 1.02), xlabel="False positive rate", ylabel="True positive rate")
    left.legend(loc="lower right")
    _boxplot_scan(right, tables, "auc", "AUC")
    right.axhline(tables["bayes"]["auc"].iloc[0], color=BAYES_COLOR, ls=":", label="Bayes-optimal")
    right.legend(loc="lower left")
    save(figure, output)


def _boxplot_scan(axis, tables, column, ylabel) -> None:
    runs = _label_runs(tables)
    values = [_run(tables, run)[column].to_numpy() for _, run in runs] + [_run(tables, "full-bce")[column].to_numpy()]
    names = [f"{label:.1f}" for label, _ in runs] + ["FS"]
    axis.boxplot(values, tick_labels=names, sym="x", medianprops={"color": "red"})
    axis.tick_params(axis="x", labelsize=12)
    true_b = tables["metrics"]["true_fraction_b"].iloc[0]
    axis.set(xlabel=f"Label of the dataset with true fraction {true_b:.2f}", ylabel=ylabel)


def cohen2018_fig06(tables, output) -> None:
    """Background efficiency at 70 % (left) and 40 % (right) signal efficiency across the label scan.

    An efficiency of zero (no background test event passes) is drawn at the
    floor of one test event, marked by a dashed line.
    """
    floor = 1.0 / tables["metrics"]["n_test_background"].iloc[0]
    clipped = dict(tables, metrics=tables["metrics"].copy())
    figure, axes = plt.subplots(1, 2, figsize=(14, 6))
    for axis, column, efficiency in ((axes[0], "bkg_eff_at_sig70", 70), (axes[1], "bkg_eff_at_sig40", 40)):
        clipped["metrics"][column] = tables["metrics"][column].clip(lower=floor)
        _boxplot_scan(axis, clipped, column, f"Bkg. efficiency at {efficiency} % sig. efficiency")
        axis.set_yscale("log")
        axis.axhline(max(tables["bayes"][column].iloc[0], floor), color=BAYES_COLOR, ls=":", label="Bayes-optimal")
        axis.axhline(floor, color="grey", ls="--", lw=1, label="one test event")
        axis.legend(loc="upper left")
    save(figure, output)


def cohen2018_fig07(tables, output, labels=(0.2, 0.7), n_members=10) -> None:
    """Output distributions of signal and background for several trainings at two labels of the 0.7 set."""
    figure, axes = plt.subplots(1, 2, figsize=(14, 6))
    runs = dict(_label_runs(tables))
    for axis, label in zip(axes, labels):
        run = runs.get(label)
        if run is None:
            raise KeyError(f"fig07 needs a weak run with label {label}; runs: {sorted(runs)}")
        hist = tables["hist"][(tables["hist"]["run"] == run) & (tables["hist"]["member"] < n_members)]
        for (member, name), group in hist.groupby(["member", "class"]):
            color = "tab:blue" if name == "signal" else "tab:green"
            density = group["count"] / group["count"].sum() / (group["bin_high"] - group["bin_low"])
            axis.stairs(density.to_numpy(), np.r_[group["bin_low"].to_numpy(), group["bin_high"].iloc[-1]], color=color, alpha=0.6,
                        label=name.capitalize() if member == 0 else None)
        axis.set(xlabel="Network output", ylabel="Normalised events", title=f"0.7 set labelled {label:.1f}")
        axis.legend(loc="upper center")
    save(figure, output)


def cohen2018_fig12(tables, output) -> None:
    """ROC spread of weakly supervised networks for each loss function, true labels."""
    figure, axis = plt.subplots()
    names = {"bce": "BCE", "mae": "MAE", "llp": "LLP"}
    for loss, color in LOSS_COLORS.items():
        try:
            run = _true_label_run(tables, loss)
        except ValueError:
            raise KeyError(f"fig12 needs a weak run with loss {loss}") from None
        _roc_band(axis, tables, run, color, names[loss])
    _bayes_line(axis, tables, log_fpr=True)
    axis.set(xscale="log", xlim=(1e-4, 1), ylim=(0, 1.02), xlabel="False positive rate", ylabel="True positive rate")
    axis.legend(loc="lower right")
    save(figure, output)


# ----------------------------------------------------------------------------
# Beauchesne, Chen, Chiang: CWoLa on dark showers
# ----------------------------------------------------------------------------


def read_mjj(paths) -> np.ndarray:
    """M_jj of every selected event in the given event files."""
    from workflow_scripts.files import read_awkward

    values = [np.asarray(read_awkward(path, columns=["mjj_gev"])[0]["mjj_gev"], dtype=float) for path in paths]
    values = np.concatenate(values) if values else np.array([])
    return values[np.isfinite(values)]


def cwola_fig01(background_mjj, signal_mjj, signal_label, signal_region, sidebands, output) -> None:
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


def generator_cut_check_figure(events, windows, pt_hat_min_gev, m_hat_min_gev, result, output) -> None:
    """M_jj of a loosely generated background: all selected events and those the tight generator cuts keep."""
    mjj = events["mjj_gev"]
    tight = (events["pt_hat_gev"] >= pt_hat_min_gev) & (events["m_hat_gev"] >= m_hat_min_gev)
    bins = np.linspace(3000, 7000, 41)
    figure, axis = plt.subplots()
    axis.hist(mjj, bins=bins, histtype="step", lw=2, color="black", label="loose generator cuts")
    axis.hist(mjj[tight], bins=bins, histtype="step", lw=2, ls="--", color="tab:blue",
              label=rf"and $\hat p_T$ > {pt_hat_min_gev:g}, $\hat m$ > {m_hat_min_gev:g} GeV")
    for low, high in windows:
        axis.axvspan(low, high, color="grey", alpha=0.15)
    fraction = result["removed_fraction_upper95"]
    axis.set(xlabel=r"$M_{jj}$ [GeV]", ylabel="Events / 100 GeV", yscale="log",
             title=f"lost in SR+SB: {result['n_removed_by_tight_cuts']} of {result['n_in_windows']} (< {100 * fraction:.2g} % at 95 % CL)")
    axis.title.set_fontsize(13)
    axis.legend(loc="upper right")
    save(figure, output)


def fig02_inputs(signal_events, signal_windows, signal_images, background_windows, background_images, npix,
                 max_events=10_000) -> dict:
    """Leading-jet images for fig02: the first signal-region signal event before and after preprocessing, and
    the mean preprocessed image of up to `max_events` signal-region events of each sample."""
    from workflow_scripts import files, images

    signal_table, _ = files.read_table(signal_windows)
    background_table, _ = files.read_table(background_windows)
    signal_sr = np.flatnonzero(signal_table.region.to_numpy() == "SR")
    background_sr = np.flatnonzero(background_table.region.to_numpy() == "SR")
    if len(signal_sr) == 0 or len(background_sr) == 0:
        raise ValueError("fig02 needs signal-region events of both signal and background")
    example = signal_table.iloc[signal_sr[0]]
    events, _ = files.read_awkward(signal_events[int(example.chunk)])
    event = events[int(example.row):int(example.row) + 1]
    return {
        "before": images.event_images(event, npix, preprocessed=False)[0, 0],
        "after": images.event_images(event, npix)[0, 0],
        "background_mean": np.asarray(images.load_images(background_images)[background_sr[:max_events], 0]).mean(axis=0),
        "signal_mean": np.asarray(images.load_images(signal_images)[signal_sr[:max_events], 0]).mean(axis=0),
        "n_background": min(len(background_sr), max_events),
        "n_signal": min(len(signal_sr), max_events),
        "mjj_gev": float(example.mjj_gev),
    }


def cwola_fig02(inputs: dict, signal_label: str, output) -> None:
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


def cwola_fig03(summary: pd.DataFrame, benchmarks, output, compare: pd.DataFrame | None = None,
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


def cohen2018_fig10(roc: pd.DataFrame, output) -> None:
    """Paper Fig. 10: ROC curves on the true labels before (solid) and after (dashed, dotted) each mismodelling,
    full and weak supervision side by side; median over trainings with the 16-84 % band."""
    styles = {"none": ("-", "correct labels"), "random": ("--", "15 % of signal relabelled"),
              "swap": (":", "phase-space swap")}
    figure, axes = plt.subplots(1, 2, figsize=(13, 6), sharey=True)
    for axis, (supervision, color) in zip(axes, (("full", FULL_COLOR), ("weak", WEAK_COLOR))):
        for mismodelling, (style, label) in styles.items():
            curves = roc[(roc.supervision == supervision) & (roc.mismodelling == mismodelling)]
            if curves.empty:
                continue
            matrix = curves.pivot(index="member", columns="fpr", values="tpr")
            fpr = matrix.columns.to_numpy()
            low, median, high = np.percentile(matrix.to_numpy(), [16, 50, 84], axis=0)
            axis.plot(fpr, median, ls=style, color=color, label=label)
            axis.fill_between(fpr, low, high, color=color, alpha=0.12, lw=0)
        axis.set(xscale="log", xlim=(1e-3, 1), ylim=(0, 1.02), xlabel="False positive rate (true labels)",
                 title=f"{supervision.capitalize()} supervision")
        axis.legend(loc="lower right")
    axes[0].set_ylabel("True positive rate (true labels)")
    save(figure, output)


SIGNAL_COLOR, BACKGROUND_COLOR = "tab:green", "tab:purple"


def _working_point(points: pd.DataFrame, efficiency: float) -> pd.DataFrame:
    return points[np.isclose(points.signal_efficiency, efficiency)].set_index("selection")


def cohen2018_fig09(events: pd.DataFrame, points: pd.DataFrame, output) -> None:
    """Paper Fig. 9: cross-section-weighted outputs of the full (top) and weak (bottom) network for the gluino
    signal and the MET-binned Z+jets background, the cut at equal signal cross section (the first working
    point), and the MET spectra before (dashed) and after (solid) the cut.  Evaluation half only."""
    from matplotlib.lines import Line2D

    held_out = events[events.half == "eval"]
    weight = held_out.weight_pb.to_numpy() * 1000.0
    signal = held_out.label.to_numpy() == 1
    point = _working_point(points, points.signal_efficiency.iloc[0])
    met_bins = np.linspace(0.0, max(held_out.met_gev.max(), 1.0) * 1.02, 40)
    figure, axes = plt.subplots(2, 2, figsize=(13, 10))
    names = {"full": "Fully supervised network output", "weak": "Weakly supervised network output"}
    for row, supervision in enumerate(("full", "weak")):
        cut = point.loc[supervision]
        outputs = held_out[f"{supervision}_output"].to_numpy()
        passes = held_out[f"{supervision}_logit"].to_numpy() >= cut.cut_logit
        # The outputs fill a narrow range (weak supervision's targets are 0.47 and 0.83): bin that range.
        output_bins = np.linspace(outputs.min(), outputs.max() + 1e-9, 41)
        left, right = axes[row]
        for is_signal, color, name in ((True, SIGNAL_COLOR, "gluino pairs"), (False, BACKGROUND_COLOR, "Z(nu nu)+jets")):
            mask = signal == is_signal
            left.hist(outputs[mask], bins=output_bins, weights=weight[mask] / np.diff(output_bins)[0],
                      histtype="step", color=color, lw=2, label=name)
            for selected, style in ((np.ones_like(mask), "--"), (passes, "-")):
                chosen = mask & selected
                right.hist(held_out.met_gev[chosen], bins=met_bins, weights=weight[chosen] / np.diff(met_bins)[0],
                           histtype="step", color=color, ls=style, lw=2)
        left.axvline(expit(cut.cut_logit), color="black", ls="--")
        left.text(0.03, 0.95, f"passing the cut:\nsignal {cut.signal_fb:.3g} fb\nbackground {cut.background_fb:.3g} fb",
                  transform=left.transAxes, va="top", fontsize=12)
        left.set(yscale="log", xlabel=names[supervision], ylabel="dsigma/d(output) [fb]")
        left.legend(loc="upper right")
        right.set(yscale="log", xlabel="Missing transverse energy [GeV]", ylabel="dsigma/dMET [fb/GeV]")
        right.legend(handles=[Line2D([], [], color="gray", ls="--", label="before the cut"),
                              Line2D([], [], color="gray", ls="-", label="after the cut")], loc="upper right")
    save(figure, output)


def cohen2018_fig11(events: pd.DataFrame, points: pd.DataFrame, grid: pd.DataFrame, output) -> None:
    """Paper Fig. 11: weighted signal and background in the plane of the weak output and log10(log(2 - full
    output)), the single-network cuts (dashed) and the combined network's cut (solid) at the last working
    point, all at equal signal cross section.  Evaluation half only."""
    from workflow_scripts.lhc_combination import spread_full_output  # here: it imports torch, which other figures skip

    held_out = events[events.half == "eval"]
    weight = held_out.weight_pb.to_numpy() * 1000.0
    efficiency = points.signal_efficiency.iloc[-1]
    point = _working_point(points, efficiency)
    x_bins = np.linspace(grid.weak_output.min(), grid.weak_output.max(), 60)
    y_bins = np.linspace(grid.full_spread.min(), grid.full_spread.max(), 60)
    figure, axis = plt.subplots(figsize=(8, 7))
    for label, cmap in ((0, "Purples"), (1, "Greens")):
        mask = held_out.label.to_numpy() == label
        if weight[mask].max() > 0:
            axis.hist2d(held_out.weak_output[mask], held_out.full_spread[mask], bins=[x_bins, y_bins], weights=weight[mask],
                        cmap=cmap, norm=LogNorm(), alpha=0.75, cmin=weight[mask][weight[mask] > 0].min() * 0.5)
    axis.axvline(expit(point.loc["weak"].cut_logit), color="black", ls="--", label="weak-network cut")
    axis.axhline(spread_full_output(point.loc["full"].cut_logit), color="black", ls="-.", label="full-network cut")
    matrix = grid.pivot(index="full_spread", columns="weak_output", values="combined_logit")
    axis.contour(matrix.columns.to_numpy(), matrix.index.to_numpy(), matrix.to_numpy(),
                 levels=[point.loc["combined"].cut_logit], colors="black", linestyles="-")
    axis.plot([], [], color="black", ls="-", label="combined-network cut")  # contour sets make no legend entry
    reduction = point.loc["combined"].combined_reduction_vs_best_single
    axis.text(0.97, 0.97, f"signal efficiency {efficiency:g}\ncombined cut: background {100 * (1 - reduction):.0f} %\n"
              "of the better single cut's", transform=axis.transAxes, ha="right", va="top", fontsize=12)
    axis.set(xlabel="Weakly supervised network output", ylabel="log10(log(2 - fully supervised output))")
    axis.legend(loc="lower left", fontsize=11)
    save(figure, output)


TOY_FIGURES = {
    "cohen2018-fig04": cohen2018_fig04,
    "cohen2018-fig05": cohen2018_fig05,
    "cohen2018-fig06": cohen2018_fig06,
    "cohen2018-fig07": cohen2018_fig07,
    "cohen2018-fig12": cohen2018_fig12,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.figures", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="figure", required=True)
    for name in TOY_FIGURES:
        toy = sub.add_parser(name, help="toy-model figure of Cohen et al.")
        toy.add_argument("--metrics-dir", type=Path, required=True)
        toy.add_argument("--jobs", nargs="+", required=True, help="training jobs whose tables the figure draws from")
        toy.add_argument("--output", type=Path, required=True, help="PDF path; a PNG is written beside it")
    mjj = sub.add_parser("cwola-fig01", help="M_jj of background and signal, SR and SB marked")
    mjj.add_argument("--background", type=Path, nargs="+", required=True)
    mjj.add_argument("--signal", type=Path, nargs="+", required=True)
    mjj.add_argument("--signal-label", required=True)
    mjj.add_argument("--signal-region", type=float, nargs=2, required=True)
    mjj.add_argument("--sidebands", type=float, nargs=4, required=True)
    mjj.add_argument("--output", type=Path, required=True)
    images = sub.add_parser("cwola-fig02", help="jet images of one signal event and mean images")
    images.add_argument("--signal-events", type=Path, nargs="+", required=True)
    images.add_argument("--signal-windows", type=Path, required=True)
    images.add_argument("--signal-images", type=Path, required=True)
    images.add_argument("--background-windows", type=Path, required=True)
    images.add_argument("--background-images", type=Path, required=True)
    images.add_argument("--npix", type=int, required=True)
    images.add_argument("--signal-label", required=True)
    images.add_argument("--output", type=Path, required=True)
    significance = sub.add_parser("cwola-fig03", help="significance after the cut against injected S/sqrt(B)")
    significance.add_argument("--summary", type=Path, required=True)
    significance.add_argument("--benchmarks", nargs="+", required=True)
    significance.add_argument("--compare", type=Path, help="a second summary drawn dashed (Fig. 4: plain CWoLa)")
    significance.add_argument("--labels", nargs=2, default=["CWoLa", "CWoLa"], help="legend names of summary and compare")
    significance.add_argument("--output", type=Path, required=True)
    high_met = sub.add_parser("cohen2018-fig09", help="network outputs and MET on the MET-binned background")
    high_met.add_argument("--events", type=Path, required=True)
    high_met.add_argument("--working-points", type=Path, required=True)
    high_met.add_argument("--output", type=Path, required=True)
    combination = sub.add_parser("cohen2018-fig11", help="the two outputs in a plane and the combined cut")
    combination.add_argument("--events", type=Path, required=True)
    combination.add_argument("--working-points", type=Path, required=True)
    combination.add_argument("--grid", type=Path, required=True)
    combination.add_argument("--output", type=Path, required=True)
    mismodelling = sub.add_parser("cohen2018-fig10", help="ROC curves before and after the mismodellings")
    mismodelling.add_argument("--roc", type=Path, required=True)
    mismodelling.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    apply_style()
    if args.figure in ("cohen2018-fig09", "cohen2018-fig11"):
        events, _ = read_table(args.events)
        points = pd.read_csv(args.working_points)
        if args.figure == "cohen2018-fig09":
            cohen2018_fig09(events, points, args.output)
        else:
            cohen2018_fig11(events, points, pd.read_csv(args.grid), args.output)
        return
    if args.figure == "cohen2018-fig10":
        cohen2018_fig10(pd.read_csv(args.roc), args.output)
        return
    if args.figure == "cwola-fig02":
        inputs = fig02_inputs(args.signal_events, args.signal_windows, args.signal_images, args.background_windows,
                              args.background_images, args.npix)
        cwola_fig02(inputs, args.signal_label, args.output)
    elif args.figure == "cwola-fig03":
        compare = pd.read_csv(args.compare) if args.compare else None
        cwola_fig03(pd.read_csv(args.summary), args.benchmarks, args.output, compare, labels=tuple(args.labels))
    elif args.figure == "cwola-fig01":
        sidebands = [args.sidebands[:2], args.sidebands[2:]]
        cwola_fig01(read_mjj(args.background), read_mjj(args.signal), args.signal_label, args.signal_region, sidebands, args.output)
    else:
        TOY_FIGURES[args.figure](read_toy(args.metrics_dir, args.jobs), args.output)


if __name__ == "__main__":
    main()
