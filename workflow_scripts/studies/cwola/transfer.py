"""Transfer learning's first step (CWoLa paper, section 4): pure background against pure signals of the other
benchmarks, the held-out benchmark never seen.  Fine-tuning on the held-out benchmark is
`workflow_scripts.studies.cwola.training` with ``--pretrained``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from workflow_scripts.core import files
from workflow_scripts.core.devices import resolve_device, set_cpu_threads
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.ml.fit import FitSettings, fit, to_device
from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, save_model
from workflow_scripts.studies.cwola.training import gather_images


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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cwola.transfer", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--images", required=True, help='JSON: the image file of every source in the dataset, {"sample": path}')
    parser.add_argument("--settings", required=True, help="JSON: network, fit, held_out, unit_intensity, seed, device")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = json.loads(args.settings)
    set_cpu_threads(args.threads)
    held_out, unit_intensity = settings["held_out"], settings["unit_intensity"]
    model, result, seed = pretrain(args.dataset, json.loads(args.images), CNNSettings.from_dict(settings["network"]),
                                   FitSettings(**settings["fit"]), settings["seed"], held_out, settings.get("device", "auto"),
                                   unit_intensity)
    save_model(model, args.model, {"held_out": held_out, "best_epoch": result.best_epoch, "seed": seed,
                                   "unit_intensity": unit_intensity})
    files.write_csv(result.history.assign(held_out=held_out), args.history)
    print(f"best epoch {result.best_epoch}, validation loss {result.best_validation_loss:.5f}")


if __name__ == "__main__":
    main()
