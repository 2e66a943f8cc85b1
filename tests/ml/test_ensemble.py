"""Batched ensemble training: losses, gradients, independence and determinism of members."""

import dataclasses

import numpy as np
import pytest
import torch

from workflow_scripts.core.devices import resolve_device
from workflow_scripts.ml import cpu_kernel, ensemble, metrics
from workflow_scripts.studies.cohen2018_toy import toy_model


def test_losses_against_hand_computation():
    outputs = torch.tensor([[0.9, 0.2, 0.6, 0.5]])
    targets = torch.tensor([[1.0, 0.0, 0.4, 0.4]])
    bce = -(np.log(0.9) + np.log(0.8) + 0.4 * np.log(0.6) + 0.6 * np.log(0.4) + 0.4 * np.log(0.5) + 0.6 * np.log(0.5)) / 4
    assert ensemble.loss_value("bce", outputs, targets).item() == pytest.approx(bce, rel=1e-6)
    assert ensemble.loss_value("mae", outputs, targets).item() == pytest.approx((0.1 + 0.2 + 0.2 + 0.1) / 4)
    # eq. (A.2): |<f_t> - <y_p>| = |0.45 - 0.55|
    assert ensemble.loss_value("llp", outputs, targets).item() == pytest.approx(0.1)


def test_llp_loss_ignores_which_event_carries_which_output():
    targets = torch.tensor([[0.7, 0.7, 0.7]])
    first = ensemble.loss_value("llp", torch.tensor([[0.1, 0.9, 0.5]]), targets)
    second = ensemble.loss_value("llp", torch.tensor([[0.9, 0.5, 0.1]]), targets)
    assert first.item() == pytest.approx(second.item())


@pytest.mark.parametrize("loss", ensemble.LOSSES)
def test_hand_written_gradient_matches_autograd(loss):
    torch.manual_seed(0)
    members, batch, inputs, hidden = 3, 8, 4, 5
    net = ensemble.MLPEnsemble(members, inputs, hidden, dtype=torch.float64)
    net.params.normal_(0.0, 0.7)
    x = torch.randn(members, batch, inputs, dtype=torch.float64)
    targets = torch.rand(members, batch, dtype=torch.float64)
    flat = net.params.clone().requires_grad_(True)
    w1, b1, w2, b2 = net.weights(flat)
    hidden_act = torch.sigmoid(torch.baddbmm(b1.unsqueeze(1), x, w1))
    outputs = torch.sigmoid((hidden_act * w2.unsqueeze(1)).sum(-1) + b2)
    if loss == "bce":  # unclipped, as the hand gradient is the exact one
        value = -(targets * torch.log(outputs) + (1 - targets) * torch.log1p(-outputs)).mean(1)
    else:
        value = ensemble.loss_value(loss, outputs, targets)
    (autograd,) = torch.autograd.grad(value.sum(), flat)
    by_hand = ensemble.batch_gradient(loss, x, targets, *net.weights())
    torch.testing.assert_close(by_hand, autograd)


@pytest.mark.parametrize("loss", ["bce", "mae"])
def test_weighted_gradient_matches_autograd(loss):
    """Keras' sample_weight: the batch loss is the mean of weight * per-event loss."""
    torch.manual_seed(1)
    members, batch, inputs, hidden = 2, 6, 3, 4
    net = ensemble.MLPEnsemble(members, inputs, hidden, dtype=torch.float64)
    net.params.normal_(0.0, 0.7)
    x = torch.randn(members, batch, inputs, dtype=torch.float64)
    targets = torch.randint(0, 2, (members, batch)).to(torch.float64)
    event_weights = torch.rand(members, batch, dtype=torch.float64) * 5
    flat = net.params.clone().requires_grad_(True)
    w1, b1, w2, b2 = net.weights(flat)
    outputs = torch.sigmoid((torch.sigmoid(torch.baddbmm(b1.unsqueeze(1), x, w1)) * w2.unsqueeze(1)).sum(-1) + b2)
    if loss == "bce":
        per_event = -(targets * torch.log(outputs) + (1 - targets) * torch.log1p(-outputs))
    else:
        per_event = (targets - outputs).abs()
    (autograd,) = torch.autograd.grad((event_weights * per_event).mean(1).sum(), flat)
    by_hand = ensemble.batch_gradient(loss, x, targets, *net.weights(), event_weights)
    torch.testing.assert_close(by_hand, autograd)


def test_event_weights_move_the_decision():
    """Up-weighting one class makes the network call more events that class; zero weights drop events."""
    x, labels, x_test, labels_test = _toy_training_data(2000)
    settings = ensemble.TrainingSettings(epochs=5, learning_rate=0.01)
    targets = np.tile([0.0, 1.0], (1, 1))
    plain = ensemble.train_ensemble(x, labels, targets, settings, [3]).predict(x_test).numpy()[0]
    heavy_signal = ensemble.train_ensemble(x, labels, targets, settings, [3],
                                           event_weights=np.where(labels == 1, 10.0, 1.0)).predict(x_test).numpy()[0]
    assert (heavy_signal > 0.5).mean() > (plain > 0.5).mean() + 0.05
    unit = ensemble.train_ensemble(x, labels, targets, settings, [3], event_weights=np.ones(len(x))).predict(x_test).numpy()[0]
    np.testing.assert_allclose(unit, plain, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="event_weights"):
        ensemble.train_ensemble(x, labels, targets, settings, [3], event_weights=-np.ones(len(x)))
    with pytest.raises(ValueError, match="llp"):
        ensemble.train_ensemble(x, labels, targets, dataclasses.replace(settings, loss="llp"), [3], event_weights=np.ones(len(x)))


def _toy_training_data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    x, labels = toy_model.sample_mixture(n, 0.5, rng)
    x_test, labels_test = toy_model.sample_mixture(n, 0.5, rng)
    scaler = ensemble.Standardiser.fit(x)
    x, x_test = scaler.transform(x), scaler.transform(x_test)
    return x, labels.astype(np.int64), x_test, labels_test


SMALL = ensemble.TrainingSettings(epochs=2, batch_size=32)
# Both training backends; the compiled one only where it was built (tests/ml/test_cpu_kernel.py insists it is).
BACKENDS = [pytest.param("kernel", marks=pytest.mark.skipif(not cpu_kernel.available(), reason="CPU kernel not built")), "torch"]
# A larger step than Table 1's 1.5e-3 leaves the early linear plateau (AUC ~0.81) within seconds.
FAST = ensemble.TrainingSettings(epochs=20, learning_rate=0.01)


@pytest.mark.parametrize("backend", BACKENDS)
def test_member_depends_only_on_its_own_seed(backend):
    x, labels, x_test, _ = _toy_training_data(1000)
    pair = ensemble.train_ensemble(x, labels, np.tile([0.0, 1.0], (2, 1)), SMALL, [11, 12], backend=backend)
    single = ensemble.train_ensemble(x, labels, np.tile([0.0, 1.0], (1, 1)), SMALL, [12], backend=backend)
    again = ensemble.train_ensemble(x, labels, np.tile([0.0, 1.0], (2, 1)), SMALL, [11, 12], backend=backend)
    torch.testing.assert_close(pair.params[1], single.params[0])
    assert torch.equal(pair.params, again.params)
    assert not torch.allclose(pair.params[0], pair.params[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_members_follow_their_own_targets(backend):
    """Member 0 sees the true class labels, member 1 the inverted ones: it learns the flipped classifier."""
    x, labels, x_test, labels_test = _toy_training_data()
    trained = ensemble.train_ensemble(x, labels, np.array([[0.0, 1.0], [1.0, 0.0]]), FAST, [1, 2], backend=backend)
    outputs = trained.predict(x_test).numpy()
    assert metrics.auc(outputs[0], labels_test) > 0.93
    assert metrics.auc(outputs[1], labels_test) < 0.07


def test_weak_supervision_learns_from_fractions_only():
    rng = np.random.default_rng(5)
    x_a, _ = toy_model.sample_mixture(3000, 0.3, rng)
    x_b, _ = toy_model.sample_mixture(3000, 0.8, rng)
    x_test, labels_test = toy_model.sample_mixture(4000, 0.5, rng)
    scaler = ensemble.Standardiser.fit(np.r_[x_a, x_b])
    x, x_test = scaler.transform(np.r_[x_a, x_b]), scaler.transform(x_test)
    groups = np.r_[np.zeros(3000, np.int64), np.ones(3000, np.int64)]
    trained = ensemble.train_ensemble(x, groups, np.array([[0.3, 0.8]] * 2), FAST, [3, 4])
    for output in trained.predict(x_test).numpy():
        assert metrics.auc(output, labels_test) > 0.9


def test_compiled_step_matches_eager():
    x, labels, _, _ = _toy_training_data(640)
    settings = ensemble.TrainingSettings(epochs=1)
    targets = np.tile([0.0, 1.0], (4, 1))
    eager = ensemble.train_ensemble(x, labels, targets, settings, [1, 2, 3, 4], backend="torch")
    compiled = ensemble.train_ensemble(x, labels, targets, settings, [1, 2, 3, 4], backend="torch", compile_step=True)
    torch.testing.assert_close(compiled.params, eager.params, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sgd_and_partial_last_batch(backend):
    x, labels, _, _ = _toy_training_data(1000)
    settings = ensemble.TrainingSettings(optimizer="sgd", learning_rate=0.01, batch_size=64, epochs=1)
    trained = ensemble.train_ensemble(x, labels, np.tile([0.0, 1.0], (2, 1)), settings, [1, 2], backend=backend)
    assert torch.isfinite(trained.params).all()


def test_state_dict_round_trip():
    net = ensemble.MLPEnsemble(3, 3, 30)
    net.initialise([1, 2, 3])
    restored = ensemble.MLPEnsemble.from_state_dict(net.state_dict())
    x = torch.randn(10, 3)
    torch.testing.assert_close(restored.predict(x), net.predict(x))


def test_normal_initialisation():
    net = ensemble.MLPEnsemble(50, 3, 30)
    net.initialise(range(50))
    w1, b1, w2, b2 = net.weights()
    assert w1.std().item() == pytest.approx(ensemble.NORMAL_INIT_STDDEV, rel=0.05)
    assert b1.abs().max() == 0 and b2.abs().max() == 0


def test_bad_inputs_are_rejected():
    x, labels, _, _ = _toy_training_data(100)
    with pytest.raises(ValueError, match="group_targets"):
        ensemble.train_ensemble(x, labels, np.array([[0.0, 1.0]]), SMALL, [1, 2])
    with pytest.raises(ValueError, match="group indices"):
        ensemble.train_ensemble(x, labels + 5, np.array([[0.0, 1.0]]), SMALL, [1])
    with pytest.raises(ValueError, match="unknown loss"):
        ensemble.TrainingSettings(loss="mse")


def test_cuda_request_without_gpu_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="training.device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_standardiser_is_fitted_on_training_data_only():
    train = np.array([[1.0, 10.0], [3.0, 30.0]])
    scaler = ensemble.Standardiser.fit(train)
    np.testing.assert_allclose(scaler.transform(train), [[-1, -1], [1, 1]])
    np.testing.assert_allclose(scaler.transform([[5.0, 50.0]]), [[3, 3]])
    restored = ensemble.Standardiser.from_state_dict(scaler.state_dict())
    np.testing.assert_allclose(restored.transform([[5.0, 50.0]]), [[3, 3]])
    constant = ensemble.Standardiser.fit([[1.0, 2.0], [1.0, 4.0]])  # a constant feature is only centred
    np.testing.assert_allclose(constant.transform([[1.0, 3.0], [2.0, 5.0]]), [[0, 0], [1, 2]])
    with pytest.raises(ValueError, match="empty"):
        ensemble.Standardiser.fit(np.zeros((0, 2)))


def test_prediction_in_member_sized_chunks_changes_nothing(monkeypatch):
    """Prediction chunks shrink with the ensemble (600 networks on 200 000 events would otherwise hold
    14 GB of hidden activations); the outputs do not depend on the chunking."""
    net = ensemble.MLPEnsemble(6, 3, 30)
    net.initialise(range(6))
    x = torch.randn(1000, 3)
    whole = net.predict(x, chunk_size=len(x))
    monkeypatch.setattr(ensemble, "PREDICT_HIDDEN_VALUES", 6 * 30 * 7)  # 7 events per chunk
    torch.testing.assert_close(net.predict(x), whole)
