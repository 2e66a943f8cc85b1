"""Does cutting on a CWoLa network sculpt the background's M_jj?

A bump hunt after the cut estimates the signal region's background from the sidebands.  A network trained on
signal region against sidebands learns whatever tells them apart, the background's own SR/SB difference included;
if it does, background passes the cut more often in the SR than in the SB and the cut alone makes a bump.

Per trained network: background events it never saw (every window event of the background sample outside its
training set), the cut that keeps a fraction eps of the held-out SB background, and then the fraction of the
held-out SR background that passes.  Their ratio is 1 for a cut that does not sculpt.  At the pseudo-experiment's
luminosity (B background events in the SR) a ratio r fakes an excess of (r - 1) eps B events over the
sideband expectation eps B: a spurious significance of (r - 1) sqrt(eps B).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from workflow_scripts.core import files
from workflow_scripts.ml import metrics

# A ratio further than this many standard errors from 1 counts as sculpted.
SCULPTING_STANDARD_ERRORS = 3.0


def held_out_rows(background_table: pd.DataFrame, dataset: pd.DataFrame) -> np.ndarray:
    """Rows of the background window table a pseudo-experiment never trained or validated on."""
    unused = np.ones(len(background_table), dtype=bool)
    unused[dataset.image_row[dataset.source == "background"].to_numpy()] = False
    return np.flatnonzero(unused)


def sideband_cut(scores, region, background_efficiency: float) -> float:
    """The tightest cut `score >= c` keeping at least `background_efficiency` of the SB background."""
    sideband = np.asarray(scores)[np.asarray(region) == "SB"]
    return metrics.threshold_keeping(sideband, np.ones(len(sideband)), background_efficiency)


def efficiency_table(scores, region, background_efficiencies, background_sr_events: int) -> pd.DataFrame:
    """SR and SB background efficiencies of cuts set on the SB, their ratio and the spurious significance."""
    scores, region = np.asarray(scores, dtype=np.float64), np.asarray(region)
    in_sr, in_sb = region == "SR", region == "SB"
    n_sr, n_sb = int(in_sr.sum()), int(in_sb.sum())
    if n_sr == 0 or n_sb == 0:
        raise ValueError(f"the sculpting check needs held-out background in both SR and SB, got {n_sr} and {n_sb}")
    rows = []
    for efficiency in background_efficiencies:
        cut = sideband_cut(scores, region, efficiency)
        n_sr_pass, n_sb_pass = int((scores[in_sr] >= cut).sum()), int((scores[in_sb] >= cut).sum())
        sr_efficiency, sb_efficiency = n_sr_pass / n_sr, n_sb_pass / n_sb
        ratio = sr_efficiency / sb_efficiency
        # Binomial errors of both efficiencies, propagated to the ratio.
        ratio_error = ratio * np.sqrt((1 - sr_efficiency) / max(n_sr_pass, 1) + (1 - sb_efficiency) / n_sb_pass)
        expected = sb_efficiency * background_sr_events
        rows.append({"background_efficiency": efficiency, "cut": cut, "n_sr": n_sr, "n_sb": n_sb,
                     "n_sr_pass": n_sr_pass, "n_sb_pass": n_sb_pass, "sr_efficiency": sr_efficiency,
                     "sb_efficiency": sb_efficiency, "sr_over_sb": ratio, "sr_over_sb_error": ratio_error,
                     "spurious_significance": (ratio - 1) * np.sqrt(expected),
                     "spurious_significance_error": ratio_error * np.sqrt(expected),
                     "sculpts": bool(abs(ratio - 1) > SCULPTING_STANDARD_ERRORS * ratio_error)})
    return pd.DataFrame(rows)


def mjj_histograms(mjj, scores, region, background_efficiencies, bins) -> pd.DataFrame:
    """Held-out background in M_jj bins: all of it, and what passes each SB-set cut."""
    mjj, scores = np.asarray(mjj, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    n_all, _ = np.histogram(mjj, bins=bins)
    parts = []
    for efficiency in background_efficiencies:
        n_pass, _ = np.histogram(mjj[scores >= sideband_cut(scores, region, efficiency)], bins=bins)
        parts.append(pd.DataFrame({"background_efficiency": efficiency, "mjj_low_gev": bins[:-1], "mjj_high_gev": bins[1:],
                                   "n_all": n_all, "n_pass": n_pass}))
    return pd.concat(parts, ignore_index=True)


def check_models(experiments, background_windows, background_images, background_efficiencies, bins,
                 unit_intensity: bool, method: str, device: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The efficiency table and M_jj histograms of every trained network in `experiments` (dataset, model,
    identifiers), each on the background it never saw."""
    from workflow_scripts.core.devices import resolve_device
    from workflow_scripts.ml.fit import predict, to_device
    from workflow_scripts.ml.models import load_model
    from workflow_scripts.studies.cwola.training import gather_images

    table, _ = files.read_table(background_windows)
    torch_device = resolve_device(device)
    efficiencies, histograms = [], []
    for experiment in experiments:
        dataset, meta = files.read_table(experiment["dataset"])
        rows = held_out_rows(table, dataset)
        held_out = pd.DataFrame({"source": "background", "image_row": rows})
        model, _ = load_model(experiment["model"], torch_device)
        images = to_device(gather_images(held_out, {"background": background_images}, unit_intensity), torch_device)
        scores = predict(model, images).cpu().numpy()
        region, mjj = table.region.to_numpy()[rows], table.mjj_gev.to_numpy()[rows]
        labels = {"method": method, **experiment["identifiers"]}
        efficiencies.append(_labelled(efficiency_table(scores, region, background_efficiencies,
                                                       meta["counts"]["background_SR"]), labels))
        histograms.append(_labelled(mjj_histograms(mjj, scores, region, background_efficiencies, bins), labels))
    return pd.concat(efficiencies, ignore_index=True), pd.concat(histograms, ignore_index=True)


def _labelled(frame: pd.DataFrame, labels: dict) -> pd.DataFrame:
    for column, value in reversed(list(labels.items())):
        frame.insert(0, column, value)
    return frame


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cwola.sculpting",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--background-windows", type=Path, required=True)
    parser.add_argument("--background-images", type=Path, required=True)
    parser.add_argument("--experiments", required=True,
                        help="JSON list: dataset, model and identifiers of every network to check")
    parser.add_argument("--settings", required=True,
                        help="JSON: method, background_efficiencies, mjj_bins_gev (bin edges), unit_intensity, device")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--efficiencies", type=Path, required=True, help="CSV: one row per network and cut")
    parser.add_argument("--histograms", type=Path, required=True, help="CSV: held-out background in M_jj bins per cut")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from workflow_scripts.core.devices import set_cpu_threads

    settings = json.loads(args.settings)
    set_cpu_threads(args.threads)
    efficiencies, histograms = check_models(json.loads(args.experiments), args.background_windows,
                                            args.background_images, settings["background_efficiencies"],
                                            np.asarray(settings["mjj_bins_gev"], dtype=np.float64),
                                            settings["unit_intensity"], settings["method"], settings.get("device", "auto"))
    files.write_csv(efficiencies, args.efficiencies)
    files.write_csv(histograms, args.histograms)
    print(efficiencies.to_string(index=False))


if __name__ == "__main__":
    main()
