"""The toy model of section 3: generator moments, dataset layout, the Bayes-optimal classifier."""

import numpy as np
import pytest
from scipy.integrate import quad

from workflow_scripts.ml import metrics
from workflow_scripts.studies.cohen2018_toy import toy_model


def mixture_moments(label, feature):
    mu1, s1, mu2, s2 = toy_model.TABLE2_MODES[label][feature]
    mean = 0.5 * (mu1 + mu2)
    variance = 0.5 * (s1**2 + mu1**2) + 0.5 * (s2**2 + mu2**2) - mean**2
    return mean, variance


@pytest.mark.parametrize("label", [0, 1])
def test_generator_moments_match_table2(label):
    n = 400_000
    x = toy_model.sample_class(n, label, np.random.default_rng(3))
    for column, feature in enumerate(toy_model.FEATURES):
        mean, variance = mixture_moments(label, feature)
        assert x[:, column].mean() == pytest.approx(mean, abs=5 * np.sqrt(variance / n))
        assert x[:, column].var() == pytest.approx(variance, rel=0.02)


def test_features_are_independent_with_equal_mode_weights():
    x = toy_model.sample_class(200_000, 1, np.random.default_rng(4))
    assert abs(np.corrcoef(x.T)[0, 1]) < 0.01
    # x1 of class 1: modes at 26 and 5 with widths 8 and 4: half the events lie below the midpoint ~13.
    assert np.mean(x[:, 0] < 14.0) == pytest.approx(0.5, abs=0.03)


def test_datasets_have_exact_fractions_and_requested_sizes():
    table = toy_model.make_toy_datasets(1000, 0.4, 0.7, 500, 0.55, 0.2, seed=1)
    assert len(table) == 2500
    per_set = table[table["dataset"] != "test"].groupby("dataset", observed=True)["label"].agg(["mean", "size"])
    assert per_set.loc["A", "mean"] == pytest.approx(0.4)
    assert per_set.loc["B", "mean"] == pytest.approx(0.7)
    assert (per_set["size"] == 1000).all()
    assert (table["split"] == "val").sum() == 400
    assert table.loc[table["split"] == "test", "label"].mean() == pytest.approx(0.55)


def test_same_seed_same_table_different_seed_different_table():
    first = toy_model.make_toy_datasets(200, 0.4, 0.7, 100, 0.55, 0.2, seed=7)
    assert first.equals(toy_model.make_toy_datasets(200, 0.4, 0.7, 100, 0.55, 0.2, seed=7))
    assert not first.equals(toy_model.make_toy_datasets(200, 0.4, 0.7, 100, 0.55, 0.2, seed=8))


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("column", [0, 1, 2])
def test_feature_density_is_normalised(label, column):
    feature = toy_model.FEATURES[column]

    def density(value):
        x = np.zeros((1, 3))
        x[0, column] = value
        # log_density of the other features at 0 is a constant: divide it out.
        others = [c for c in range(3) if c != column]
        return np.exp(toy_model.log_density(x, label)[0] - sum(_single_log_density(label, c, 0.0) for c in others))

    mu1, s1, mu2, s2 = toy_model.TABLE2_MODES[label][feature]
    low, high = min(mu1 - 10 * s1, mu2 - 10 * s2), max(mu1 + 10 * s1, mu2 + 10 * s2)
    assert quad(density, low, high, points=[mu1, mu2], limit=200)[0] == pytest.approx(1.0, rel=1e-6)


def _single_log_density(label, column, value):
    mu1, s1, mu2, s2 = toy_model.TABLE2_MODES[label][toy_model.FEATURES[column]]
    gauss = lambda mu, s: np.exp(-0.5 * ((value - mu) / s) ** 2) / (s * np.sqrt(2 * np.pi))  # noqa: E731
    return np.log(0.5 * gauss(mu1, s1) + 0.5 * gauss(mu2, s2))


def test_bayes_optimal_auc_of_the_toy_model():
    rng = np.random.default_rng(11)
    x, labels = toy_model.sample_mixture(400_000, 0.5, rng)
    optimal = metrics.auc(toy_model.bayes_log_likelihood_ratio(x), labels)
    # The paper's networks reach 0.977 (full) and 0.973 (weak); nothing can beat the likelihood ratio.
    assert 0.976 < optimal < 0.982
    for column in range(3):
        assert metrics.auc(x[:, column], labels) < optimal - 0.05 or metrics.auc(-x[:, column], labels) < optimal - 0.05
