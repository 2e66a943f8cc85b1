"""Training the jet-image CNN: early stopping on validation loss, best model restored, GPU or CPU.

`fit` is the paper's Keras procedure (Adam, fixed batch size, EarlyStopping
with patience, the checkpoint of the best validation loss kept) in PyTorch.
The whole dataset is moved to the device once; on CUDA the forward pass runs
under bfloat16 autocast, and the same code runs on CPU in float32.
`train_cwola` is the stage entry point: one pseudo-experiment's dataset in,
a model and a tidy metrics table out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from workflow_scripts import files, images, metrics
from workflow_scripts.devices import resolve_device, set_cpu_threads
from workflow_scripts.models import CNNSettings, JetPairClassifier, PairHead, load_model, product_bce, save_model
from workflow_scripts.seeding import derive_seed


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


# --- the CWoLa stage -------------------------------------------------------------------------------------------

def gather_images(table: pd.DataFrame, image_files: dict[str, Path], unit_intensity: bool = False) -> np.ndarray:
    """The images a dataset table refers to, in table order, read from the memory-mapped sample files."""
    sources = sorted(set(table.source))
    missing = [source for source in sources if source not in image_files]
    if missing:
        raise KeyError(f"no image file given for sources {missing}")
    maps = {source: images.load_images(image_files[source]) for source in sources}
    shape = next(iter(maps.values())).shape[1:]
    gathered = np.empty((len(table), *shape), dtype=images.IMAGE_DTYPE)
    for source, image_map in maps.items():
        mask = (table.source == source).to_numpy()
        rows = table.row.to_numpy()[mask]
        if len(rows) and rows.max() >= len(image_map):
            raise IndexError(f"dataset refers to row {rows.max()} of {image_files[source]}, which has {len(image_map)} events")
        order = np.argsort(rows)  # memory maps read fastest in increasing row order
        part = np.empty((len(rows), *shape), dtype=images.IMAGE_DTYPE)
        part[order] = image_map[rows[order]]
        gathered[mask] = part
    return images.unit_intensity(gathered) if unit_intensity else gathered


def significance_table(test_scores, test_is_signal, n_signal_sr: int, n_background_sr: int,
                       background_efficiencies) -> pd.DataFrame:
    """Eq. (3.1) after cuts at fixed background efficiencies: N_s = eps_s S, N_b = eps_b B."""
    rows = []
    for efficiency in background_efficiencies:
        signal_efficiency = metrics.signal_efficiency_at(test_scores, test_is_signal, efficiency)
        rows.append({"background_efficiency": efficiency, "signal_efficiency": signal_efficiency,
                     "significance_before": float(metrics.discovery_significance(n_signal_sr, n_background_sr)),
                     "significance_after": float(metrics.discovery_significance(signal_efficiency * n_signal_sr,
                                                                                efficiency * n_background_sr))})
    return pd.DataFrame(rows)


def pretrain(dataset_path, image_files: dict[str, Path], network: CNNSettings, settings: FitSettings, global_seed: int,
             held_out: str, device: str = "auto", unit_intensity: bool = False) -> tuple:
    """Transfer learning's first step: pure background against pure signals of the other benchmarks."""
    dataset, _ = files.read_table(dataset_path)
    torch_device = resolve_device(device)
    seed = derive_seed(global_seed, "transfer-pretrain", held_out)
    torch.manual_seed(seed)
    train = dataset[dataset.split == "train"]
    validation = dataset[dataset.split == "validation"]
    train_x = to_device(gather_images(train, image_files, unit_intensity), torch_device)
    model = JetPairClassifier(train_x.shape[-1], network).to(torch_device)
    result = fit(model, train_x, to_device(train.is_signal.to_numpy(), torch_device),
                 to_device(gather_images(validation, image_files, unit_intensity), torch_device),
                 to_device(validation.is_signal.to_numpy(), torch_device), settings, seed)
    return model, result, seed


def train_cwola(dataset_path, test_path, background_images, signal_images, network: CNNSettings, settings: FitSettings,
                background_efficiencies, global_seed: int, identifiers: dict, device: str = "auto",
                unit_intensity: bool = True, pretrained=None, method: str = "cwola") -> tuple:
    """Train one pseudo-experiment; return (model, metrics table, fit result).

    With `pretrained` (a model file from `pretrain`, or from meta-training with its scaling and shifting),
    this is the fine-tuning step: the feature extractor is loaded and frozen and fresh dense layers are
    trained on its cached outputs.
    """
    dataset, dataset_meta = files.read_table(dataset_path)
    test, _ = files.read_table(test_path)
    image_files = {"background": background_images, "signal": signal_images}
    torch_device = resolve_device(device)
    seed = derive_seed(global_seed, "cwola-train", *identifiers.values())
    torch.manual_seed(seed)
    train = dataset[dataset.split == "train"]
    validation = dataset[dataset.split == "validation"]
    train_x = to_device(gather_images(train, image_files, unit_intensity), torch_device)
    validation_x = to_device(gather_images(validation, image_files, unit_intensity), torch_device)
    test_x = to_device(gather_images(test, image_files, unit_intensity), torch_device)
    npix = train_x.shape[-1]
    model = JetPairClassifier(npix, network).to(torch_device)
    trained = model
    if pretrained is not None:
        source, payload = load_model(pretrained, torch_device)
        if (payload["npix"], CNNSettings.from_dict(payload["settings"])) != (npix, network):
            raise ValueError(f"pretrained model {pretrained} has npix {payload['npix']} and {payload['settings']}, "
                             f"this training {npix} and {network.to_dict()}")
        model.load_state_dict(source.state_dict())
        model.freeze_feature_extractor()
        model.reset_head()
        # The frozen extractor gives every event the same features in every epoch: compute them once.
        train_x, validation_x, test_x = (model.pair_features(data) for data in (train_x, validation_x, test_x))
        trained = PairHead(model.jet_network.head)
    result = fit(trained, train_x, to_device(train.label.to_numpy(), torch_device), validation_x,
                 to_device(validation.label.to_numpy(), torch_device), settings, seed)
    mixed = torch_device.type == "cuda" if settings.mixed_precision is None else settings.mixed_precision
    scores = predict(trained, test_x, mixed_precision=mixed).cpu().numpy()
    counts = dataset_meta["counts"]
    table = significance_table(scores, test.is_signal.to_numpy(), counts["signal_SR"], counts["background_SR"],
                               background_efficiencies)
    summary = {**identifiers, "method": method, "npix": npix,
               "unit_intensity": unit_intensity, "seed": seed, "device": torch_device.type,
               "n_train": len(train), "n_validation": len(validation),
               **{f"n_{key}": value for key, value in counts.items()},
               "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
               "best_validation_loss": result.best_validation_loss, "train_seconds": result.seconds,
               "test_auc": metrics.auc(scores, test.is_signal.to_numpy())}
    for column, value in reversed(list(summary.items())):
        table.insert(0, column, value)
    return model, table, result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.training", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cwola = sub.add_parser("cwola", help="train one CWoLa pseudo-experiment")
    cwola.add_argument("--dataset", type=Path, required=True)
    cwola.add_argument("--test-set", type=Path, required=True)
    cwola.add_argument("--background-images", type=Path, required=True)
    cwola.add_argument("--signal-images", type=Path, required=True)
    cwola.add_argument("--network", required=True, help="CNN settings as JSON (filters, kernels, pool_after, dense)")
    cwola.add_argument("--fit", required=True, help="fit settings as JSON (learning_rate, batch_size, patience, max_epochs)")
    cwola.add_argument("--background-efficiencies", type=float, nargs="+", required=True)
    cwola.add_argument("--identifiers", required=True, help="JSON of the columns naming this training (benchmark, ...)")
    cwola.add_argument("--unit-intensity", action="store_true", help="divide each jet image by its total pT")
    cwola.add_argument("--seed", type=int, required=True)
    cwola.add_argument("--device", default="auto")
    cwola.add_argument("--threads", type=int, default=1)
    cwola.add_argument("--model", type=Path, required=True)
    cwola.add_argument("--metrics", type=Path, required=True)
    cwola.add_argument("--history", type=Path, required=True)
    cwola.add_argument("--pretrained", type=Path, help="transfer learning: freeze this model's feature extractor")
    cwola.add_argument("--method", default="cwola", help="name of the method in the metrics (cwola, transfer, meta)")
    pre = sub.add_parser("pretrain", help="transfer learning: pure background against the other benchmarks' signals")
    pre.add_argument("--dataset", type=Path, required=True)
    pre.add_argument("--images", nargs="+", required=True, help="SAMPLE=PATH image files of every source in the dataset")
    pre.add_argument("--network", required=True)
    pre.add_argument("--fit", required=True)
    pre.add_argument("--held-out", required=True)
    pre.add_argument("--unit-intensity", action="store_true")
    pre.add_argument("--seed", type=int, required=True)
    pre.add_argument("--device", default="auto")
    pre.add_argument("--threads", type=int, default=1)
    pre.add_argument("--model", type=Path, required=True)
    pre.add_argument("--history", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    set_cpu_threads(args.threads)
    if args.command == "pretrain":
        image_files = dict(item.split("=", 1) for item in args.images)
        model, result, seed = pretrain(args.dataset, image_files, CNNSettings.from_dict(json.loads(args.network)),
                                       FitSettings(**json.loads(args.fit)), args.seed, args.held_out, args.device,
                                       args.unit_intensity)
        save_model(model, args.model, {"held_out": args.held_out, "best_epoch": result.best_epoch, "seed": seed,
                                       "unit_intensity": args.unit_intensity})
        files.write_csv(result.history.assign(held_out=args.held_out), args.history)
        print(f"best epoch {result.best_epoch}, validation loss {result.best_validation_loss:.5f}")
        return
    identifiers = json.loads(args.identifiers)
    model, table, result = train_cwola(args.dataset, args.test_set, args.background_images, args.signal_images,
                                       CNNSettings.from_dict(json.loads(args.network)), FitSettings(**json.loads(args.fit)),
                                       args.background_efficiencies, args.seed, identifiers, args.device, args.unit_intensity,
                                       args.pretrained, args.method)
    save_model(model, args.model, {"identifiers": identifiers, "best_epoch": result.best_epoch,
                                   "unit_intensity": args.unit_intensity})
    files.write_csv(result.history.assign(**identifiers), args.history)
    files.write_csv(table, args.metrics)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
