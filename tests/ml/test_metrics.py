import math

import numpy as np
import pytest

from workflow_scripts.ml import metrics


def test_auc_hand_values():
    labels = np.array([0, 0, 1, 1])
    assert metrics.auc([0.1, 0.2, 0.8, 0.9], labels) == pytest.approx(1.0)
    assert metrics.auc([0.9, 0.8, 0.2, 0.1], labels) == pytest.approx(0.0)
    # signal 0.35 beats background 0.1 but loses to 0.4; signal 0.8 beats both: 3 of 4 pairs.
    assert metrics.auc([0.1, 0.4, 0.35, 0.8], labels) == pytest.approx(0.75)
    # Ties count half.
    assert metrics.auc([0.5, 0.5, 0.5, 0.5], labels) == pytest.approx(0.5)


def test_auc_equals_mann_whitney_probability():
    rng = np.random.default_rng(0)
    signal, background = rng.normal(1, 1, 300), rng.normal(0, 1, 400)
    expected = np.mean(signal[:, None] > background[None, :])
    scores = np.r_[signal, background]
    labels = np.r_[np.ones(300), np.zeros(400)]
    assert metrics.auc(scores, labels) == pytest.approx(expected, abs=1e-12)


def test_efficiencies_at_working_points():
    # 10 signal at scores 10..19, 10 background at 0..9 plus one background above all signal.
    scores = np.r_[np.arange(10, 20), np.arange(0, 10), 100]
    labels = np.r_[np.ones(10), np.zeros(11)]
    assert metrics.background_efficiency_at(scores, labels, 0.5) == pytest.approx(1 / 11)
    assert metrics.signal_efficiency_at(scores, labels, 1 / 11) == pytest.approx(1.0)


def test_roc_rejects_single_class():
    with pytest.raises(ValueError, match="both signal"):
        metrics.auc([0.1, 0.2], [1, 1])


def test_significance_formula_against_hand_values():
    # sqrt(2 * (110 ln 1.1 - 10)) = sqrt(2 * 0.4841198) = 0.9839916
    assert metrics.discovery_significance(10, 100) == pytest.approx(0.9839916, abs=1e-7)
    assert metrics.discovery_significance(50, 50) == pytest.approx(math.sqrt(2 * (100 * math.log(2) - 50)))
    assert metrics.discovery_significance(3, 1e6) == pytest.approx(3 / math.sqrt(1e6), rel=1e-5)  # s << b
    assert metrics.discovery_significance(0, 10) == 0.0
    with pytest.raises(ValueError):
        metrics.discovery_significance(1, 0)
