"""The toy model of Cohen, Freytsis and Ostdiek (JHEP 2018), section 3.

Three independent features, each a two-mode Gaussian mixture with equal
weights (eq. 3.1); the modes of each class are listed in Table 2.  Because
the densities are known, the Bayes-optimal classifier (the likelihood ratio)
is available in closed form and bounds what any network can reach.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import norm

FEATURES = ("x1", "x2", "x3")

# Table 2: (mu1, sigma1, mu2, sigma2) of the two modes, per class and feature.
TABLE2_MODES = {
    1: {"x1": (26.0, 8.0, 5.0, 4.0), "x2": (0.09, 0.04, -0.01, 0.03), "x3": (0.45, 0.04, 0.08, 0.05)},
    0: {"x1": (18.0, 7.0, 38.0, 9.0), "x2": (-0.06, 0.04, 0.15, 0.03), "x3": (0.23, 0.05, 0.04, 0.08)},
}


def sample_class(n_events: int, label: int, rng: np.random.Generator) -> np.ndarray:
    """(n_events, 3) features of one class; each feature picks its mode independently."""
    modes = TABLE2_MODES[label]
    columns = []
    for feature in FEATURES:
        mu1, sigma1, mu2, sigma2 = modes[feature]
        first_mode = rng.random(n_events) < 0.5
        columns.append(np.where(first_mode, rng.normal(mu1, sigma1, n_events), rng.normal(mu2, sigma2, n_events)))
    return np.stack(columns, axis=1)


def sample_mixture(n_events: int, signal_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dataset whose class-1 fraction is exactly round(signal_fraction * n_events), shuffled."""
    if not 0.0 <= signal_fraction <= 1.0:
        raise ValueError(f"signal fraction must lie in [0, 1], got {signal_fraction}")
    n_signal = int(round(signal_fraction * n_events))
    x = np.concatenate([sample_class(n_signal, 1, rng), sample_class(n_events - n_signal, 0, rng)])
    labels = np.concatenate([np.ones(n_signal, np.int8), np.zeros(n_events - n_signal, np.int8)])
    order = rng.permutation(n_events)
    return x[order], labels[order]


def make_toy_datasets(
    n_per_set: int,
    fraction_a: float,
    fraction_b: float,
    n_test: int,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
) -> pd.DataFrame:
    """The section-3 setup as one table.

    Two training datasets A and B (n_per_set events each at class-1 fractions
    fraction_a and fraction_b) are combined and shuffled, and
    validation_fraction of the combined sample is set aside; the test set has
    n_test events at test_fraction.  Columns: x1, x2, x3, label (truth),
    dataset ("A", "B" or "test") and split ("train", "val" or "test").
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation fraction must lie in [0, 1), got {validation_fraction}")
    rng = np.random.default_rng(seed)
    x_a, y_a = sample_mixture(n_per_set, fraction_a, rng)
    x_b, y_b = sample_mixture(n_per_set, fraction_b, rng)
    x_train = np.concatenate([x_a, x_b])
    y_train = np.concatenate([y_a, y_b])
    dataset = np.array(["A"] * n_per_set + ["B"] * n_per_set)
    order = rng.permutation(len(x_train))
    x_train, y_train, dataset = x_train[order], y_train[order], dataset[order]
    n_val = int(round(validation_fraction * len(x_train)))
    split = np.array(["val"] * n_val + ["train"] * (len(x_train) - n_val))

    x_test, y_test = sample_mixture(n_test, test_fraction, rng)
    table = pd.DataFrame(np.concatenate([x_train, x_test]).astype(np.float32), columns=list(FEATURES))
    table["label"] = np.concatenate([y_train, y_test])
    table["dataset"] = pd.Categorical(np.concatenate([dataset, ["test"] * n_test]), categories=["A", "B", "test"])
    table["split"] = pd.Categorical(np.concatenate([split, ["test"] * n_test]), categories=["train", "val", "test"])
    return table


def log_density(x: np.ndarray, label: int) -> np.ndarray:
    """log p(x | class) for features x (N, 3): product of the per-feature mixtures."""
    total = np.zeros(len(x))
    for column, feature in enumerate(FEATURES):
        mu1, sigma1, mu2, sigma2 = TABLE2_MODES[label][feature]
        modes = np.stack([norm.logpdf(x[:, column], mu1, sigma1), norm.logpdf(x[:, column], mu2, sigma2)])
        total += logsumexp(modes, axis=0) + np.log(0.5)
    return total


def bayes_log_likelihood_ratio(x: np.ndarray) -> np.ndarray:
    """log p(x|1) - log p(x|0): the optimal classifier score (any monotonic map of it ranks equally)."""
    x = np.asarray(x, dtype=np.float64)
    return log_density(x, 1) - log_density(x, 0)
