"""Figures of the validation checks: the generator-level cuts and the embedded detector against Delphes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from workflow_scripts.analysis.images import HALF_WIDTH
from workflow_scripts.figures.style import save
from workflow_scripts.generation.cards import sample_label
from workflow_scripts.validation.closure import CONSTITUENT_TYPES, MIN_JETS_PER_BIN


def generator_cut_check(events, windows, pt_hat_min_gev, m_hat_min_gev, result, output) -> None:
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


SUMMARY_QUANTITIES = ["leading_jet_pt", "mjj", "met", "met_q90", "leading_jet_mass", "constituents", "selection_efficiency"]


def detector_closure(table: pd.DataFrame, arrays: dict[str, dict[str, np.ndarray]], output) -> None:
    """The closure figure: ratios against their tolerances, jet response and resolution, constituents by type,
    the first sample's mean Delphes jet image and the per-pixel pull of the embedded one against it."""
    samples = list(arrays)
    colors = dict(zip(samples, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    figure, axes = plt.subplots(2, 3, figsize=(21, 13))

    ax = axes[0, 0]
    for offset, sample in zip(np.linspace(-0.25, 0.25, len(samples)), samples):
        rows = table[(table["sample"] == sample) & table.quantity.isin(SUMMARY_QUANTITIES)].set_index("quantity")
        present = [quantity for quantity in SUMMARY_QUANTITIES if quantity in rows.index]
        positions = [SUMMARY_QUANTITIES.index(quantity) + offset for quantity in present]
        ax.errorbar(100 * (rows.loc[present, "ratio"] - 1), positions, xerr=100 * rows.loc[present, "ratio_uncertainty"],
                    fmt="o", color=colors[sample], label=sample)
    tolerances = table.drop_duplicates("quantity").set_index("quantity").tolerance
    for index, quantity in enumerate(SUMMARY_QUANTITIES):
        if quantity in tolerances and np.isfinite(tolerances[quantity]):
            ax.fill_betweenx([index - 0.4, index + 0.4], -100 * tolerances[quantity], 100 * tolerances[quantity], color="0.85")
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(range(len(SUMMARY_QUANTITIES)), [name.replace("_", " ") for name in SUMMARY_QUANTITIES], fontsize=13)
    ax.set_xlabel("embedded / Delphes - 1 [%] (grey: tolerance)")
    ax.legend(fontsize=11)

    for ax, statistic, label in ((axes[0, 1], "median", "jet pT response, reco / gen"), (axes[0, 2], "resolution", "jet pT resolution")):
        for sample in samples:
            response = arrays[sample]
            central = response["response_abs_eta_low"] == 0.0
            centre = np.sqrt(response["response_pt_low_gev"] * response["response_pt_high_gev"])[central]
            for detector, style in (("embedded", "-o"), ("delphes", "--s")):
                enough = response[f"response_{detector}_n"][central] >= MIN_JETS_PER_BIN
                ax.plot(centre[enough], response[f"response_{detector}_{statistic}"][central][enough], style,
                        color=colors[sample], label=f"{sample}, {detector}")
        ax.set_xscale("log")
        ax.set_xlabel(r"generator jet $p_T$ [GeV], $|\eta| < 1.5$")
        ax.set_ylabel(label)
        ax.legend(fontsize=9, ncol=2)

    ax = axes[1, 0]
    kinds = list(CONSTITUENT_TYPES.values())
    width = 0.8 / max(len(samples), 1)
    for index, sample in enumerate(samples):
        rows = table[table["sample"] == sample].set_index("quantity")
        names = [f"leading_jet_count_{kind}" for kind in kinds]
        positions = np.arange(len(kinds)) + (index - (len(samples) - 1) / 2) * width
        ax.bar(positions, rows.loc[names, "delphes"], width, color=colors[sample], alpha=0.4)
        ax.plot(positions, rows.loc[names, "embedded"], "o", color=colors[sample], label=sample)
    ax.set_xticks(range(len(kinds)), [kind.replace("_", " ") for kind in kinds])
    ax.set_ylabel("leading-jet constituents per event\n(bars: Delphes, points: embedded)")
    ax.legend(fontsize=11)

    first = samples[0]
    extent = [-HALF_WIDTH, HALF_WIDTH, -HALF_WIDTH, HALF_WIDTH]
    mean = arrays[first]["mean_image_delphes"]
    shown = axes[1, 1].imshow(mean, origin="lower", extent=extent, norm=LogNorm(vmin=max(mean[mean > 0].min(), mean.max() * 1e-5)))
    figure.colorbar(shown, ax=axes[1, 1], label="mean pixel pT [GeV]")
    axes[1, 1].set_title(f"{first}: mean jet image, Delphes", fontsize=14)
    pull = arrays[first]["pull"]
    limit = max(3.0, float(np.abs(pull).max()))
    shown = axes[1, 2].imshow(pull, origin="lower", extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit)
    figure.colorbar(shown, ax=axes[1, 2], label="pull (embedded - Delphes) / sigma")
    axes[1, 2].set_title(f"{first}: per-pixel pull, embedded against Delphes", fontsize=14)
    aucs = table[table.quantity == "two_sample_auc"].set_index("sample").ratio
    axes[1, 0].text(0.98, 0.6, "two-sample CNN AUC\n" + "\n".join(f"{sample}: {auc:.3f}" for sample, auc in aucs.items()),
                    transform=axes[1, 0].transAxes, ha="right", va="top", fontsize=11)
    for ax in axes[1, 1:]:
        ax.set_xlabel(r"$\eta'$")
        ax.set_ylabel(r"$\phi'$")
    save(figure, output)


def chain_comparison(table: pd.DataFrame, regions, output) -> None:
    """The CWoLa study through two generator chains (workflow_scripts/studies/cwola/chain_comparison.py): M_jj shapes of
    every sample, the ratio of the chains' selection efficiencies, signal-region and sideband cross sections and SR/SB,
    and the significance curves of the first benchmark and resolution; the first chain solid, the second dashed."""
    chains = list(dict.fromkeys(table.chain))
    styles = dict(zip(chains, ("-", "--")))
    shapes = table[table.quantity == "mjj_fraction"]
    samples = list(dict.fromkeys(shapes["sample"]))
    colors = dict(zip(samples, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    figure, axes = plt.subplots(2, 2, figsize=(15, 12))
    ax = axes[0, 0]
    for (chain, sample), rows in shapes.groupby(["chain", "sample"], sort=False):
        edges = np.r_[rows.bin_low_gev.to_numpy(), rows.bin_high_gev.iloc[-1]]
        ax.stairs(rows.value.to_numpy(), edges, ls=styles[chain], color=colors[sample], lw=2, label=f"{sample_label(sample)}, {chain}")
    ax.axvspan(*regions.signal_region, color="grey", alpha=0.2)
    for low, high in regions.sidebands:
        ax.axvspan(low, high, color="gold", alpha=0.2)
    ax.set(xlabel=r"$M_{jj}$ [GeV]", ylabel="Fraction of selected events / 100 GeV")
    ax.legend(fontsize=9)

    ax = axes[0, 1]
    ratios = [("selection_efficiency", "selection efficiency"), ("sr_cross_section_fb", r"$\sigma$ in SR"),
              ("sb_cross_section_fb", r"$\sigma$ in SB"), ("sr_over_sb", "SR / SB")]
    width = 0.8 / len(ratios)
    for offset, (quantity, label) in enumerate(ratios):
        rows = table[table.quantity == quantity]
        first, second = (rows[rows.chain == chain].set_index("sample").reindex(samples) for chain in chains[:2])
        ratio = first.value / second.value
        error = ratio * np.sqrt((first.uncertainty / first.value) ** 2 + (second.uncertainty / second.value) ** 2)
        positions = np.arange(len(samples)) + (offset - (len(ratios) - 1) / 2) * width
        ax.errorbar(positions, ratio, yerr=error.fillna(0), fmt="o", capsize=3, label=label)
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xticks(range(len(samples)), [sample_label(sample) for sample in samples], fontsize=10)
    ax.set(ylabel=f"{chains[0]}\n/ {chains[-1]}")
    ax.legend(fontsize=10)

    significance = table[table.quantity == "significance_after"]
    ax = axes[1, 0]
    if len(significance):
        first = significance.iloc[0]
        shown = significance[(significance.benchmark == first.benchmark) & (significance.resolution == first.resolution)]
        efficiency_colors = dict(zip(sorted(shown.background_efficiency.unique()), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
        for (chain, efficiency), curve in shown.groupby(["chain", "background_efficiency"], sort=False):
            ax.errorbar(curve.injection, curve.value, yerr=curve.uncertainty.fillna(0), ls=styles[chain], marker="o", capsize=3,
                        color=efficiency_colors[efficiency], label=rf"{chain}, $\epsilon_b$ = {efficiency:g}")
        top = 1.1 * max(shown.injection.max(), shown.value.max())
        ax.plot([0, top], [0, top], ls=":", color="black", label="slope 1 (no classifier)")
        ax.set(xlabel=r"injected $S/\sqrt{B}$", ylabel=r"significance after the cut [$\sigma$]", xlim=(0, top), ylim=(0, top),
               title=f"{sample_label(first.benchmark)}, {int(first.resolution)}x{int(first.resolution)}")
        ax.legend(fontsize=9)

    ax = axes[1, 1]
    ax.axis("off")
    lines = []
    for quantity, label, unit in (("cross_section_pb", "cross section", "pb"), ("sr_cross_section_fb", "SR", "fb"),
                                  ("sr_over_sb", "SR/SB", "")):
        rows = table[table.quantity == quantity].pivot_table(index="sample", columns="chain", values="value", sort=False)
        for sample, values in rows.iterrows():
            lines.append(f"{sample} {label}: " + ", ".join(f"{values[chain]:.4g} {unit}".strip() for chain in chains if chain in values))
    thresholds = table[table.quantity == "injection_at_5_sigma"]
    for (benchmark, resolution, efficiency), rows in thresholds.groupby(["benchmark", "resolution", "background_efficiency"]):
        values = rows.set_index("chain").value
        lines.append(f"{benchmark} {int(resolution)}px eps_b={efficiency:g}, S/sqrt(B) at 5 sigma: "
                     + ", ".join(f"{values.get(chain, np.nan):.3g}" for chain in chains))
    ax.text(0, 1, f"solid: {chains[0]}" + (f"\ndashed: {chains[1]}" if len(chains) > 1 else "") + "\n\n" + "\n".join(lines),
            va="top", fontsize=9, family="monospace", transform=ax.transAxes)
    save(figure, output)
