"""The compiled CPU kernel against the torch training step it replaces on the CPU."""

import dataclasses

import numpy as np
import pytest
import torch

from workflow_scripts.ml import cpu_kernel, ensemble, metrics
from workflow_scripts.studies.cohen2018_toy import toy_model


def test_kernel_is_built():
    """The guard: the kernel is optional at install time, but a test run must say when it is missing."""
    assert cpu_kernel.available(), (
        "workflow_scripts/ml/_mlp_kernel*.so is missing or stale: `pip install -e .` compiles it and needs a C compiler on PATH"
    )


needs_kernel = pytest.mark.skipif(not cpu_kernel.available(), reason="the CPU kernel is not built (see test_kernel_is_built)")


def _data(n_events, n_inputs, n_groups, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n_events, n_inputs)) * scale).astype(np.float32)
    groups = rng.integers(0, n_groups, n_events)
    return x, groups, rng


def _train_both(x, groups, targets, settings, seeds, event_weights=None):
    kernel = ensemble.train_ensemble(x, groups, targets, settings, seeds, backend="kernel", event_weights=event_weights)
    reference = ensemble.train_ensemble(x, groups, targets, settings, seeds, backend="torch", event_weights=event_weights)
    return kernel.params, reference.params


@needs_kernel
@pytest.mark.parametrize("loss", ensemble.LOSSES)
@pytest.mark.parametrize("optimizer", ensemble.OPTIMIZERS)
def test_kernel_trains_the_same_networks_as_the_torch_step(loss, optimizer):
    """Same initialisation and shuffles: after two epochs (with a short last batch) the parameters agree
    up to float rounding; a wrong gradient term or a poor exp would show at the 1e-3 level."""
    x, groups, rng = _data(500, 3, 4)
    targets = rng.uniform(size=(3, 4)).astype(np.float32)
    learning_rate = 0.01 if optimizer == "adam" else 0.5
    settings = ensemble.TrainingSettings(loss=loss, optimizer=optimizer, learning_rate=learning_rate, epochs=2)
    kernel, reference = _train_both(x, groups, targets, settings, [1, 2, 3])
    initial = ensemble.MLPEnsemble(3, 3, 30)
    initial.initialise([1, 2, 3])
    moved = (reference - initial.params).abs().max().item()
    assert moved > 1e-2, "training did not move the parameters: the comparison would be empty"
    torch.testing.assert_close(kernel, reference, rtol=1e-4, atol=2e-5)


@needs_kernel
@pytest.mark.parametrize("loss", ["bce", "mae"])
def test_kernel_event_weights_match_the_torch_step(loss):
    x, groups, rng = _data(300, 3, 2)
    weights = rng.uniform(0.0, 4.0, size=len(x)).astype(np.float32)
    weights[:50] = 0.0
    settings = ensemble.TrainingSettings(loss=loss, learning_rate=0.01, epochs=2)
    kernel, reference = _train_both(x, groups, np.array([[0.0, 1.0], [0.2, 0.9]]), settings, [5, 6], weights)
    torch.testing.assert_close(kernel, reference, rtol=1e-4, atol=2e-5)


@needs_kernel
@pytest.mark.parametrize(("batch_size", "n_inputs", "n_hidden"),
                         [(8, 11, 7), (50, 2, 30), (100, 5, 17), (64, 11, 30), (1_000_000, 3, 30)])
def test_kernel_matches_at_other_shapes(batch_size, n_inputs, n_hidden):
    """Batch widths off the specialised 32 and 64 (padded lanes), other input and hidden sizes (the LHC
    study has 11 inputs and batches of 64, its combiner 2 inputs), and a batch larger than the sample
    (one full batch per epoch; the kernel sizes its scratch by the events, not by the batch size)."""
    x, groups, rng = _data(430, n_inputs, 2, seed=batch_size)
    settings = ensemble.TrainingSettings(n_hidden=n_hidden, batch_size=batch_size, learning_rate=0.01, epochs=2)
    kernel, reference = _train_both(x, groups, np.array([[0.0, 1.0]] * 2), settings, [7, 8])
    torch.testing.assert_close(kernel, reference, rtol=1e-4, atol=2e-5)


@needs_kernel
def test_kernel_saturated_sigmoids_stay_finite():
    """Inputs of size ~3000 push hidden pre-activations past the kernel's exp clamp (|a| > 87).

    There h * (1 - h) is a float32 cancellation (1 - h is 0 or one ulp) in both implementations, so the
    parameters need not agree closely; the networks' outputs still must.
    """
    x, groups, _ = _data(256, 3, 2, scale=3000.0)
    settings = ensemble.TrainingSettings(learning_rate=0.01, epochs=1)
    initial = ensemble.MLPEnsemble(1, 3, 30)
    initial.initialise([9])
    pre_activations = torch.as_tensor(x) @ initial.weights()[0][0]
    assert (pre_activations.abs() > 87).float().mean() > 0.3
    targets = np.array([[0.0, 1.0]])
    kernel = ensemble.train_ensemble(x, groups, targets, settings, [9], backend="kernel")
    reference = ensemble.train_ensemble(x, groups, targets, settings, [9], backend="torch")
    assert torch.isfinite(kernel.params).all()
    torch.testing.assert_close(kernel.predict(x), reference.predict(x), rtol=0.0, atol=0.05)


@needs_kernel
def test_threads_split_members_without_changing_them():
    x, groups, rng = _data(400, 3, 4)
    targets = rng.uniform(size=(5, 4)).astype(np.float32)
    settings = ensemble.TrainingSettings(epochs=1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ensemble.train_ensemble(x, groups, targets, settings, list(range(5)), backend="kernel")
        torch.set_num_threads(2)
        two = ensemble.train_ensemble(x, groups, targets, settings, list(range(5)), backend="kernel")
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one.params, two.params)


@needs_kernel
def test_kernel_learns_the_toy_model():
    """Physics, not only agreement: weak supervision (labels 0.4 and 0.7, as the paper) with the kernel comes
    within 0.02 of the Bayes-optimal AUC on 2 x 8000 events (the paper: 0.973 against 0.979 on 2 x 200 000)."""
    rng = np.random.default_rng(3)
    x_a, _ = toy_model.sample_mixture(8000, 0.4, rng)
    x_b, _ = toy_model.sample_mixture(8000, 0.7, rng)
    x_test, labels_test = toy_model.sample_mixture(20000, 0.55, rng)
    scaler = ensemble.Standardiser.fit(np.r_[x_a, x_b])
    groups = np.r_[np.zeros(8000, np.int64), np.ones(8000, np.int64)]
    settings = ensemble.TrainingSettings(epochs=60, learning_rate=0.005)
    trained = ensemble.train_ensemble(scaler.transform(np.r_[x_a, x_b]), groups, np.array([[0.4, 0.7]] * 2), settings, [1, 2],
                                      backend="kernel")
    bayes = metrics.auc(toy_model.bayes_log_likelihood_ratio(x_test), labels_test)
    for output in trained.predict(scaler.transform(x_test)).numpy():
        assert metrics.auc(output, labels_test) > bayes - 0.02


@needs_kernel
def test_bad_arrays_are_rejected_by_name():
    x, groups, _ = _data(64, 3, 2)
    params = np.zeros((1, 3 * 30 + 61), np.float32)
    arguments = dict(events=cpu_kernel.pack_events(x, groups), targets=np.zeros((1, 2), np.float32), order=np.zeros((1, 64), np.int32),
                     step_sizes=np.ones(2, np.float32), params=params, adam_m=params.copy(), adam_v=params.copy())
    options = dict(n_hidden=30, batch_size=32, loss="bce", optimizer="adam")
    cpu_kernel.train_epoch(**arguments, **options)
    with pytest.raises(ValueError, match="order must be a C-contiguous int32"):
        cpu_kernel.train_epoch(**(arguments | {"order": np.zeros((1, 64), np.int64)}), **options)
    with pytest.raises(ValueError, match="step_sizes"):
        cpu_kernel.train_epoch(**(arguments | {"step_sizes": np.ones(1, np.float32)}), **options)
    with pytest.raises(ValueError, match="params"):
        cpu_kernel.train_epoch(**(arguments | {"params": np.zeros((1, 10), np.float32)}), **options)
    with pytest.raises(ValueError, match="group indices"):
        cpu_kernel.pack_events(x, groups - 1)


def test_without_the_library_auto_falls_back_to_torch(monkeypatch):
    monkeypatch.setattr(cpu_kernel, "library_path", lambda: None)
    cpu_kernel._library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="not built in .*pip install -e"):  # said, not silently slower
            assert ensemble.resolve_backend("auto", "cpu") == "torch"
        with pytest.raises(RuntimeError, match="compiled kernel"):
            ensemble.resolve_backend("kernel", "cpu")
        x, groups, _ = _data(64, 3, 2)
        trained = ensemble.train_ensemble(x, groups, np.array([[0.0, 1.0]]), dataclasses.replace(ensemble.TrainingSettings(), epochs=1), [1])
        assert torch.isfinite(trained.params).all()
    finally:
        monkeypatch.undo()
        cpu_kernel._library.cache_clear()
    assert ensemble.resolve_backend("auto", "cpu") == ("kernel" if cpu_kernel.available() else "torch")


@needs_kernel
def test_a_stale_build_is_refused(monkeypatch):
    """A library built from an older _mlp_kernel.c would be called with the wrong arguments."""
    monkeypatch.setattr(cpu_kernel, "ABI_VERSION", cpu_kernel.ABI_VERSION + 1)
    cpu_kernel._library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="stale build"):
            assert not cpu_kernel.available()
        assert ensemble.resolve_backend("auto", "cpu") == "torch"
    finally:
        monkeypatch.undo()
        cpu_kernel._library.cache_clear()
    assert cpu_kernel.available()
