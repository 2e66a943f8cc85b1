"""How well each CWoLa method does, from the tidy training tables: learning thresholds and significance improvement.

Learning thresholds: the injected S/sqrt(B) at which a method's cut reaches a target significance.
The CWoLa paper (Fig. 3) finds that below a few sigma injected the network cuts signal and background alike, and
the significance after the cut is even below the slope-1 line of no cut at all.  Per (method, benchmark,
resolution, background efficiency, trial) `learning_thresholds` finds where the significance after the cut first reaches
the target (5 sigma), linearly interpolated between the injections trained, and how many injections with signal
end below the slope-1 line.

Significance improvement curves (`sic_bands`): eps_s / sqrt(eps_b) along each training's test ROC, median and
68 % band over trials.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from workflow_scripts.core import files
from workflow_scripts.ml.metrics import significance_improvement

KEYS = ["method", "benchmark", "resolution", "background_efficiency", "trial"]


def crossing(injections, significances, target: float) -> float:
    """The smallest injection at which the piecewise-linear significance curve reaches `target`; NaN if it never
    does within the injections trained."""
    order = np.argsort(injections)
    x, y = np.asarray(injections, dtype=np.float64)[order], np.asarray(significances, dtype=np.float64)[order]
    above = np.flatnonzero(y >= target)
    if len(above) == 0:
        return float("nan")
    first = above[0]
    if first == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[first - 1], x[first], y[first - 1], y[first]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))


def learning_thresholds(summary: pd.DataFrame, target: float = 5.0) -> pd.DataFrame:
    missing = [column for column in [*KEYS, "injection", "significance_after", "significance_before", "test_auc"]
               if column not in summary]
    if missing:
        raise KeyError(f"the summary table lacks columns {missing}")
    rows = []
    for key, curve in summary.groupby(KEYS, sort=True):
        curve = curve.sort_values("injection")
        with_signal = curve[curve.injection > 0]
        no_signal = curve[curve.injection == 0]
        rows.append({**dict(zip(KEYS, key)), "target_significance": target,
                     "threshold_injection": crossing(curve.injection, curve.significance_after, target),
                     "injections_below_slope_one": int((with_signal.significance_after < with_signal.significance_before)
                                                       .sum()),
                     "injections_with_signal": len(with_signal),
                     "no_signal_test_auc": float(no_signal.test_auc.iloc[0]) if len(no_signal) else float("nan")})
    return pd.DataFrame(rows)


def sic_bands(rocs: pd.DataFrame, min_background_events: int) -> pd.DataFrame:
    """Median and 68 % band over trials of eps_s / sqrt(eps_b) on the stored signal-efficiency grid, per method and
    injection (NaN for the supervised baseline, which has none), where at least `min_background_events` test
    background events pass in every trial (fewer make eps_b, and the SIC, a fluctuation)."""
    rocs = rocs.assign(injection=rocs.get("injection", np.nan))
    rocs = rocs.assign(point=rocs.injection.fillna(-1.0))
    enough = rocs.background_efficiency * rocs.n_test_background >= min_background_events
    rocs["sic"] = np.where(enough, significance_improvement(rocs.signal_efficiency, rocs.background_efficiency), np.nan)
    grouped = rocs.groupby(["method", "point", "signal_efficiency"], sort=True).sic
    bands = pd.DataFrame({"median": grouped.median(), "low": grouped.quantile(0.16), "high": grouped.quantile(0.84),
                          "trials": grouped.count()}).reset_index()
    n_trials = rocs.groupby(["method", "point"]).trial.nunique().rename("n_trials")
    bands = bands.join(n_trials, on=["method", "point"])
    bands = bands[(bands.trials == bands.n_trials)].drop(columns="n_trials")
    return bands.assign(injection=bands.point.where(bands.point >= 0)).drop(columns="point")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cwola.performance",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("summaries", nargs="+", type=Path, help="summary CSVs of the methods (cwola_summary.csv, ...)")
    parser.add_argument("--target", type=float, default=5.0, help="significance after the cut, in sigma")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    summary = pd.concat([pd.read_csv(path) for path in args.summaries], ignore_index=True)
    table = learning_thresholds(summary, args.target)
    files.write_csv(table, args.output)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
