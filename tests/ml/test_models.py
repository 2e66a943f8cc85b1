"""The jet-pair CNN, early stopping and the significance of eq. (3.1)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from workflow_scripts.ml import metrics
from workflow_scripts.ml.fit import FitSettings, fit, predict
from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, count_flops, load_model, product_bce, save_model
from workflow_scripts.studies.cwola.training import significance_table

SMALL = CNNSettings(filters=(4, 4), kernels=(3, 3), pool_after=(True, True), dense=(8,))


def test_significance_formula_against_hand_values():
    # sqrt(2 * (110 ln 1.1 - 10)) = sqrt(2 * 0.4841198) = 0.9839916
    assert metrics.discovery_significance(10, 100) == pytest.approx(0.9839916, abs=1e-7)
    assert metrics.discovery_significance(50, 50) == pytest.approx(math.sqrt(2 * (100 * math.log(2) - 50)))
    assert metrics.discovery_significance(3, 1e6) == pytest.approx(3 / math.sqrt(1e6), rel=1e-5)  # s << b
    assert metrics.discovery_significance(0, 10) == 0.0
    with pytest.raises(ValueError):
        metrics.discovery_significance(1, 0)


def test_significance_after_cut_uses_signal_efficiency_at_fixed_background_efficiency():
    scores = np.r_[np.linspace(0.5, 1.0, 100), np.linspace(0.0, 0.6, 100)]
    truth = np.r_[np.ones(100), np.zeros(100)]
    table = significance_table(scores, truth, n_signal_sr=100, n_background_sr=10_000, background_efficiencies=[0.01, 0.1])
    # At eps_b = 1 % the cut sits on the highest background score, 0.6: signal above it is (1 - 0.6) / 0.5 = 81 %.
    assert table.signal_efficiency.tolist() == pytest.approx([0.81, 0.92])
    assert table.significance_after[0] == pytest.approx(metrics.discovery_significance(81, 100))
    assert table.significance_before[0] == pytest.approx(metrics.discovery_significance(100, 10_000))


def test_paper_network_shape_and_product_of_jet_scores():
    model = JetPairClassifier(25)  # Table 2 defaults
    convolutions = [layer for layer in model.jet_network.features if isinstance(layer, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convolutions] == [(64, (5, 5)), (64, (5, 5)), (128, (3, 3)), (128, (3, 3))]
    assert [layer.out_features for layer in model.jet_network.head if isinstance(layer, torch.nn.Linear)] == [128, 128, 128, 1]
    images = torch.rand(6, 2, 25, 25)
    model.eval()
    with torch.no_grad():
        first, second = model.jet_logits(images)
        np.testing.assert_allclose(model(images), torch.sigmoid(first) * torch.sigmoid(second), rtol=1e-6)
    # By hand, 2 FLOPs per multiply-add: convolutions at 25, 12, 6 and 3 pixels, then 3x3x128 -> 128 -> 128 -> 128 -> 1.
    by_hand = (2 * 25 * 25 * 1 * 64 * 25 + 2 * 12 * 12 * 64 * 64 * 25 + 2 * 6 * 6 * 64 * 128 * 9 + 2 * 3 * 3 * 128 * 128 * 9
               + 2 * 1152 * 128 + 2 * 2 * 128 * 128 + 2 * 128)
    assert count_flops(25, CNNSettings()) == by_hand == 39_814_528


def prong_images(n, two_prong, rng, npix=16):
    """Toy jets: one hard pixel (background) or two separated hard pixels (signal), with noise."""
    images = rng.exponential(0.2, size=(n, 2, npix, npix)).astype(np.float32)
    images[:, :, npix // 2, npix // 2] += 50.0
    if two_prong:
        images[:, :, npix // 2, npix // 2 + 4] += 30.0
    return images


def toy_data(rng, n=400):
    x = np.concatenate([prong_images(n, False, rng), prong_images(n, True, rng)])
    y = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def test_cnn_learns_two_prong_jets_and_fit_is_deterministic():
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


def test_mixed_precision_path_runs_on_cpu():
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


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(0)
    model = JetPairClassifier(16, SMALL)
    save_model(model, tmp_path / "model.pt", {"identifiers": {"trial": 0}})
    loaded, payload = load_model(tmp_path / "model.pt")
    images = torch.rand(4, 2, 16, 16)
    model.eval()
    torch.testing.assert_close(loaded.eval()(images), model(images))
    assert payload["identifiers"] == {"trial": 0}


def test_fine_tuning_leaves_the_frozen_feature_extractor_bit_identical():
    rng = np.random.default_rng(5)
    x, y = toy_data(rng, 100)
    torch.manual_seed(0)
    model = JetPairClassifier(16, SMALL)
    fit(model, x, y, x, y, FitSettings(learning_rate=1e-2, batch_size=50, patience=1, max_epochs=2), seed=0,
        log=lambda line: None)  # "pretraining": moves every weight and the batch-norm statistics
    frozen = {name: value.clone() for name, value in model.state_dict().items() if "head" not in name}
    head_before = [p.clone() for p in model.jet_network.head.parameters()]
    model.freeze_feature_extractor()
    model.reset_head()
    assert not any(torch.equal(a, b) for a, b in zip(head_before, model.jet_network.head.parameters()) if a.dim() > 1)
    fit(model, x, 1 - y, x, 1 - y, FitSettings(learning_rate=1e-2, batch_size=50, patience=2, max_epochs=3), seed=1,
        log=lambda line: None)
    for name, value in frozen.items():
        assert torch.equal(model.state_dict()[name], value), name
    assert not torch.equal(model.jet_network.head[0].weight, head_before[0])  # the dense layers did learn


def test_unit_scaling_and_zero_shifting_reproduce_the_plain_network_exactly():
    torch.manual_seed(3)
    model = JetPairClassifier(16, SMALL).eval()
    plain = torch.nn.Sequential(*[
        torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, padding="same")
        if isinstance(layer, torch.nn.Conv2d) else layer for layer in model.jet_network.features])
    for target, source in zip(plain, model.jet_network.features):
        if isinstance(source, torch.nn.Conv2d):
            target.weight.data.copy_(source.weight.data)
            target.bias.data.copy_(source.bias.data)
    images = torch.rand(5, 1, 16, 16)
    assert torch.equal(plain(images), model.jet_network.features(images))
    assert all(torch.equal(p, torch.ones_like(p)) or torch.equal(p, torch.zeros_like(p)) for p in model.meta_parameters())
    assert not any(p.requires_grad for p in model.meta_parameters())  # only meta-training moves them


def test_meta_training_moves_only_dense_weights_scaling_and_shifting():
    from workflow_scripts.studies.cwola.meta import MetaSettings, Task, meta_train

    rng = np.random.default_rng(6)
    background = prong_images(200, False, rng)
    tasks = [Task(f"task{k}", prong_images(60, True, rng) * (1 + 0.2 * k), np.arange(60), background, np.arange(200))
             for k in range(2)]
    torch.manual_seed(0)
    model = JetPairClassifier(16, SMALL)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    settings = MetaSettings(n_per_class=20, base_epochs=2, base_learning_rate=1e-2, meta_learning_rate=1e-2, batch_size=16,
                            patience=2, max_episodes=3)
    history, best = meta_train(model, tasks, settings, seed=0, device=torch.device("cpu"), log=lambda line: None)
    assert 0 <= best < len(history) <= 3 and history.mean_task_loss.notna().all()
    after = model.state_dict()
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    meta_names = {name for name in before if name.endswith((".scale", ".shift"))}
    head_names = {name for name in before if ".head." in name}
    assert moved and moved <= meta_names | head_names
    assert moved & meta_names and moved & head_names  # both the dense layers and S, S-bar learnt
    assert not any(p.requires_grad for p in model.meta_parameters())


def test_meta_task_draws_are_disjoint_and_too_small_pools_are_named():
    from workflow_scripts.studies.cwola.meta import Task

    task = Task("hv_dd_lambda5", np.zeros((30, 2, 4, 4)), np.arange(30), np.zeros((50, 2, 4, 4)), np.arange(50))
    draws = task.draw(np.random.default_rng(0), 10)
    signal_rows = np.concatenate([signal for signal, _ in draws])
    assert len(draws) == 3 and len(set(signal_rows)) == 30
    with pytest.raises(ValueError, match="hv_dd_lambda5 needs 33 signal events.*cwola.meta.n_per_class"):
        task.draw(np.random.default_rng(0), 11)


def _preset(name):
    root = Path(__file__).resolve().parents[2]
    return yaml.safe_load((root / "presets" / name).read_text())["cwola"]


@pytest.mark.parametrize("npix,large", [(25, False), (50, False), (75, False), (75, True)])
def test_paper_preset_networks_train_at_every_resolution(npix, large):
    """Figs. 3-6 at the paper's settings: Table 2 at 25, 50, 75 px and the larger kernels of Fig. 6 at 75 px build,
    classify a batch and back-propagate (a shape mistake in the preset would otherwise surface on a cluster)."""
    cwola = _preset("paper-cwola.yaml")
    network = dict(cwola["network"])
    if large:
        assert npix == cwola["large_kernels"]["resolution"]
        network["kernels"] = cwola["large_kernels"]["kernels"]
    model = JetPairClassifier(npix, CNNSettings.from_dict(network))
    images = torch.rand(3, 2, npix, npix)
    output = model(images)
    assert output.shape == (3,) and torch.all((output > 0) & (output < 1))
    product_bce(output, torch.tensor([0.0, 1.0, 1.0])).backward()
    first_convolution = next(module for module in model.modules() if isinstance(module, torch.nn.Conv2d))
    assert first_convolution.kernel_size == (network["kernels"][0],) * 2
    assert first_convolution.weight.grad is not None and torch.any(first_convolution.weight.grad != 0)
