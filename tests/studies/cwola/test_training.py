"""The significance of eq. (3.1) after cuts at fixed background efficiency."""



import numpy as np
import pytest

from workflow_scripts.ml import metrics
from workflow_scripts.studies.cwola.training import significance_table


def test_significance_after_cut_uses_signal_efficiency_at_fixed_background_efficiency():
    scores = np.r_[np.linspace(0.5, 1.0, 100), np.linspace(0.0, 0.6, 100)]
    truth = np.r_[np.ones(100), np.zeros(100)]
    table = significance_table(scores, truth, n_signal_sr=100, n_background_sr=10_000, background_efficiencies=[0.01, 0.1])
    # At eps_b = 1 % the cut sits on the highest background score, 0.6: signal above it is (1 - 0.6) / 0.5 = 81 %.
    assert table.signal_efficiency.tolist() == pytest.approx([0.81, 0.92])
    assert table.significance_after[0] == pytest.approx(metrics.discovery_significance(81, 100))
    assert table.significance_before[0] == pytest.approx(metrics.discovery_significance(100, 10_000))
