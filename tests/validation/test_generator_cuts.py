"""The generator-cut check on hand-made numbers."""

import numpy as np
import pytest

from workflow_scripts.validation.generator_cuts import clopper_pearson_upper, generator_cut_check


def test_events_outside_windows_do_not_count():
    mjj = np.array([4500, 5000, 5600, 3500, 6500])
    pt_hat = np.array([800, 650, 900, 300, 300])
    m_hat = np.array([4600, 5000, 5500, 3600, 6000])
    result = generator_cut_check(mjj, pt_hat, m_hat, [[4400, 4700], [4700, 5500], [5500, 5800]], 700, 3000)
    assert result["n_in_windows"] == 3
    assert result["n_removed_by_tight_cuts"] == 1  # the M_jj = 5000 event has pT-hat 650 < 700
    assert result["removed_fraction"] == pytest.approx(1 / 3)


def test_upper_limit_without_failures_is_the_rule_of_three():
    assert clopper_pearson_upper(0, 1000) == pytest.approx(3.0 / 1000, rel=0.01)
    assert clopper_pearson_upper(0, 0) == 1.0
    assert clopper_pearson_upper(5, 100) > 0.05
