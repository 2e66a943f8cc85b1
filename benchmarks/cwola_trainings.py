"""CWoLa trainings per hour on a CPU: one pseudo-experiment per job against one job for 10 (or more).

Run by hand:  python benchmarks/cwola_trainings.py [--experiments 10 90] [--npix 25] [--epochs 5] [--vectorise]

Both sides run the pipeline's own command (`python -m workflow_scripts.studies.cwola.training`), as the
workflow's `train_cwola` rule does, on the same pseudo-experiments with the same network and the same fixed
number of epochs (no early stopping, so both do the same work): N processes of one pseudo-experiment each, one
after another, against one process training all N as one ensemble (`fit_ensemble`; with --vectorise also in
one vmap step, as on CUDA).  The inputs are toy jet images (one-prong background,
two-prong signal) at the default run's luminosity (500 signal-region background events, S/sqrt(B) = 4) with a
test set of 2 x 1000 events; only the training commands are timed.  One thread per process.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workflow_scripts.core import files
from workflow_scripts.studies.cwola import datasets


def write_inputs(directory: Path, n_experiments: int, npix: int, seed: int = 3) -> list[Path]:
    rng = np.random.default_rng(seed)
    for name, n_sr, n_sb, two_prong in (("background", 4000, 4800, False), ("signal", 2500, 600, True)):
        files.write_table(pd.DataFrame({"chunk": 0, "event_in_chunk": np.arange(n_sr + n_sb),
                                        "region": ["SR"] * n_sr + ["SB"] * n_sb}), directory / f"{name}.parquet", {})
        images = rng.exponential(0.2, size=(n_sr + n_sb, 2, npix, npix)).astype(np.float32)
        centre = npix // 2
        images[:, :, centre, centre] += 50.0
        if two_prong:
            images[:, :, centre, min(centre + 4, npix - 1)] += 30.0
        np.save(directory / f"{name}.npy", images)
    datasets.write_test_set(directory / "background.parquet", directory / "signal.parquet", 1000, seed, "background", "signal",
                            directory / "test.parquet")
    paths = []
    for trial in range(n_experiments):
        paths.append(directory / f"trial{trial}.parquet")
        datasets.write_pseudo_experiment(directory / "background.parquet", directory / "signal.parquet",
                                         directory / "test.parquet", 500, 4.0, trial, 0.2, seed, "background", "signal",
                                         paths[-1])
    return paths


def command(directory: Path, dataset_paths, epochs: int, output: Path, vectorise: bool = False) -> list[str]:
    settings = {"network": {"filters": [16, 16, 32, 32], "kernels": [5, 5, 3, 3], "pool_after": [True, True, True, False],
                            "dense": [64, 64, 64]},
                "fit": {"learning_rate": 0.001, "batch_size": 500, "patience": epochs + 1, "max_epochs": epochs,
                        "vectorise": vectorise},
                "background_efficiencies": [0.2, 0.05], "method": "cwola", "unit_intensity": False, "seed": 1,
                "device": "cpu", "ensemble_memory_gb": 2}
    experiments = [{"dataset": str(path), "identifiers": {"benchmark": "signal", "injection": 4.0, "trial": index},
                    **{kind: str(output / f"{path.stem}_{kind}.{extension}")
                       for kind, extension in (("model", "pt"), ("metrics", "csv"), ("roc", "csv"), ("history", "csv"))}}
                   for index, path in dataset_paths]
    return [sys.executable, "-m", "workflow_scripts.studies.cwola.training", "--test-set", str(directory / "test.parquet"),
            "--background-images", str(directory / "background.npy"), "--signal-images", str(directory / "signal.npy"),
            "--settings", json.dumps(settings), "--experiments", json.dumps(experiments), "--threads", "1"]


def timed(commands) -> float:
    environment = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    start = time.perf_counter()
    for arguments in commands:
        subprocess.run(arguments, check=True, capture_output=True, env=environment)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", type=int, nargs="+", default=[10], help="pseudo-experiments per job")
    parser.add_argument("--npix", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of every training (fixed: no early stopping)")
    parser.add_argument("--vectorise", action="store_true",
                        help="also time the one job with its members in one vmap step (the CUDA default) on the CPU")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        paths = list(enumerate(write_inputs(directory, max(args.experiments), args.npix)))
        for n in args.experiments:
            one_per_job = timed([command(directory, [item], args.epochs, directory / "alone") for item in paths[:n]])
            one_job = timed([command(directory, paths[:n], args.epochs, directory / "together")])
            rows.append({"experiments": n, "npix": args.npix, "epochs": args.epochs,
                         "one_per_job_per_hour": 3600 * n / one_per_job, "one_job_per_hour": 3600 * n / one_job,
                         "ratio": one_per_job / one_job})
            if args.vectorise:
                vectorised = timed([command(directory, paths[:n], args.epochs, directory / "vectorised", True)])
                rows[-1] |= {"vectorised_per_hour": 3600 * n / vectorised, "vectorised_ratio": one_per_job / vectorised}
            print(pd.DataFrame(rows[-1:]).round(1).to_string(index=False), flush=True)
    print(pd.DataFrame(rows).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
