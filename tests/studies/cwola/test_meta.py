"""Meta-transfer learning: what moves, and the tasks' event draws."""



import numpy as np
import pytest
import torch

from workflow_scripts.ml.models import CNNSettings, JetPairClassifier

SMALL = CNNSettings(filters=(4, 4), kernels=(3, 3), pool_after=(True, True), dense=(8,))


def test_meta_training_moves_only_dense_weights_scaling_and_shifting(prong_images):
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
