"""Figures of Cohen, Freytsis and Ostdiek (JHEP 2018): the toy model (Figs. 4-7, 12) and the LHC study (Figs. 9-11)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from scipy.special import expit

from workflow_scripts.figures.style import BAYES_COLOR, FULL_COLOR, LOSS_COLORS, WEAK_COLOR, save


def read_toy(inputs: dict) -> dict[str, pd.DataFrame]:
    """The toy study's tables: every training job's metrics, ROC curves and output histograms (input lists
    `metrics`, `roc`, `hist`), and the Bayes-optimal reference (`bayes`, `bayes_roc`)."""
    tables = {kind: pd.concat([pd.read_csv(path) for path in inputs[kind]], ignore_index=True)
              for kind in ("metrics", "roc", "hist")}
    tables["bayes"], tables["bayes_roc"] = pd.read_csv(inputs["bayes"][0]), pd.read_csv(inputs["bayes_roc"][0])
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


def fig04(tables, output) -> None:
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


def fig05(tables, output) -> None:
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


def fig06(tables, output) -> None:
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


def fig07(tables, output, labels=(0.2, 0.7), n_members=10) -> None:
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


def fig12(tables, output) -> None:
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


def fig10(roc: pd.DataFrame, output) -> None:
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


def fig09(events: pd.DataFrame, points: pd.DataFrame, output) -> None:
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


def fig11(events: pd.DataFrame, points: pd.DataFrame, grid: pd.DataFrame, output) -> None:
    """Paper Fig. 11: weighted signal and background in the plane of the weak output and log10(log(2 - full
    output)), the single-network cuts (dashed) and the combined network's cut (solid) at the last working
    point, all at equal signal cross section.  Evaluation half only."""
    from workflow_scripts.studies.cohen2018_lhc.combination import (
        spread_full_output,  # here: it imports torch, which other figures skip
    )

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
    combined = point.loc["combined"]
    text = (f"signal efficiency {efficiency:g}\ncombined cut: background {100 * (1 - combined.combined_reduction_vs_best_single):.0f} %\n"
            "of the better single cut's")
    if np.isfinite(combined.get("combined_reduction_split_std", np.nan)):
        text += (f"\n(over the splits into halves: {100 * (1 - combined.combined_reduction_split_mean):.0f} "
                 f"± {100 * combined.combined_reduction_split_std:.0f} %)")
    axis.text(0.97, 0.97, text, transform=axis.transAxes, ha="right", va="top", fontsize=12)
    axis.set(xlabel="Weakly supervised network output", ylabel="log10(log(2 - fully supervised output))")
    axis.legend(loc="lower left", fontsize=11)
    save(figure, output)
