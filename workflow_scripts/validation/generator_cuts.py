"""Checks that the generation shortcuts do not bias the analysis.

The CWoLa background is generated with phase-space cuts (pT-hat, m-hat) to
save time.  They are harmless if no event that lands in the signal region or
the sidebands after the detector-level selection would have been removed by
them.  `generator_cut_check` measures that fraction on a sample generated
with looser cuts, with a 95 % upper limit when none is lost.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta

from workflow_scripts.analysis.regions import MjjRegions, in_windows
from workflow_scripts.core import files


def clopper_pearson_upper(failures: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided upper limit on a binomial fraction."""
    if trials == 0:
        return 1.0
    return float(beta.ppf(confidence, failures + 1, trials - failures)) if failures < trials else 1.0


def generator_cut_check(mjj_gev, pt_hat_gev, m_hat_gev, windows, pt_hat_min_gev, m_hat_min_gev) -> dict:
    """Fraction of selected loose-sample events in the M_jj windows that the tight generator cuts would remove."""
    inside = in_windows(mjj_gev, windows)
    removed = inside & ((np.asarray(pt_hat_gev) < pt_hat_min_gev) | (np.asarray(m_hat_gev) < m_hat_min_gev))
    n_inside, n_removed = int(inside.sum()), int(removed.sum())
    return {
        "n_in_windows": n_inside,
        "n_removed_by_tight_cuts": n_removed,
        "removed_fraction": n_removed / n_inside if n_inside else float("nan"),
        "removed_fraction_upper95": clopper_pearson_upper(n_removed, n_inside),
        "tight_pt_hat_min_gev": pt_hat_min_gev,
        "tight_m_hat_min_gev": m_hat_min_gev,
    }


def read_loose_events(paths):
    columns = ["mjj_gev", "pt_hat_gev", "m_hat_gev"]
    arrays = [files.read_awkward(path, columns=columns)[0] for path in paths]
    return {column: np.concatenate([np.asarray(array[column], dtype=float) for array in arrays]) for column in columns}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.validation.generator_cuts", description=__doc__.split("\n")[0])
    parser.add_argument("--loose-events", type=Path, nargs="+", required=True)
    parser.add_argument("--regions", required=True, help='M_jj regions as JSON: {"signal_region": [low, high], "sidebands": [...]}')
    parser.add_argument("--pt-hat-min-gev", type=float, required=True, help="the tight sample's generator cut")
    parser.add_argument("--m-hat-min-gev", type=float, required=True, help="the tight sample's generator cut")
    parser.add_argument("--output", type=Path, required=True, help="CSV with the check's numbers")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    events = read_loose_events(args.loose_events)
    windows = MjjRegions.from_json(args.regions).windows
    result = generator_cut_check(events["mjj_gev"], events["pt_hat_gev"], events["m_hat_gev"], windows,
                                 args.pt_hat_min_gev, args.m_hat_min_gev)
    files.write_csv(pd.DataFrame([result]), args.output)
    print(result, flush=True)


if __name__ == "__main__":
    main()
