"""CWoLa figures beyond the paper: SIC bands over trials, and the sculpting figure from the check's tidy tables."""

import json

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.figures import __main__ as figures
from workflow_scripts.figures import cwola
from workflow_scripts.studies.cwola import performance


def roc_rows(method, trial, background, injection=None, n_test_background=1000):
    grid = np.array([0.2, 0.5, 1.0])
    rows = pd.DataFrame({"benchmark": "hv_id_lambda10", "resolution": 25, "trial": trial, "method": method,
                         "signal_efficiency": grid, "background_efficiency": background,
                         "n_test_background": n_test_background})
    return rows if injection is None else rows.assign(injection=injection)


def test_sic_bands_take_median_and_quantiles_over_trials_and_drop_thin_background():
    rocs = pd.concat([roc_rows("cwola", trial, [0.01, 0.04, 1.0], injection=2.0) for trial in range(3)]
                     + [roc_rows("supervised", trial, [0.0004 * (trial + 1), 0.04, 1.0]) for trial in range(3)])
    rocs.loc[(rocs.method == "cwola") & (rocs.trial == 2), "background_efficiency"] = [0.04, 0.16, 1.0]
    bands = performance.sic_bands(rocs, min_background_events=25).set_index(["method", "signal_efficiency"])
    # CWoLa at eps_s = 0.5: SIC 2.5, 2.5 and 1.25 -> median 2.5
    assert bands.loc[("cwola", 0.5), "median"] == pytest.approx(2.5)
    assert bands.loc[("cwola", 0.5), "low"] < 2.5 and bands.loc[("cwola", 0.5), "injection"] == 2.0
    # Supervised at eps_s = 0.2: 0.4, 0.8 and 1.2 background events pass in 1000: too few, the point is left out
    assert ("supervised", 0.2) not in bands.index and np.isnan(bands.loc[("supervised", 0.5), "injection"])
    assert bands.loc[("supervised", 1.0), "median"] == pytest.approx(1.0)


def test_sic_and_sculpting_figures_draw_from_tidy_tables(tmp_path):
    from workflow_scripts.studies.cwola import sculpting

    rocs = pd.concat([roc_rows("cwola", trial, [0.05, 0.2, 1.0], injection=injection)
                      for trial in range(2) for injection in (0.0, 4.0)] + [roc_rows("supervised", 0, [0.03, 0.1, 1.0])])
    rocs.to_csv(tmp_path / "rocs.csv", index=False)
    rng = np.random.default_rng(2)
    mjj = rng.uniform(4400, 5800, 4000)
    region = np.where((mjj >= 4700) & (mjj < 5500), "SR", "SB")
    labels = {"method": "cwola", "benchmark": "hv_id_lambda10", "resolution": 25, "injection": 0.0, "trial": 0}
    scores = rng.random(len(mjj))
    efficiencies = sculpting.efficiency_table(scores, region, [0.1], 25_000).assign(**labels)
    histograms = sculpting.mjj_histograms(mjj, scores, region, [0.1], np.arange(4400, 5801, 100.0)).assign(**labels)
    efficiencies.to_csv(tmp_path / "efficiencies.csv", index=False)
    histograms.to_csv(tmp_path / "histograms.csv", index=False)
    figures.main(["cwola-sic", "--inputs", json.dumps({"rocs": [str(tmp_path / "rocs.csv")]}),
                  "--settings", json.dumps({"benchmark": "hv_id_lambda10", "resolution": 25}),
                  "--output", str(tmp_path / "sic.pdf")])
    regions = {"signal_region": [4700, 5500], "sidebands": [[4400, 4700], [5500, 5800]]}
    figures.main(["cwola-sculpting", "--inputs", json.dumps({"efficiencies": [str(tmp_path / "efficiencies.csv")],
                                                             "histograms": [str(tmp_path / "histograms.csv")]}),
                  "--settings", json.dumps({"regions": regions, "injection": 0}), "--output", str(tmp_path / "s.pdf")])
    for name in ("sic", "s"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="injected S/sqrt\\(B\\) = 8"):
        cwola.sculpting(efficiencies, histograms, 8.0, (4700, 5500), tmp_path / "none.pdf")
