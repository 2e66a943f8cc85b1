"""Learning thresholds from a summary table: interpolated 5-sigma crossings and the slope-1 comparison."""

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.studies.cwola import performance


def summary(method, significances, injections=(0, 1, 2, 4, 8), trial=0, auc=0.7):
    return pd.DataFrame({"method": method, "benchmark": "hv", "resolution": 25, "background_efficiency": 0.01,
                         "trial": trial, "injection": injections, "significance_before": injections,
                         "significance_after": significances, "test_auc": [auc] + [0.9] * (len(injections) - 1)})


def test_crossing_is_interpolated_between_injections():
    assert performance.crossing([0, 1, 2, 4, 8], [0, 0.5, 1.0, 3.0, 13.0], 5.0) == pytest.approx(4.8)
    assert performance.crossing([8, 0, 4], [13.0, 0.0, 3.0], 5.0) == pytest.approx(4.8)  # any order
    assert np.isnan(performance.crossing([0, 1, 2], [0, 1, 2], 5.0))
    assert performance.crossing([1, 2], [6.0, 9.0], 5.0) == 1.0  # already above at the smallest injection


def test_thresholds_per_method_and_trial_and_the_slope_one_line():
    table = performance.learning_thresholds(pd.concat([
        summary("cwola", [0, 0.4, 1.2, 3.0, 13.0]),           # below slope 1 at 1, 2 and 4 sigma
        summary("supervised", [0, 4.0, 8.0, 16.0, 32.0], auc=0.95),
    ]))
    cwola, supervised = table.set_index("method").loc[["cwola", "supervised"]].itertuples()
    assert cwola.threshold_injection == pytest.approx(4.8) and cwola.injections_below_slope_one == 3
    assert cwola.injections_with_signal == 4 and cwola.no_signal_test_auc == 0.7
    assert supervised.threshold_injection == pytest.approx(1.25) and supervised.injections_below_slope_one == 0


def test_missing_columns_are_named():
    with pytest.raises(KeyError, match="test_auc"):
        performance.learning_thresholds(summary("cwola", [0, 1, 2, 3, 4]).drop(columns="test_auc"))
