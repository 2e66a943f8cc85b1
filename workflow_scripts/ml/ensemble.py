"""Batched ensembles of small fully connected networks.

The weak-supervision studies train hundreds of identical one-hidden-layer
networks (Cohen, Freytsis, Ostdiek, Table 1) that differ only in their
initialisation, their shuffling and their targets.  Training them one after
another wastes almost all the time in per-call overhead, so here all members
advance together: every tensor carries a leading member axis and one
optimizer step updates every network at once with a handful of batched
matrix products.  Forward and backward passes are written out by hand (the
network is tiny and fixed), which avoids autograd bookkeeping on the hot path;
``tests/ml/test_ensemble.py`` checks the gradients against autograd.  On the CPU
the same step runs in a compiled kernel (``_mlp_kernel.c``, via
``cpu_kernel.py``), which keeps each network in L1 cache and is several times
faster; ``tests/ml/test_cpu_kernel.py`` checks it against the torch step.

Targets are given per *group*: each training event belongs to a group
(its class for full supervision, its dataset for weak supervision) and each
member has its own target value per group.  A label-mismatch scan is then
just one ensemble whose members see different group targets.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from workflow_scripts.ml import cpu_kernel

LOSSES = ("bce", "mae", "llp")
OPTIMIZERS = ("adam", "sgd")

# Keras' RandomNormal default, which the paper's "Normal" initialisation means.
NORMAL_INIT_STDDEV = 0.05
# Keras' default epsilon for Adam and for clipping probabilities in losses.
KERAS_EPSILON = 1e-7


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """Hyper-parameters of one ensemble training (paper Table 1 names)."""

    n_hidden: int = 30
    loss: str = "bce"
    optimizer: str = "adam"
    learning_rate: float = 1.5e-3
    batch_size: int = 32
    epochs: int = 100

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {LOSSES}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {OPTIMIZERS}")
        if self.batch_size < 1 or self.epochs < 0 or self.n_hidden < 1:
            raise ValueError(f"invalid training settings: {self}")


def training_settings(network: dict, loss: str = "bce") -> TrainingSettings:
    """TrainingSettings from a config's network entry (hidden, optimizer, learning_rate, batch_size, epochs)."""
    return TrainingSettings(n_hidden=network["hidden"], loss=loss, optimizer=network["optimizer"],
                            learning_rate=network["learning_rate"], batch_size=network["batch_size"], epochs=network["epochs"])


@dataclasses.dataclass(frozen=True)
class Standardiser:
    """Scikit-learn's StandardScaler: per-feature mean and standard deviation of the training sample.

    A constant feature (for example the pT of a tenth jet that no training event has) is only centred,
    with scale 1, as StandardScaler does.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, train) -> "Standardiser":
        train = np.asarray(train, dtype=np.float64)
        if len(train) == 0:
            raise ValueError("cannot standardise: the training sample is empty")
        std = train.std(axis=0)
        return cls(train.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, x) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def state_dict(self) -> dict:
        return {"input_mean": torch.as_tensor(self.mean), "input_std": torch.as_tensor(self.std)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Standardiser":
        return cls(state["input_mean"].numpy(), state["input_std"].numpy())


# Bound on the hidden activations one prediction chunk holds (float32 numbers).
PREDICT_HIDDEN_VALUES = 1 << 25


class MLPEnsemble:
    """E independent n_in -> n_hidden -> 1 sigmoid networks stored as one flat tensor.

    ``params`` has shape (E, P); the weight matrices are views into it so that
    the optimizer updates every parameter of every member with a few ops.
    """

    def __init__(self, n_members: int, n_inputs: int, n_hidden: int, device="cpu", dtype=torch.float32):
        self.n_members, self.n_inputs, self.n_hidden = n_members, n_inputs, n_hidden
        sizes = [n_inputs * n_hidden, n_hidden, n_hidden, 1]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.params = torch.zeros(n_members, int(self._offsets[-1]), device=device, dtype=dtype)

    # Views into the flat parameter tensor.
    def _view(self, flat: torch.Tensor, index: int) -> torch.Tensor:
        return flat[:, self._offsets[index] : self._offsets[index + 1]]

    def weights(self, flat: torch.Tensor | None = None):
        flat = self.params if flat is None else flat
        w1 = self._view(flat, 0).view(self.n_members, self.n_inputs, self.n_hidden)
        return w1, self._view(flat, 1), self._view(flat, 2), self._view(flat, 3)

    def initialise(self, member_seeds) -> None:
        """Normal(0, 0.05) weights and zero biases, each member from its own seed."""
        if len(member_seeds) != self.n_members:
            raise ValueError(f"need {self.n_members} member seeds, got {len(member_seeds)}")
        self.params.zero_()
        w1, _, w2, _ = self.weights()
        for member, seed in enumerate(member_seeds):
            gen = torch.Generator().manual_seed(int(seed))
            w1[member] = torch.randn(self.n_inputs, self.n_hidden, generator=gen) * NORMAL_INIT_STDDEV
            w2[member] = torch.randn(self.n_hidden, generator=gen) * NORMAL_INIT_STDDEV

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid outputs (E, N) for inputs x (N, n_in) shared by every member."""
        w1, b1, w2, b2 = self.weights()
        hidden = torch.sigmoid(torch.matmul(x, w1) + b1.unsqueeze(1))
        return (hidden * w2.unsqueeze(1)).sum(-1) + b2

    @torch.no_grad()
    def predict_logits(self, x, chunk_size: int | None = None) -> torch.Tensor:
        """Pre-sigmoid outputs (E, N) for inputs x (N, n_in); unlike the sigmoid they do not saturate at 1.

        Events go through in chunks whose hidden activations (E, chunk, n_hidden) stay near
        PREDICT_HIDDEN_VALUES numbers (128 MB), whatever the ensemble's size.
        """
        x = torch.as_tensor(x, dtype=self.params.dtype, device=self.params.device)
        chunk_size = chunk_size or max(1, PREDICT_HIDDEN_VALUES // (self.n_members * self.n_hidden))
        return torch.cat([self.logits(x[start : start + chunk_size]) for start in range(0, len(x), chunk_size)], dim=1)

    def predict(self, x, chunk_size: int | None = None) -> torch.Tensor:
        """Sigmoid outputs (E, N) for inputs x (N, n_in) shared by every member."""
        return torch.sigmoid(self.predict_logits(x, chunk_size))

    def state_dict(self) -> dict:
        return {
            "params": self.params.detach().cpu(),
            "n_inputs": self.n_inputs,
            "n_hidden": self.n_hidden,
        }

    @classmethod
    def from_state_dict(cls, state: dict, device="cpu") -> "MLPEnsemble":
        params = state["params"]
        ensemble = cls(params.shape[0], int(state["n_inputs"]), int(state["n_hidden"]), device=device, dtype=params.dtype)
        ensemble.params.copy_(params)
        return ensemble


def loss_value(loss: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-member mean loss of sigmoid outputs (E, B) against targets (E, B).

    bce: binary cross entropy, eq. (2.2), with Keras' probability clipping;
    mae: mean absolute error, eq. (A.1);
    llp: |<f_t> - <y_p>| over the batch, eq. (A.2).
    Sums in the paper become means here, as in Keras; this rescales the
    learning rate identically for every member and is what Table 1 used.
    """
    if loss == "bce":
        clipped = outputs.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)
        return -(targets * torch.log(clipped) + (1.0 - targets) * torch.log1p(-clipped)).mean(dim=1)
    if loss == "mae":
        return (targets - outputs).abs().mean(dim=1)
    if loss == "llp":
        return (targets.mean(dim=1) - outputs.mean(dim=1)).abs()
    raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")


def loss_grad_logits(loss: str, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """d(loss_value)/d(logits), for sigmoid outputs, shape (E, B)."""
    batch = logits.shape[1]
    outputs = torch.sigmoid(logits)
    if loss == "bce":
        return (outputs - targets) / batch
    slope = outputs * (1.0 - outputs) / batch
    if loss == "mae":
        return torch.sign(outputs - targets) * slope
    if loss == "llp":
        return torch.sign(outputs.mean(dim=1, keepdim=True) - targets.mean(dim=1, keepdim=True)) * slope
    raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")


def batch_gradient(loss: str, x, targets, w1, b1, w2, b2, event_weights=None) -> torch.Tensor:
    """Flat gradient (E, P) of the batch loss for every member.

    x: (E, B, n_in), targets: (E, B); weights as returned by MLPEnsemble.weights().
    event_weights: optional (E, B) per-event loss weights (Keras' sample_weight:
    the batch loss is the mean of weight * per-event loss; bce and mae only).
    Written as plain tensor algebra so that torch.compile can fuse it.
    """
    hidden = torch.sigmoid(torch.baddbmm(b1.unsqueeze(1), x, w1))
    logits = (hidden * w2.unsqueeze(1)).sum(-1) + b2
    grad_logits = loss_grad_logits(loss, logits, targets)
    if event_weights is not None:
        grad_logits = grad_logits * event_weights
    grad_w2 = (grad_logits.unsqueeze(-1) * hidden).sum(1)
    grad_b2 = grad_logits.sum(dim=1, keepdim=True)
    grad_hidden = grad_logits.unsqueeze(-1) * w2.unsqueeze(1) * hidden * (1.0 - hidden)
    grad_w1 = torch.bmm(x.transpose(1, 2), grad_hidden)
    grad_b1 = grad_hidden.sum(dim=1)
    return torch.cat((grad_w1.flatten(1), grad_b1, grad_w2, grad_b2), dim=1)


ADAM_BETA1, ADAM_BETA2 = 0.9, 0.999


def _training_step(loss, optimizer, split_weights, x, targets, params, m, v, step_size, event_weights=None) -> None:
    """One optimizer step of every member, in place.

    x: (E, B, n_in), targets and event_weights: (E, B).  Adam is Keras' variant,
    with the bias correction folded into step_size; SGD uses step_size as the
    learning rate and ignores m and v.
    """
    grad = batch_gradient(loss, x, targets, *split_weights(params), event_weights)
    if optimizer == "adam":
        m.mul_(ADAM_BETA1).add_(grad, alpha=1.0 - ADAM_BETA1)
        v.mul_(ADAM_BETA2).addcmul_(grad, grad, value=1.0 - ADAM_BETA2)
        params.sub_(step_size * m / (v.sqrt() + KERAS_EPSILON))
    else:
        params.sub_(step_size * grad)


def step_sizes(settings: TrainingSettings, first_step: int, n_steps: int) -> np.ndarray:
    """Learning rate of optimizer steps first_step + 1 ... first_step + n_steps, float32.

    For Adam it carries Keras' bias correction sqrt(1 - beta2^t) / (1 - beta1^t).
    """
    steps = np.arange(first_step + 1, first_step + n_steps + 1, dtype=np.float64)
    if settings.optimizer != "adam":
        return np.full(n_steps, settings.learning_rate, dtype=np.float32)
    return (settings.learning_rate * np.sqrt(1.0 - ADAM_BETA2**steps) / (1.0 - ADAM_BETA1**steps)).astype(np.float32)


BACKENDS = ("auto", "kernel", "torch")
# Members whose epoch shuffles the CPU kernel holds at once (each is an int32 array of all events).
KERNEL_MEMBERS_PER_CALL = 64


def resolve_backend(backend: str, device) -> str:
    """'auto' takes the compiled CPU kernel on the CPU when it was built, the torch step otherwise (and on GPUs)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    on_cpu = torch.device(device).type == "cpu"
    if backend == "kernel" and not (on_cpu and cpu_kernel.available()):
        raise RuntimeError("backend 'kernel' needs device cpu and the compiled kernel (pip install -e . with a C compiler)")
    if backend == "auto":
        return "kernel" if on_cpu and cpu_kernel.available() else "torch"
    return backend


def _shuffle_into(orders: torch.Tensor, generators) -> None:
    """A fresh permutation of the events into each row of orders (members, N), one generator per member."""
    for row, generator in zip(orders, generators):
        torch.randperm(orders.shape[1], generator=generator, dtype=torch.int32, out=row)


def train_ensemble(
    x_train,
    group_train,
    group_targets,
    settings: TrainingSettings,
    member_seeds,
    *,
    device="cpu",
    backend: str = "auto",
    compile_step: bool = False,
    progress=None,
    event_weights=None,
) -> MLPEnsemble:
    """Train one network per member seed and return the trained ensemble.

    x_train: (N, n_in) float inputs, already standardised.
    group_train: (N,) int group index of every event.
    group_targets: (E, G) target of each group for each member; the target of
        event i for member e is group_targets[e, group_train[i]].
    member_seeds: E integers; member e's initial weights and epoch shuffles
        depend on member_seeds[e] alone, so a member trains identically
        whatever ensemble it is part of.
    backend: 'kernel' trains on the CPU with the compiled kernel (cpu_kernel.py,
        several times faster than the torch step there, one thread per core
        torch was given); 'torch' runs the batched torch step on `device`;
        'auto' picks the kernel on the CPU when it was built.  Both compute the
        same networks from the same initialisation and shuffles, up to the
        order of float additions.
    compile_step: fuse the torch step with torch.compile (faster on CPU for
        large ensembles, about 15 s of compilation up front).
    event_weights: optional (N,) per-event loss weights shared by every member
        (bce or mae; the proportion loss has no per-event term to weight).
    """
    device = torch.device(device)
    backend = resolve_backend(backend, device)
    x_train = torch.as_tensor(np.asarray(x_train), dtype=torch.float32, device=device).contiguous()
    group_train = torch.as_tensor(np.asarray(group_train), dtype=torch.long, device=device).contiguous()
    group_targets = torch.as_tensor(np.asarray(group_targets), dtype=torch.float32, device=device).contiguous()
    n_members = len(member_seeds)
    if group_targets.dim() != 2 or group_targets.shape[0] != n_members:
        raise ValueError(f"group_targets must have shape ({n_members}, n_groups), got {tuple(group_targets.shape)}")
    if len(x_train) != len(group_train):
        raise ValueError(f"{len(x_train)} training events but {len(group_train)} group indices")
    if len(x_train) == 0:
        raise ValueError("no training events")
    if group_train.min() < 0 or group_train.max() >= group_targets.shape[1]:
        raise ValueError(f"group indices must lie in [0, {group_targets.shape[1]})")
    if event_weights is not None:
        if settings.loss == "llp":
            raise ValueError("event weights need a per-event loss (bce or mae), not llp")
        event_weights = torch.as_tensor(np.asarray(event_weights), dtype=torch.float32, device=device).contiguous()
        if event_weights.shape != (len(x_train),) or not bool(torch.all(torch.isfinite(event_weights) & (event_weights >= 0))):
            raise ValueError(f"event_weights must be {len(x_train)} finite non-negative numbers")

    ensemble = MLPEnsemble(n_members, x_train.shape[1], settings.n_hidden, device=device)
    ensemble.initialise(member_seeds)
    shuffle_generators = [torch.Generator().manual_seed(int(seed) + 1) for seed in member_seeds]
    train = _train_with_kernel if backend == "kernel" else functools.partial(_train_with_torch, compile_step=compile_step)
    train(ensemble, x_train, group_train, group_targets, event_weights, settings, shuffle_generators, progress)
    return ensemble


def _train_with_kernel(ensemble, x_train, group_train, group_targets, event_weights, settings, generators, progress):
    params = ensemble.params.numpy()  # shares memory: the kernel updates the ensemble in place
    adam_m, adam_v = np.zeros_like(params), np.zeros_like(params)
    events, targets = cpu_kernel.pack_events(x_train.numpy(), group_train.numpy()), group_targets.numpy()
    weights = None if event_weights is None else event_weights.numpy()
    n_events, n_members = len(events), ensemble.n_members
    steps_per_epoch = -(-n_events // settings.batch_size)
    orders = torch.empty(min(n_members, KERNEL_MEMBERS_PER_CALL), n_events, dtype=torch.int32)
    for epoch in range(settings.epochs):
        sizes = step_sizes(settings, epoch * steps_per_epoch, steps_per_epoch)
        for start in range(0, n_members, KERNEL_MEMBERS_PER_CALL):
            members = slice(start, min(start + KERNEL_MEMBERS_PER_CALL, n_members))
            order = orders[: members.stop - members.start]
            _shuffle_into(order, generators[members])
            cpu_kernel.train_epoch(
                events, targets[members], order.numpy(), sizes, params[members], adam_m[members], adam_v[members],
                n_hidden=settings.n_hidden, batch_size=settings.batch_size, loss=settings.loss,
                optimizer=settings.optimizer, event_weights=weights, threads=torch.get_num_threads(),
            )
        if progress is not None:
            progress(epoch)


def _train_with_torch(ensemble, x_train, group_train, group_targets, event_weights, settings, generators, progress,
                      compile_step=False):
    device = ensemble.params.device
    params = ensemble.params
    m, v = torch.zeros_like(params), torch.zeros_like(params)
    step_size = torch.zeros((), device=device)
    step = functools.partial(_training_step, settings.loss, settings.optimizer, ensemble.weights)
    # Only full batches go through the compiled kernel; a short last batch
    # would force a recompilation for its shape.
    full_batch_step = torch.compile(step, dynamic=False) if compile_step else step
    n_events, batch, n_members = len(x_train), settings.batch_size, ensemble.n_members
    steps_per_epoch = -(-n_events // batch)
    orders = torch.empty(n_members, n_events, dtype=torch.int32)
    for epoch in range(settings.epochs):
        _shuffle_into(orders, generators)
        order = orders.to(device)
        sizes = step_sizes(settings, epoch * steps_per_epoch, steps_per_epoch)
        for step_index, start in enumerate(range(0, n_events, batch)):
            step_size.fill_(float(sizes[step_index]))
            index = order[:, start : start + batch].long()  # (E, B): each member's events of this step
            x = x_train.index_select(0, index.flatten()).view(n_members, index.shape[1], -1)
            targets = torch.gather(group_targets, 1, group_train[index])
            run_step = full_batch_step if index.shape[1] == batch else step
            if event_weights is None:
                run_step(x, targets, params, m, v, step_size)
            else:
                run_step(x, targets, params, m, v, step_size, event_weights[index])
        if progress is not None:
            progress(epoch)


@torch.no_grad()
def evaluate_loss(ensemble: MLPEnsemble, x, groups, group_targets, loss: str, chunk_size: int | None = None) -> np.ndarray:
    """Per-member loss over a whole sample (for llp: over the whole sample as one batch)."""
    device = ensemble.params.device
    groups = torch.as_tensor(np.asarray(groups), dtype=torch.long, device=device)
    group_targets = torch.as_tensor(np.asarray(group_targets), dtype=torch.float32, device=device)
    outputs = ensemble.predict(x, chunk_size=chunk_size)
    return loss_value(loss, outputs, group_targets[:, groups]).cpu().numpy()
