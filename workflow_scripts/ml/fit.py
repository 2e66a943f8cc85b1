"""Fitting networks: early stopping on validation loss, best model restored, GPU or CPU.

`fit` is the paper's Keras procedure (Adam, fixed batch size, EarlyStopping
with patience, the checkpoint of the best validation loss kept) in PyTorch.
`fit_ensemble` trains many networks of one architecture in one process, each
exactly as `fit` would train it alone, vectorised over members on CUDA.
The whole dataset is moved to the device once; on CUDA the forward pass runs
under bfloat16 autocast, and the same code runs on CPU in float32.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call, grad_and_value, vmap

from workflow_scripts.ml.models import product_bce


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """CWoLa paper Table 2: lr 1e-4, batch 500, patience 30 (pretraining: lr 1e-3, patience 20)."""

    learning_rate: float = 1e-4
    batch_size: int = 500
    patience: int = 30
    max_epochs: int = 1000
    mixed_precision: bool | None = None  # None: on CUDA only
    vectorise: bool | None = None  # fit_ensemble: members in one vmap step; None: on CUDA only (slower on CPU)
    members_per_step: int = 16  # at most this many members per vectorised step, to bound GPU memory

    def uses_mixed_precision(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.mixed_precision is None else self.mixed_precision

    def vectorises(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.vectorise is None else self.vectorise


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


@dataclasses.dataclass
class MemberData:
    """One ensemble member's training and validation events, as rows of the shared event pools with their labels."""

    train_rows: torch.Tensor
    train_labels: torch.Tensor
    validation_rows: torch.Tensor
    validation_labels: torch.Tensor


class _MemberState:
    """One member's slice of the stacked parameters and buffers, with the state_dict EarlyStopping keeps."""

    def __init__(self, stacks: dict, index: int):
        self.stacks, self.index = stacks, index

    def state_dict(self) -> dict:
        return {name: stack[self.index] for name, stack in self.stacks.items()}


def _check_members_alike(models) -> None:
    reference = {name: (value.shape, value.dtype) for name, value in models[0].state_dict().items()}
    for position, model in enumerate(models[1:], start=1):
        shapes = {name: (value.shape, value.dtype) for name, value in model.state_dict().items()}
        if shapes != reference:
            raise ValueError(f"ensemble member {position} is not the same network as member 0")


class _Adam:
    """torch.optim.Adam (no weight decay, no amsgrad) on stacked parameters, with each member's own step count so
    that a member stepped alone or in any company gets the same update."""

    def __init__(self, stacks: dict, n_members: int, learning_rate: float, betas=(0.9, 0.999), eps: float = 1e-7):
        self.learning_rate, self.betas, self.eps = learning_rate, betas, eps
        self.first = {name: torch.zeros_like(stack) for name, stack in stacks.items()}
        self.second = {name: torch.zeros_like(stack) for name, stack in stacks.items()}
        self.steps = torch.zeros(n_members, dtype=torch.float64)

    @torch.no_grad()
    def step(self, stacks: dict, members: list[int], gradients: dict) -> None:
        """Update `members` (indices into the stacks) with `gradients` stacked in the same order."""
        beta1, beta2 = self.betas
        index = torch.as_tensor(members)
        self.steps[index] += 1
        steps = self.steps[index]
        device = next(iter(stacks.values())).device
        step_size = (self.learning_rate / (1 - beta1 ** steps)).to(device, torch.float32)
        correction2_sqrt = torch.sqrt(1 - beta2 ** steps).to(device, torch.float32)
        index = index.to(device)
        for name, gradient in gradients.items():
            shape = (len(members),) + (1,) * (gradient.dim() - 1)
            first = self.first[name][index].mul_(beta1).add_(gradient, alpha=1 - beta1)
            second = self.second[name][index].mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
            denominator = (second.sqrt() / correction2_sqrt.view(shape)).add_(self.eps)
            parameter = stacks[name][index].addcdiv_(first * step_size.view(shape), denominator, value=-1)
            self.first[name][index], self.second[name][index], stacks[name][index] = first, second, parameter


def fit_ensemble(models, train_pool: torch.Tensor, validation_pool: torch.Tensor, members: list[MemberData],
                 settings: FitSettings, seeds, log=print) -> list[FitResult]:
    """Train several networks of one architecture at once, each as `fit` would train it alone.

    Each member has its own initial weights (those of its model), its own shuffles (its seed), its own Adam
    state, validation loss and early stopping, and ends restored to its own best epoch.  Members step together
    epoch by epoch; a member that has stopped is left out of every later step.  With `settings.vectorise`
    (default: on CUDA) the members whose current batches have the same length advance in one vectorised step
    (torch.func.vmap over stacked parameters, `settings.members_per_step` at a time); otherwise one after
    another, which is faster on CPU.  Either way a member's result does not depend on which others share its
    job, up to floating-point rounding.  Events are rows of the pools, which must be on the models' device;
    only parameters with requires_grad are trained.
    """
    if not len(models) == len(members) == len(seeds):
        raise ValueError(f"fit_ensemble: {len(models)} models, {len(members)} datasets and {len(seeds)} seeds")
    _check_members_alike(models)
    device = train_pool.device
    mixed, vectorise = settings.uses_mixed_precision(device), settings.vectorises(device)
    trainable = [name for name, parameter in models[0].named_parameters() if parameter.requires_grad]
    states = [model.state_dict() for model in models]
    stacks = {name: torch.stack([state[name].detach() for state in states]).clone() for name in states[0]}
    weights = {name: stacks[name] for name in trainable}
    others = {name: stack for name, stack in stacks.items() if name not in weights}
    template = copy.deepcopy(models[0]).to("meta")

    def member_loss(weights, others, events, labels):
        return product_bce(functional_call(template, (weights, others), (events,)), labels)

    single_step = grad_and_value(member_loss)
    vectorised_step = vmap(single_step)
    optimiser = _Adam(weights, len(models), settings.learning_rate)
    shuffles = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    stoppings = [EarlyStopping(settings.patience) for _ in models]
    histories = [[] for _ in models]
    finished_after = [None] * len(models)
    active = list(range(len(models)))
    start = time.perf_counter()

    def train_step(group: list[int], batches: list[torch.Tensor]) -> list[float]:
        """One optimiser step of each member of `group` on its batch of training rows; their mean losses."""
        with _autocast(device, mixed):
            if vectorise and len(group) > 1:
                index = torch.as_tensor(group, device=device)
                group_weights = {name: stack[index] for name, stack in weights.items()}
                group_others = {name: stack[index] for name, stack in others.items()}  # batch norms update these
                events = train_pool[torch.stack([members[m].train_rows[batch] for m, batch in zip(group, batches)])]
                labels = torch.stack([members[m].train_labels[batch] for m, batch in zip(group, batches)])
                gradients, losses = vectorised_step(group_weights, group_others, events, labels)
                for name, stack in others.items():
                    stack[index] = group_others[name]
                optimiser.step(weights, group, gradients)
                return losses.float().tolist()
            losses = []
            for member, batch in zip(group, batches):
                rows = members[member].train_rows[batch]
                gradients, loss = single_step({name: stack[member] for name, stack in weights.items()},
                                              {name: stack[member] for name, stack in others.items()},
                                              train_pool[rows], members[member].train_labels[batch])
                optimiser.step(weights, [member], {name: value.unsqueeze(0) for name, value in gradients.items()})
                losses.append(float(loss))
            return losses

    @torch.no_grad()
    def validation_loss(member: int, batch_size: int = 2000) -> float:
        template.eval()
        state = ({name: stack[member] for name, stack in weights.items()},
                 {name: stack[member] for name, stack in others.items()})
        data = members[member]
        with _autocast(device, mixed):
            scores = torch.cat([functional_call(template, state, (validation_pool[rows],)).float()
                                for rows in data.validation_rows.split(batch_size)])
        return float(product_bce(scores, data.validation_labels))

    for epoch in range(settings.max_epochs):
        batches = {member: torch.randperm(len(members[member].train_rows), generator=shuffles[member]).to(device)
                   .split(settings.batch_size) for member in active}
        totals = dict.fromkeys(active, 0.0)
        template.train()
        for step in range(max(len(member_batches) for member_batches in batches.values())):
            stepping = [member for member in active if step < len(batches[member])]
            by_length = {}
            for member in stepping:
                by_length.setdefault(len(batches[member][step]), []).append(member)
            for length, same_length in by_length.items():
                chunk = settings.members_per_step if vectorise else 1
                for first in range(0, len(same_length), chunk):
                    group = same_length[first:first + chunk]
                    for member, loss in zip(group, train_step(group, [batches[m][step] for m in group])):
                        totals[member] += loss * length
        for member in list(active):
            train_loss = totals[member] / len(members[member].train_rows)
            loss = validation_loss(member)
            histories[member].append({"epoch": epoch, "train_loss": train_loss, "validation_loss": loss})
            prefix = f"member {member} " if len(models) > 1 else ""
            log(f"{prefix}epoch {epoch}: train loss {train_loss:.5f}, validation loss {loss:.5f}")
            if stoppings[member].should_stop(loss, epoch, _MemberState(stacks, member)):
                active.remove(member)
                finished_after[member] = time.perf_counter() - start
        if not active:
            break
    results = []
    for member, model in enumerate(models):
        stopping = stoppings[member]
        if stopping.best_state is not None:
            stopping.restore(model)
        else:  # no finite validation loss: keep the last weights rather than none
            model.load_state_dict(_MemberState(stacks, member).state_dict())
        seconds = finished_after[member] if finished_after[member] is not None else time.perf_counter() - start
        results.append(FitResult(pd.DataFrame(histories[member]), stopping.best_step, stopping.best_loss, seconds))
    return results


def fit(model, train_x, train_y, validation_x, validation_y, settings: FitSettings, seed: int, log=print) -> FitResult:
    """Train until the validation loss has not improved for `patience` epochs; restore the best epoch's weights.

    One network: `fit_ensemble` with a single member.  Tensors must already be on the model's device.
    """
    rows = {name: torch.arange(len(data), device=data.device) for name, data in (("train", train_x), ("validation", validation_x))}
    member = MemberData(rows["train"], train_y, rows["validation"], validation_y)
    return fit_ensemble([model], train_x, validation_x, [member], settings, [seed], log)[0]
