"""CWoLa training of pseudo-experiments: signal region against sidebands, scored on the fixed test set.

Per pseudo-experiment, one dataset in (rows of the samples' image files, labelled SR = 1 and SB = 0), a model
and a tidy metrics table out: test AUC against true signal, and Eq. (3.1)'s significance after cuts at fixed
background efficiencies.  One job trains every pseudo-experiment of a (method, benchmark, resolution) as
ensembles (`ml.fit.fit_ensemble`): the test set and the pretrained network are read once, the images of an
ensemble's events are gathered once, and each pseudo-experiment still has its own seed, its own early stopping
and its own output files.  `ensemble_memory_gb` bounds the images an ensemble holds; the job's
pseudo-experiments are packed into as few ensembles as fit.
With a pretrained model (transfer or meta-transfer learning) only the dense head is trained, on the frozen
extractor's features.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from workflow_scripts.analysis import images
from workflow_scripts.core import files
from workflow_scripts.core.devices import resolve_device, set_cpu_threads
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.ml import metrics
from workflow_scripts.ml.fit import FitSettings, MemberData, fit_ensemble, predict, to_device
from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, PairHead, load_model, save_model
from workflow_scripts.studies.cwola.datasets import SOURCES


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
        rows = table.image_row.to_numpy()[mask]
        if len(rows) and rows.max() >= len(image_map):
            raise IndexError(f"dataset refers to row {rows.max()} of {image_files[source]}, which has {len(image_map)} events")
        order = np.argsort(rows)  # memory maps read fastest in increasing row order
        part = np.empty((len(rows), *shape), dtype=images.IMAGE_DTYPE)
        part[order] = image_map[rows[order]]
        gathered[mask] = part
    return images.unit_intensity(gathered) if unit_intensity else gathered


def scoring_points(dataset_meta: dict, identifiers: dict) -> list[tuple[float, dict]]:
    """The (injected S/sqrt(B), event counts) a training is scored at: its own pseudo-experiment's, or for the
    supervised baseline, whose network does not depend on the injection, every configured one."""
    if "counts_by_injection" in dataset_meta:
        return [(float(injection), counts) for injection, counts in dataset_meta["counts_by_injection"].items()]
    return [(float(identifiers["injection"]), dataset_meta["counts"])]


def significance_table(test_scores, test_is_signal, points, background_efficiencies) -> pd.DataFrame:
    """Eq. (3.1) after cuts at fixed background efficiencies, N_s = eps_s S and N_b = eps_b B, at each scoring point."""
    signal_efficiencies = {efficiency: metrics.signal_efficiency_at(test_scores, test_is_signal, efficiency)
                           for efficiency in background_efficiencies}
    rows = []
    for injection, counts in points:
        n_signal_sr, n_background_sr = counts["signal_SR"], counts["background_SR"]
        for efficiency, signal_efficiency in signal_efficiencies.items():
            rows.append({"injection": injection, **{f"n_{key}": value for key, value in counts.items()},
                         "background_efficiency": efficiency, "signal_efficiency": signal_efficiency,
                         "significance_before": float(metrics.discovery_significance(n_signal_sr, n_background_sr)),
                         "significance_after": float(metrics.discovery_significance(signal_efficiency * n_signal_sr,
                                                                                    efficiency * n_background_sr))})
    return pd.DataFrame(rows)


def roc_table(test_scores, test_is_signal) -> pd.DataFrame:
    """The test ROC on the fixed signal-efficiency grid the significance improvement curves are drawn on."""
    is_signal = np.asarray(test_is_signal).astype(bool)
    return pd.DataFrame({"signal_efficiency": metrics.SIC_SIGNAL_GRID,
                         "background_efficiency": metrics.background_efficiency_on_grid(test_scores, is_signal),
                         "n_test_background": int((~is_signal).sum())})


@dataclasses.dataclass
class SharedInputs:
    """What every pseudo-experiment of one (benchmark, resolution, method) shares, read once per job: the image
    files, the fixed test set and its images (or their frozen features), and the pretrained network."""

    image_files: dict
    test: pd.DataFrame
    test_x: torch.Tensor
    device: torch.device
    pretrained: tuple | None  # (model, payload) of the network fine-tuning starts from


def load_shared(test_path, background_images, signal_images, device: str = "auto", unit_intensity: bool = True,
                pretrained=None) -> SharedInputs:
    test, _ = files.read_table(test_path)
    image_files = {"background": background_images, "signal": signal_images}
    torch_device = resolve_device(device)
    test_x = to_device(gather_images(test, image_files, unit_intensity), torch_device)
    source = load_model(pretrained, torch_device) if pretrained is not None else None
    if source is not None:
        # The frozen extractor gives every event the same features in every epoch: compute them once.
        test_x = source[0].pair_features(test_x)
    return SharedInputs(image_files, test, test_x, torch_device, source)


@dataclasses.dataclass
class Experiment:
    """One pseudo-experiment (or supervised baseline) of a job: its dataset table and metadata, and the
    identifiers naming its training (they also give its seed)."""

    dataset: pd.DataFrame
    meta: dict
    identifiers: dict

    @classmethod
    def read(cls, path, identifiers: dict) -> Experiment:
        dataset, meta = files.read_table(path)
        return cls(dataset, meta, identifiers)


def _event_keys(tables: list[pd.DataFrame]) -> tuple[list[np.ndarray], int]:
    """One integer per event, (source, image_row) -> source code x stride + image_row, for each table; and the stride."""
    stride = 1 + max(int(table.image_row.max()) if len(table) else 0 for table in tables)
    keys = []
    for table in tables:
        unknown = set(table.source.unique()) - set(SOURCES)
        if unknown:
            raise KeyError(f"dataset sources {sorted(unknown)} are none of {SOURCES}")
        codes = pd.Categorical(table.source, categories=SOURCES).codes.astype(np.int64)
        keys.append(codes * stride + table.image_row.to_numpy(np.int64))
    return keys, stride


def pool_events(tables: list[pd.DataFrame]) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The distinct events (source, image_row) of several datasets, ordered by source and row, and each table's
    rows as positions in that pool: the pseudo-experiments of a job draw from the same samples and overlap."""
    keys, stride = _event_keys(tables)
    pooled, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    pool = pd.DataFrame({"source": np.asarray(SOURCES)[pooled // stride], "image_row": pooled % stride})
    return pool, np.split(inverse, np.cumsum([len(key) for key in keys])[:-1])


def ensembles_within(tables: list[pd.DataFrame], bytes_per_event: int, budget_bytes: float) -> list[list[int]]:
    """Consecutive groups of the tables whose distinct events, pooled, fit in `budget_bytes`; a table that alone
    needs more forms a group of its own."""
    groups, pooled = [], np.empty(0, dtype=np.int64)
    for index, keys in enumerate(np.unique(keys) for keys in _event_keys(tables)[0]):
        grown = np.union1d(pooled, keys)
        if groups and len(grown) * bytes_per_event <= budget_bytes:
            groups[-1].append(index)
            pooled = grown
        else:
            groups.append([index])
            pooled = keys
    return groups


def train_ensemble(experiments: list[Experiment], shared: SharedInputs, network: CNNSettings, settings: FitSettings,
                   background_efficiencies, global_seed: int, unit_intensity: bool = True,
                   method: str = "cwola", log=print) -> list[tuple]:
    """Train pseudo-experiments together (`fit_ensemble`); return (model, metrics table, ROC table, fit result) of each.

    The images of all their events are gathered once, as one pool that every member indexes.  Each member's
    seed follows from its identifiers alone (initial weights, shuffles), so it trains the same network whichever
    others share its ensemble or job.  With a pretrained network in `shared` (from `pretrain`, or from
    meta-training with its scaling and shifting), this is the fine-tuning step: the feature extractor is loaded
    and frozen, the pool becomes its cached outputs, and fresh dense layers are trained on them.
    """
    torch_device = shared.device
    pool, member_rows = pool_events([experiment.dataset for experiment in experiments])
    pool_x = to_device(gather_images(pool, shared.image_files, unit_intensity), torch_device)
    npix = pool_x.shape[-1]
    if shared.pretrained is not None:
        source, payload = shared.pretrained
        if (payload["npix"], CNNSettings.from_dict(payload["settings"])) != (npix, network):
            raise ValueError(f"the pretrained model has npix {payload['npix']} and {payload['settings']}, "
                             f"this training {npix} and {network.to_dict()}")
        pool_x = source.pair_features(pool_x)
    models, trained, members, seeds = [], [], [], []
    for experiment, rows in zip(experiments, member_rows):
        seeds.append(derive_seed(global_seed, "cwola-train", *experiment.identifiers.values()))
        torch.manual_seed(seeds[-1])
        model = JetPairClassifier(npix, network).to(torch_device)
        models.append(model)
        trained.append(model)
        if shared.pretrained is not None:
            model.load_state_dict(source.state_dict())
            model.freeze_feature_extractor()
            model.reset_head()
            trained[-1] = PairHead(model.jet_network.head)
        split, labels = experiment.dataset.split.to_numpy(), experiment.dataset.label.to_numpy()
        train, validation = split == "train", split == "validation"
        members.append(MemberData(to_device(rows[train], torch_device), to_device(labels[train], torch_device),
                                  to_device(rows[validation], torch_device), to_device(labels[validation], torch_device)))
    results = fit_ensemble(trained, pool_x, pool_x, members, settings, seeds, log)
    mixed = settings.uses_mixed_precision(torch_device)
    test_is_signal = shared.test.is_signal.to_numpy()
    outcomes = []
    for experiment, model, network_trained, member, seed, result in zip(experiments, models, trained, members, seeds,
                                                                        results):
        scores = predict(network_trained, shared.test_x, mixed_precision=mixed).cpu().numpy()
        table = significance_table(scores, test_is_signal, scoring_points(experiment.meta, experiment.identifiers),
                                   background_efficiencies)
        identifiers = experiment.identifiers
        labels = {key: value for key, value in identifiers.items() if key != "injection"} | {"method": method}
        summary = {**labels, "npix": npix,
                   "unit_intensity": unit_intensity, "seed": seed, "device": torch_device.type,
                   "n_train": len(member.train_rows), "n_validation": len(member.validation_rows),
                   "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                   "best_validation_loss": result.best_validation_loss, "train_seconds": result.seconds,
                   "test_auc": metrics.auc(scores, test_is_signal)}
        for column, value in reversed(list(summary.items())):
            table.insert(0, column, value)
        roc = roc_table(scores, test_is_signal)
        for column, value in reversed(list({**identifiers, "method": method}.items())):
            roc.insert(0, column, value)
        outcomes.append((model, table, roc, result))
    return outcomes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cwola.training", description=__doc__.split("\n")[0])
    parser.add_argument("--test-set", type=Path, required=True)
    parser.add_argument("--background-images", type=Path, required=True)
    parser.add_argument("--signal-images", type=Path, required=True)
    parser.add_argument("--pretrained", type=Path, help="transfer learning: freeze this model's feature extractor")
    parser.add_argument("--settings", required=True,
                        help="JSON: network, fit, background_efficiencies, method, unit_intensity, seed, device,"
                             " ensemble_memory_gb")
    parser.add_argument("--experiments", required=True,
                        help="JSON list, one entry per pseudo-experiment trained in this job: dataset, identifiers (the"
                             " columns naming the training), model, metrics, roc, history (the output files)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings, job = json.loads(args.settings), json.loads(args.experiments)
    set_cpu_threads(args.threads)
    unit_intensity = settings["unit_intensity"]
    shared = load_shared(args.test_set, args.background_images, args.signal_images, settings.get("device", "auto"),
                         unit_intensity, args.pretrained)
    experiments = [Experiment.read(entry["dataset"], entry["identifiers"]) for entry in job]
    event_shape = images.load_images(args.background_images).shape[1:]
    bytes_per_event = int(np.prod(event_shape)) * np.dtype(images.IMAGE_DTYPE).itemsize
    groups = ensembles_within([experiment.dataset for experiment in experiments], bytes_per_event,
                              settings["ensemble_memory_gb"] * 1e9)
    print(f"{len(experiments)} trainings in {len(groups)} ensembles of {[len(group) for group in groups]}", flush=True)
    for group in groups:
        outcomes = train_ensemble([experiments[index] for index in group], shared,
                                  CNNSettings.from_dict(settings["network"]), FitSettings(**settings["fit"]),
                                  settings["background_efficiencies"], settings["seed"], unit_intensity,
                                  settings["method"])
        for index, (model, table, roc, result) in zip(group, outcomes):
            entry = job[index]
            identifiers = entry["identifiers"]
            save_model(model, entry["model"], {"identifiers": identifiers, "best_epoch": result.best_epoch,
                                               "unit_intensity": unit_intensity})
            files.write_csv(result.history.assign(**identifiers), entry["history"])
            files.write_csv(table, entry["metrics"])
            files.write_csv(roc, entry["roc"])
            print(table.to_string(index=False), flush=True)


if __name__ == "__main__":
    main()
