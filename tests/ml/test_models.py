"""The jet-pair CNN of the CWoLa paper (its Table 2): shapes, files, freezing, scaling and shifting."""


from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from workflow_scripts.ml.fit import FitSettings, fit
from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, count_flops, load_model, product_bce, save_model

SMALL = CNNSettings(filters=(4, 4), kernels=(3, 3), pool_after=(True, True), dense=(8,))


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


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(0)
    model = JetPairClassifier(16, SMALL)
    save_model(model, tmp_path / "model.pt", {"identifiers": {"trial": 0}})
    loaded, payload = load_model(tmp_path / "model.pt")
    images = torch.rand(4, 2, 16, 16)
    model.eval()
    torch.testing.assert_close(loaded.eval()(images), model(images))
    assert payload["identifiers"] == {"trial": 0}


def test_fine_tuning_leaves_the_frozen_feature_extractor_bit_identical(toy_data):
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
