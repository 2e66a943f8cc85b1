"""The CWoLa study through two generator chains side by side: this run's and a reference run's.

The papers generated with MadGraph + Pythia + Delphes; the default run uses Pythia 8 for the hard process and
the embedded fast simulation.  Both chains run the same study (the same config but for a preset such as
presets/real-stack-cwola.yaml), each in its own working directory; this stage reads both runs' files and writes
one tidy table of what the chains change, per sample and per study point:

- each sample's cross section and selection efficiency, and its cross section in the signal region and in the
  sidebands after the selection (Fig. 1's yields), with statistical uncertainties from the event weights;
- unit-normalised M_jj histograms of every sample (Fig. 1's shapes);
- the significance after the cut, mean and standard deviation over pseudo-experiments (Fig. 3's curves), and the
  injection at which it first reaches 5 sigma.

The figure (``python -m workflow_scripts.figures validation-chain-comparison``) is drawn from this table alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from workflow_scripts.analysis.regions import MjjRegions, in_windows
from workflow_scripts.analysis.weights import chunk_table, event_weights_pb, sample_cross_sections
from workflow_scripts.core.files import atomic_output, read_awkward
from workflow_scripts.studies.cwola.performance import crossing

PB_TO_FB = 1000.0
MJJ_BINS_GEV = np.linspace(3000.0, 7000.0, 41)
DISCOVERY_SIGMA = 5.0


def selected_mjj(paths) -> tuple[np.ndarray, np.ndarray]:
    """M_jj (GeV) and cross-section weight (pb) of every selected event of a sample's event files."""
    mjj = np.concatenate([np.asarray(read_awkward(path, columns=["mjj_gev"])[0]["mjj_gev"], dtype=float) for path in paths])
    return mjj, event_weights_pb(paths)


def sample_rows(sample: str, paths, regions: MjjRegions) -> list[dict]:
    """A sample's cross section, selection efficiency, SR and SB cross sections, SR/SB and M_jj shape."""
    mjj, weights = selected_mjj(paths)
    chunks = chunk_table(paths)
    generated = int(chunks.n_generated.sum())
    cross_section_pb = float(sample_cross_sections(chunks).cross_section_pb.iloc[0])
    rows = [{"quantity": "cross_section_pb", "sample": sample, "value": cross_section_pb, "uncertainty": np.nan},
            {"quantity": "selection_efficiency", "sample": sample, "value": len(mjj) / generated,
             "uncertainty": np.sqrt(len(mjj)) / generated}]
    in_region = {"sr": in_windows(mjj, [regions.signal_region]), "sb": in_windows(mjj, regions.sidebands)}
    for name, mask in in_region.items():
        rows.append({"quantity": f"{name}_cross_section_fb", "sample": sample, "value": PB_TO_FB * weights[mask].sum(),
                     "uncertainty": PB_TO_FB * np.sqrt(np.sum(weights[mask] ** 2)), "events": int(mask.sum())})
    n_sr, n_sb = int(in_region["sr"].sum()), int(in_region["sb"].sum())
    ratio = n_sr / n_sb if n_sb else np.nan
    rows.append({"quantity": "sr_over_sb", "sample": sample, "value": ratio,
                 "uncertainty": ratio * np.sqrt(1 / max(n_sr, 1) + 1 / max(n_sb, 1)) if n_sb else np.nan})
    counts, _ = np.histogram(mjj, bins=MJJ_BINS_GEV)
    total = max(counts.sum(), 1)
    rows += [{"quantity": "mjj_fraction", "sample": sample, "bin_low_gev": low, "bin_high_gev": high,
              "value": count / total, "uncertainty": np.sqrt(count) / total, "events": int(count)}
             for low, high, count in zip(MJJ_BINS_GEV[:-1], MJJ_BINS_GEV[1:], counts)]
    return rows


def significance_rows(summary: pd.DataFrame) -> list[dict]:
    """Fig. 3's curves: mean and standard deviation over trials per point, and the 5 sigma threshold of each curve."""
    keys = ["benchmark", "resolution", "background_efficiency"]
    rows = []
    for key, curve in summary.groupby(keys):
        points = curve.groupby("injection").significance_after.agg(["mean", "std", "size"]).reset_index()
        identity = dict(zip(keys, key))
        rows += [identity | {"quantity": "significance_after", "injection": point["injection"], "value": point["mean"],
                             "uncertainty": point["std"], "events": int(point["size"])} for point in points.to_dict("records")]
        rows.append(identity | {"quantity": "injection_at_5_sigma", "value": crossing(points.injection, points["mean"],
                                                                                     DISCOVERY_SIGMA), "uncertainty": np.nan})
    return rows


def chain_rows(samples: dict[str, list], summary: pd.DataFrame, regions: MjjRegions) -> list[dict]:
    return [row for sample, paths in samples.items() for row in sample_rows(sample, paths, regions)] + significance_rows(summary)


def comparison_table(chains: dict[str, tuple[dict[str, list], pd.DataFrame]], regions: MjjRegions) -> pd.DataFrame:
    """Every chain's rows ({label: (sample -> event files, CWoLa summary)}), one tidy table with a `chain` column."""
    frames = [pd.DataFrame(chain_rows(samples, summary, regions)).assign(chain=label)
              for label, (samples, summary) in chains.items()]
    columns = ["chain", "quantity", "sample", "benchmark", "resolution", "background_efficiency", "injection",
               "bin_low_gev", "bin_high_gev", "value", "uncertainty", "events"]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cwola.chain_comparison",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--chains", required=True,
                        help='JSON {label: {"samples": {sample: [event file, ...]}, "summary": cwola_summary.csv}}, '
                             "this run's chain first")
    parser.add_argument("--regions", required=True, help="the M_jj regions as JSON (signal_region, sidebands)")
    parser.add_argument("--output", type=Path, required=True, help="the tidy comparison table (CSV)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    chains = {}
    for label, entry in json.loads(args.chains).items():
        missing = [path for paths in entry["samples"].values() for path in paths if not Path(path).is_file()]
        missing += [] if Path(entry["summary"]).is_file() else [entry["summary"]]
        if missing:
            sys.exit(f"error: chain {label!r} lacks {len(missing)} input files, the first {missing[0]} "
                     "(config key chain_comparison.reference: a working directory where the same study has run)")
        chains[label] = (entry["samples"], pd.read_csv(entry["summary"]))
    table = comparison_table(chains, MjjRegions.from_json(args.regions))
    with atomic_output(args.output) as temporary:
        table.to_csv(temporary, index=False)


if __name__ == "__main__":
    main()
