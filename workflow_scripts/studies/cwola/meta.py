"""Meta-transfer learning (CWoLa paper, section 5): scaling and shifting parameters learnt across tasks.

After pretraining (as for transfer learning) the convolutional weights and
biases stay fixed for good.  Every convolution also has scaling parameters S
(one per input channel and filter, multiplying the filter) and shifting
parameters S-bar (one per filter, added to its bias), eqs. (5.2)-(5.3).  An
episode visits every task (every benchmark except the held-out one) once:

1. base learning (eq. 5.4): temporary dense weights theta' start from theta and
   are trained for a few epochs on pure signal-region signal and background;
2. meta update (eq. 5.5): one gradient step on fresh events updates theta, S
   and S-bar with the gradient of the loss at theta' (first order: the gradient
   with respect to theta' is applied to theta);
3. evaluation: the task loss at the updated parameters on fresh events.

The task losses averaged over an episode drive early stopping, and the best
episode's theta, S and S-bar are kept.  Each step of each task draws its own
events.  Fine-tuning afterwards is transfer learning's, with S and S-bar frozen
inside the feature extractor.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import pandas as pd
import torch

from workflow_scripts.analysis import images
from workflow_scripts.ml.fit import EarlyStopping, predict, to_device
from workflow_scripts.ml.models import JetPairClassifier, product_bce


@dataclasses.dataclass(frozen=True)
class MetaSettings:
    """Paper: 2.5k signal + 2.5k background per step, 3 base epochs, meta learning rate 1e-4, patience 20."""

    n_per_class: int = 2500
    base_epochs: int = 3
    base_learning_rate: float = 1e-3
    meta_learning_rate: float = 1e-4
    batch_size: int = 500
    patience: int = 20
    max_episodes: int = 1000


@dataclasses.dataclass
class Task:
    """One meta-training task: a signal sample against the shared background, as image memory maps and row pools."""

    name: str
    signal_images: np.ndarray
    signal_rows: np.ndarray
    background_images: np.ndarray
    background_rows: np.ndarray

    def draw(self, rng, n_per_class: int, steps: int = 3):
        """`steps` disjoint draws of n_per_class signal and n_per_class background rows."""
        needed = steps * n_per_class
        for kind, rows in (("signal", self.signal_rows), ("background", self.background_rows)):
            if len(rows) < needed:
                raise ValueError(f"meta-training task {self.name} needs {needed} {kind} events in the signal region "
                                 f"({steps} steps x {n_per_class}), it has {len(rows)}; lower config key "
                                 "cwola.meta.n_per_class or generate more events")
        signal = rng.choice(self.signal_rows, needed, replace=False).reshape(steps, n_per_class)
        background = rng.choice(self.background_rows, needed, replace=False).reshape(steps, n_per_class)
        return list(zip(signal, background))


def _load(task: Task, signal_rows, background_rows, device, unit_intensity):
    x = np.concatenate([task.signal_images[np.sort(signal_rows)], task.background_images[np.sort(background_rows)]])
    if unit_intensity:
        images.unit_intensity(x)
    y = np.r_[np.ones(len(signal_rows)), np.zeros(len(background_rows))].astype(np.float32)
    return to_device(x.astype(images.IMAGE_DTYPE), device), to_device(y, device)


def _base_learning(model: JetPairClassifier, x, y, settings: MetaSettings, generator) -> torch.nn.Module:
    """Eq. (5.4): a copy of the dense layers trained on cached jet features (features and S are fixed here)."""
    with torch.no_grad():
        model.eval()
        features = [torch.cat(part) for part in zip(*(model.jet_features(batch) for batch in x.split(settings.batch_size)))]
    head = copy.deepcopy(model.jet_network.head).train()
    head.requires_grad_(True)
    optimiser = torch.optim.Adam(head.parameters(), lr=settings.base_learning_rate, eps=1e-7)
    for _ in range(settings.base_epochs):
        for batch in torch.randperm(len(y), generator=generator).to(y.device).split(settings.batch_size):
            scores = torch.sigmoid(head(features[0][batch]).squeeze(-1)) * torch.sigmoid(head(features[1][batch]).squeeze(-1))
            loss = product_bce(scores, y[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return head


def _meta_update(model: JetPairClassifier, temporary_head, x, y, optimiser, batch_size: int) -> None:
    """Eq. (5.5): one step of theta, S and S-bar along the gradient of the loss evaluated at theta'."""
    head_parameters = list(model.jet_network.head.parameters())
    saved = [parameter.detach().clone() for parameter in head_parameters]
    with torch.no_grad():
        for parameter, temporary in zip(head_parameters, temporary_head.parameters()):
            parameter.copy_(temporary)
    optimiser.zero_grad(set_to_none=True)
    model.train()
    for batch in torch.arange(len(y), device=y.device).split(batch_size):  # full-sample gradient, in slices
        (product_bce(model(x[batch]), y[batch]) * len(batch) / len(y)).backward()
    with torch.no_grad():
        for parameter, value in zip(head_parameters, saved):
            parameter.copy_(value)  # the step applies to theta, with the gradient taken at theta'
    optimiser.step()


def meta_train(model: JetPairClassifier, tasks: list[Task], settings: MetaSettings, seed: int, device,
               unit_intensity: bool = False, log=print) -> tuple[pd.DataFrame, int]:
    """Meta-train the dense layers, S and S-bar of a pretrained model in place; returns (history, best episode)."""
    model.freeze_feature_extractor()
    trainable = [*model.jet_network.head.parameters(), *model.meta_parameters()]
    for parameter in trainable:
        parameter.requires_grad_(True)
    optimiser = torch.optim.Adam(trainable, lr=settings.meta_learning_rate, eps=1e-7)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    stopping = EarlyStopping(settings.patience)
    history = []
    start = time.perf_counter()
    for episode in range(settings.max_episodes):
        task_losses = {}
        for task in tasks:
            (base_signal, base_background), (meta_signal, meta_background), (eval_signal, eval_background) = \
                task.draw(rng, settings.n_per_class)
            x, y = _load(task, base_signal, base_background, device, unit_intensity)
            temporary_head = _base_learning(model, x, y, settings, generator)
            x, y = _load(task, meta_signal, meta_background, device, unit_intensity)
            _meta_update(model, temporary_head, x, y, optimiser, settings.batch_size)
            x, y = _load(task, eval_signal, eval_background, device, unit_intensity)
            task_losses[task.name] = float(product_bce(predict(model, x), y))
        mean_loss = float(np.mean(list(task_losses.values())))
        history.append({"episode": episode, "mean_task_loss": mean_loss, **{f"loss_{k}": v for k, v in task_losses.items()}})
        log(f"episode {episode}: mean task loss {mean_loss:.5f}")
        if stopping.should_stop(mean_loss, episode, model):
            break
    stopping.restore(model)
    for parameter in trainable:
        parameter.requires_grad_(False)
    log(f"best episode {stopping.best_step} of {len(history)}, {time.perf_counter() - start:.1f} s")
    return pd.DataFrame(history), stopping.best_step


def build_tasks(background_windows, test_set, background_images, signals: dict[str, tuple]) -> list[Task]:
    """One task per signal sample: its signal-region rows against the signal-region background outside the test set.

    signals: sample name -> {"windows": window table path, "images": image file path}.
    """
    from workflow_scripts.core import files

    background_table, _ = files.read_table(background_windows)
    test, _ = files.read_table(test_set)
    excluded = np.zeros(len(background_table), dtype=bool)
    excluded[test.image_row[test.source == "background"].to_numpy()] = True
    background_rows = np.flatnonzero((background_table.region.to_numpy() == "SR") & ~excluded)
    background_map = images.load_images(background_images)
    tasks = []
    for name in sorted(signals):
        table, _ = files.read_table(signals[name]["windows"])
        tasks.append(Task(name, images.load_images(signals[name]["images"]), np.flatnonzero(table.region.to_numpy() == "SR"),
                          background_map, background_rows))
    return tasks


def main(argv=None) -> None:
    import argparse
    import json
    import sys
    from pathlib import Path

    from workflow_scripts.core import files
    from workflow_scripts.core.devices import resolve_device, set_cpu_threads
    from workflow_scripts.core.seeding import derive_seed
    from workflow_scripts.ml.models import load_model, save_model

    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cwola.meta", description=__doc__.split("\n")[0])
    parser.add_argument("--pretrained", type=Path, required=True)
    parser.add_argument("--background-windows", type=Path, required=True)
    parser.add_argument("--background-images", type=Path, required=True)
    parser.add_argument("--test-set", type=Path, required=True)
    parser.add_argument("--signals", required=True,
                        help='JSON: every task\'s files, {"sample": {"windows": path, "images": path}}')
    parser.add_argument("--settings", required=True, help="JSON: meta (MetaSettings), held_out, unit_intensity, seed, device")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    set_cpu_threads(args.threads)
    settings, signals = json.loads(args.settings), json.loads(args.signals)
    held_out, unit_intensity = settings["held_out"], settings["unit_intensity"]
    if held_out in signals:
        raise ValueError(f"the held-out benchmark {held_out} cannot be a meta-training task")
    device = resolve_device(settings.get("device", "auto"))
    model, payload = load_model(args.pretrained, device)
    seed = derive_seed(settings["seed"], "meta-train", held_out)
    torch.manual_seed(seed)
    tasks = build_tasks(args.background_windows, args.test_set, args.background_images, signals)
    history, best = meta_train(model, tasks, MetaSettings(**settings["meta"]), seed, device, unit_intensity)
    save_model(model, args.model, {"held_out": held_out, "best_episode": best, "seed": seed,
                                   "unit_intensity": unit_intensity, "tasks": sorted(signals)})
    files.write_csv(history.assign(held_out=held_out), args.history)


if __name__ == "__main__":
    main()
