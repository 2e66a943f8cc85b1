"""Several CNNs trained in one job (`fit_ensemble`): each member is the network `fit` would train alone."""

import copy

import numpy as np
import pytest
import torch

from workflow_scripts.ml.fit import FitSettings, MemberData, fit, fit_ensemble
from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, PairHead

SMALL = CNNSettings(filters=(4, 4), kernels=(3, 3), pool_after=(True, True), dense=(8,))
QUIET = {"log": lambda line: None}


def _pool(toy_data, seed=0):
    """Shared event pools; each member trains on its own subset of rows (sizes differ, so do the last batches)."""
    rng = np.random.default_rng(seed)
    train_x, train_y = toy_data(rng, 150)
    validation_x, validation_y = toy_data(rng, 60)
    return train_x, train_y, validation_x, validation_y


def _member(pool, train_rows, validation_rows, flip_labels=False):
    _, train_y, _, validation_y = pool
    train_rows, validation_rows = torch.as_tensor(train_rows), torch.as_tensor(validation_rows)
    labels = train_y[train_rows]
    if flip_labels:  # labels unrelated to the images: the member can only overfit and stops early
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(9))]
    return MemberData(train_rows, labels, validation_rows, validation_y[validation_rows])


def _model(seed, npix=16):
    torch.manual_seed(seed)
    return JetPairClassifier(npix, SMALL)


def _assert_same_network(first, second, atol):
    for name, value in first.state_dict().items():
        torch.testing.assert_close(value.float(), second.state_dict()[name].float(), atol=atol, rtol=0,
                                   msg=lambda message, name=name: f"{name}: {message}")


@pytest.mark.parametrize("vectorise", [False, True])
def test_a_member_trains_alike_alone_and_in_an_ensemble(toy_data, vectorise):
    pool = _pool(toy_data)
    rng = np.random.default_rng(1)
    subsets = [(rng.choice(300, size, replace=False), rng.choice(120, 80, replace=False)) for size in (230, 230, 170)]
    settings = FitSettings(learning_rate=3e-3, batch_size=50, patience=2, max_epochs=5, vectorise=vectorise)
    members = [_member(pool, *subset) for subset in subsets]
    models = [_model(seed) for seed in (11, 12, 13)]
    results = fit_ensemble(models, pool[0], pool[2], members, settings, seeds=[21, 22, 23], **QUIET)

    train_rows, validation_rows = subsets[1]
    alone = _model(12)
    alone_result = fit(alone, pool[0][train_rows], pool[1][train_rows], pool[2][validation_rows],
                       pool[3][validation_rows], settings, seed=22, **QUIET)
    # Same weights and batch-norm running statistics, to float rounding (vmap batches the convolutions).
    _assert_same_network(models[1], alone, atol=1e-5)
    assert results[1].best_epoch == alone_result.best_epoch
    np.testing.assert_allclose(results[1].history.validation_loss, alone_result.history.validation_loss, rtol=1e-5)
    assert int(models[1].jet_norms[0].num_batches_tracked) == int(alone.jet_norms[0].num_batches_tracked) > 0


def test_the_cuda_step_vmap_under_bfloat16_runs_on_cpu(toy_data, monkeypatch):
    """What a GPU job runs (members in one vmap step under bfloat16 autocast), on the CPU: it trains the networks
    float32 training does, to bfloat16 rounding, and is not silently float32."""
    from workflow_scripts.ml import fit as fit_module

    vectorised_steps = []  # the autocast state of every vmap step taken

    def watched_vmap(function):
        step = torch.func.vmap(function)

        def watched(*arguments):
            vectorised_steps.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
            return step(*arguments)
        return watched

    monkeypatch.setattr(fit_module, "vmap", watched_vmap)
    pool = _pool(toy_data, seed=4)
    members = [_member(pool, np.arange(300), np.arange(120)), _member(pool, np.arange(250), np.arange(120))]
    losses = {}
    for vectorise, mixed in ((False, False), (True, True)):
        settings = FitSettings(learning_rate=3e-3, batch_size=50, patience=2, max_epochs=4, vectorise=vectorise,
                               mixed_precision=mixed)
        results = fit_ensemble([_model(11), _model(12)], pool[0], pool[2], members, settings, seeds=[1, 2], **QUIET)
        losses[mixed] = np.array([result.history.validation_loss.to_numpy() for result in results])
    assert vectorised_steps and set(vectorised_steps) == {(True, torch.bfloat16)}
    assert not np.array_equal(losses[True], losses[False])
    np.testing.assert_allclose(losses[True], losses[False], atol=0.01, rtol=0)


def test_members_differ_by_seed_and_repeat_with_the_same_seed(toy_data):
    pool = _pool(toy_data, seed=2)
    member = _member(pool, np.arange(300), np.arange(120))
    settings = FitSettings(learning_rate=3e-3, batch_size=60, patience=2, max_epochs=2)
    # Members 0 and 1: same initial weights, same shuffles.  Member 2: other shuffles.  Member 3: other weights.
    models = [_model(3), _model(3), _model(3), _model(4)]
    fit_ensemble(models, pool[0], pool[2], [member] * 4, settings, seeds=[5, 5, 6, 5], **QUIET)
    _assert_same_network(models[0], models[1], atol=0)
    for other in models[2:]:
        weight = "jet_network.head.0.weight"
        assert not torch.allclose(models[0].state_dict()[weight], other.state_dict()[weight], atol=1e-4)


# The label-shuffled member trains at a high learning rate into a chaotic regime, where the vectorised step's
# different summation order (float rounding) grows to ~2e-5 in the weights by the time it stops.
@pytest.mark.parametrize(("vectorise", "atol"), [(False, 0.0), (True, 1e-4)])
def test_each_member_stops_on_its_own_validation_loss_and_keeps_its_best_epoch(toy_data, vectorise, atol):
    pool = _pool(toy_data, seed=3)
    rows = np.arange(300), np.arange(120)
    learns, overfits = _member(pool, *rows), _member(pool, *rows, flip_labels=True)
    settings = FitSettings(learning_rate=1e-2, batch_size=50, patience=2, max_epochs=12, vectorise=vectorise)
    models = [_model(0), _model(0)]
    learning, overfitting = fit_ensemble(models, pool[0], pool[2], [learns, overfits], settings, seeds=[0, 0], **QUIET)
    assert overfitting.epochs_run == overfitting.best_epoch + settings.patience + 1 < learning.epochs_run
    for result in (learning, overfitting):
        assert result.best_epoch == int(result.history.validation_loss.idxmin())
        assert result.best_validation_loss == pytest.approx(result.history.validation_loss.min())
    # The stopped member holds its best epoch, not the weights of the epochs it sat out.
    alone = _model(0)
    fit(alone, pool[0], overfits.train_labels, pool[2], pool[3], settings, seed=0, **QUIET)
    _assert_same_network(models[1], alone, atol=atol)


def test_fine_tuning_on_cached_features_trains_only_the_head(toy_data):
    """Transfer learning's members: dense layers on precomputed feature-extractor outputs (PairHead)."""
    pool = _pool(toy_data, seed=4)
    extractor = _model(7)
    features = [extractor.pair_features(images) for images in (pool[0], pool[2])]
    heads = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        extractor.reset_head()
        heads.append(PairHead(copy.deepcopy(extractor.jet_network.head)))
    member = _member(pool, np.arange(300), np.arange(120))
    settings = FitSettings(learning_rate=3e-3, batch_size=50, patience=2, max_epochs=3, vectorise=True)
    initial = [copy.deepcopy(head) for head in heads]
    results = fit_ensemble(heads, features[0], features[1], [member, member], settings, seeds=[0, 1], **QUIET)
    alone = initial[1]
    fit(alone, features[0], member.train_labels, features[1], member.validation_labels, settings, seed=1, **QUIET)
    _assert_same_network(heads[1], alone, atol=1e-5)
    for result in results:  # the heads learn: validation loss falls from the first epoch (0.58-0.61 to 0.16-0.26)
        assert result.best_validation_loss < 0.8 * result.history.validation_loss.iloc[0]
    assert not torch.allclose(heads[0].state_dict()["head.0.weight"], initial[0].state_dict()["head.0.weight"])


def test_members_must_be_one_architecture(toy_data):
    pool = _pool(toy_data)
    member = _member(pool, np.arange(10), np.arange(10))
    settings = FitSettings(max_epochs=1)
    with pytest.raises(ValueError, match="member 1 is not the same network"):
        fit_ensemble([_model(0), JetPairClassifier(16, CNNSettings(filters=(2, 4), kernels=(3, 3),
                                                                   pool_after=(True, True), dense=(8,)))],
                     pool[0], pool[2], [member, member], settings, seeds=[0, 1], **QUIET)
