"""Fitting one network: early stopping on validation loss, best model restored, GPU or CPU.

`fit` is the paper's Keras procedure (Adam, fixed batch size, EarlyStopping
with patience, the checkpoint of the best validation loss kept) in PyTorch.
The whole dataset is moved to the device once; on CUDA the forward pass runs
under bfloat16 autocast, and the same code runs on CPU in float32.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import torch

from workflow_scripts.ml.models import product_bce


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """CWoLa paper Table 2: lr 1e-4, batch 500, patience 30 (pretraining: lr 1e-3, patience 20)."""

    learning_rate: float = 1e-4
    batch_size: int = 500
    patience: int = 30
    max_epochs: int = 1000
    mixed_precision: bool | None = None  # None: on CUDA only


@dataclasses.dataclass
class FitResult:
    history: pd.DataFrame  # epoch, train_loss, validation_loss
    best_epoch: int
    best_validation_loss: float
    seconds: float

    @property
    def epochs_run(self) -> int:
        return len(self.history)


class EarlyStopping:
    """Keras' EarlyStopping with the best weights restored: keeps the state of the lowest loss seen and says
    when `patience` further steps (epochs, or meta-training episodes) brought no improvement."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best_loss, self.best_step, self.best_state, self.waited = np.inf, -1, None, 0

    def should_stop(self, loss: float, step: int, model) -> bool:
        if loss < self.best_loss:
            self.best_loss, self.best_step, self.waited = loss, step, 0
            self.best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, model) -> None:
        model.load_state_dict(self.best_state)


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def to_device(array, device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array)).to(device)


@torch.no_grad()
def predict(model, data: torch.Tensor, batch_size: int = 2000, mixed_precision: bool = False) -> torch.Tensor:
    """Event scores in evaluation mode (batch norm uses its running statistics)."""
    model.eval()
    with _autocast(data.device, mixed_precision):
        return torch.cat([model(batch) for batch in data.split(batch_size)]).float()


def fit(model, train_x, train_y, validation_x, validation_y, settings: FitSettings, seed: int, log=print) -> FitResult:
    """Train until the validation loss has not improved for `patience` epochs; restore the best epoch's weights.

    Tensors must already be on the model's device.  Only parameters with
    requires_grad are optimised (transfer learning freezes the rest).
    """
    device = train_x.device
    mixed = device.type == "cuda" if settings.mixed_precision is None else settings.mixed_precision
    shuffle = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate, eps=1e-7)
    stopping = EarlyStopping(settings.patience)
    history = []
    start = time.perf_counter()
    for epoch in range(settings.max_epochs):
        model.train()
        total, count = 0.0, 0
        for batch in torch.randperm(len(train_x), generator=shuffle).to(device).split(settings.batch_size):
            with _autocast(device, mixed):
                loss = product_bce(model(train_x[batch]), train_y[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        validation_loss = float(product_bce(predict(model, validation_x, mixed_precision=mixed), validation_y))
        history.append({"epoch": epoch, "train_loss": total / count, "validation_loss": validation_loss})
        log(f"epoch {epoch}: train loss {total / count:.5f}, validation loss {validation_loss:.5f}")
        if stopping.should_stop(validation_loss, epoch, model):
            break
    stopping.restore(model)
    return FitResult(pd.DataFrame(history), stopping.best_step, stopping.best_loss, time.perf_counter() - start)
