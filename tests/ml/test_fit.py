"""Fitting one network: it learns, it repeats, early stopping restores the best epoch, mixed precision runs."""


import math

import numpy as np
import pytest
import torch

from workflow_scripts.ml import metrics
from workflow_scripts.ml.fit import FitSettings, fit, predict
from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, product_bce

SMALL = CNNSettings(filters=(4, 4), kernels=(3, 3), pool_after=(True, True), dense=(8,))


def test_cnn_learns_two_prong_jets_and_fit_is_deterministic(toy_data):
    rng = np.random.default_rng(0)
    train_x, train_y = toy_data(rng)
    validation_x, validation_y = toy_data(rng, 200)
    settings = FitSettings(learning_rate=3e-3, batch_size=100, patience=3, max_epochs=8)
    states = []
    for _ in range(2):
        torch.manual_seed(4)
        model = JetPairClassifier(16, SMALL)
        result = fit(model, train_x, train_y, validation_x, validation_y, settings, seed=4, log=lambda line: None)
        states.append(model.state_dict())
    for name in states[0]:
        torch.testing.assert_close(states[0][name], states[1][name], rtol=0, atol=0)
    scores = predict(model, validation_x).numpy()
    assert metrics.auc(scores, validation_y.numpy()) > 0.95
    assert result.best_validation_loss < math.log(2)


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    rng = np.random.default_rng(1)
    # Random labels: the network can only overfit, so the validation loss soon rises.
    train_x = torch.from_numpy(rng.normal(size=(200, 2, 16, 16)).astype(np.float32))
    train_y = torch.from_numpy(rng.integers(0, 2, 200).astype(np.float32))
    validation_x = torch.from_numpy(rng.normal(size=(200, 2, 16, 16)).astype(np.float32))
    validation_y = torch.from_numpy(rng.integers(0, 2, 200).astype(np.float32))
    torch.manual_seed(0)
    model = JetPairClassifier(16, SMALL)
    settings = FitSettings(learning_rate=1e-2, batch_size=50, patience=3, max_epochs=40)
    result = fit(model, train_x, train_y, validation_x, validation_y, settings, seed=0, log=lambda line: None)
    history = result.history
    assert result.best_epoch == int(history.validation_loss.idxmin())
    assert result.epochs_run == result.best_epoch + settings.patience + 1 < settings.max_epochs
    restored = float(product_bce(predict(model, validation_x), validation_y))
    assert restored == pytest.approx(result.best_validation_loss, rel=1e-6)
    assert restored < history.validation_loss.iloc[-1]


def test_mixed_precision_path_runs_on_cpu(toy_data):
    rng = np.random.default_rng(2)
    x, y = toy_data(rng, 100)
    torch.manual_seed(0)
    model = JetPairClassifier(16, SMALL)
    settings = FitSettings(learning_rate=1e-3, batch_size=50, patience=1, max_epochs=2, mixed_precision=True)
    result = fit(model, x, y, x, y, settings, seed=0, log=lambda line: None)
    assert np.isfinite(result.history.validation_loss).all()
    mixed = predict(model, x, mixed_precision=True)
    assert mixed.dtype == torch.float32  # scores come back in float32 ...
    assert not torch.equal(mixed, predict(model, x))  # ... but were computed in bfloat16
    torch.testing.assert_close(mixed, predict(model, x), atol=0.05, rtol=0)


def test_unit_intensity_images_are_normalised_alike_in_training_and_evaluation(toy_data):
    """Pixel values of ~10^-3 (images divided by their pT): after a few dozen steps the batch norms' running
    statistics must already be the data's, or evaluation sees images far fainter than training did."""
    from workflow_scripts.analysis.images import unit_intensity

    rng = np.random.default_rng(3)
    train_x, train_y = toy_data(rng)
    validation_x, validation_y = toy_data(rng, 200)
    train_x, validation_x = (torch.from_numpy(unit_intensity(x.numpy())) for x in (train_x, validation_x))
    torch.manual_seed(5)
    model = JetPairClassifier(16, SMALL)
    settings = FitSettings(learning_rate=3e-3, batch_size=100, patience=3, max_epochs=6)  # 48 steps
    result = fit(model, train_x, train_y, validation_x, validation_y, settings, seed=5, log=lambda line: None)
    for jet, norm in enumerate(model.jet_norms):
        assert float(norm.running_mean) == pytest.approx(float(train_x[:, jet].mean()), rel=1e-4)
        assert float(norm.running_var) == pytest.approx(float(train_x[:, jet].var()), rel=0.02)
    assert result.best_validation_loss < math.log(2)
    assert metrics.auc(predict(model, validation_x).numpy(), validation_y.numpy()) > 0.95
    evaluation_loss = float(product_bce(predict(model, train_x), train_y))
    assert evaluation_loss == pytest.approx(result.history.train_loss.iloc[result.best_epoch], abs=0.1)
