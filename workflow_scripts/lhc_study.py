"""Weak against full supervision at the LHC: gluino pairs against Z(->nu nu)+jets (Cohen et al., section 5).

Inputs are MET and the pT of up to 10 jets (zero-padded): 11 features,
standardised on the training set.  10 % of the events form the test set; the
rest is split 80 % training / 20 % validation.  Weak supervision sees two
sets: set A holds 80 % of the background and 40 % of the signal, set B the
rest, each labelled with its signal fraction computed from the actual counts
(the paper's 0.47 and 0.83 follow from its sample sizes).  Networks, seeds and
ensembles are the toy study's (`toy_study.train_runs`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd

from workflow_scripts import ensemble, files, metrics, weights
from workflow_scripts.devices import set_cpu_threads
from workflow_scripts.toy_study import ToyRun, train_runs

N_JETS = 10
FEATURES = ("met_gev", *(f"jet{index}_pt_gev" for index in range(N_JETS)))
SIGNAL_EFFICIENCY_AT = 0.01  # Table 3: signal efficiency at 1 % background efficiency


def feature_table(events: ak.Array) -> pd.DataFrame:
    """MET and the pT of the 10 leading jets, zero where an event has fewer jets."""
    jets = ak.fill_none(ak.pad_none(events.jet_pt[:, :N_JETS], N_JETS, clip=True), 0.0)
    columns = {"met_gev": ak.to_numpy(events.met_gev).astype(np.float64)}
    columns |= {f"jet{index}_pt_gev": ak.to_numpy(jets[:, index]).astype(np.float64) for index in range(N_JETS)}
    return pd.DataFrame(columns)


def read_sample(paths, label: int) -> pd.DataFrame:
    """Features, truth label and cross-section weight (pb) of every selected event of a sample's chunks."""
    tables = [feature_table(files.read_awkward(path)[0]) for path in paths]
    table = pd.concat(tables, ignore_index=True)
    table["label"] = label
    table["weight_pb"] = weights.event_weights_pb(paths)
    return table


def assign_sets(table: pd.DataFrame, seed: int, test_fraction=0.1, validation_fraction=0.2,
                set_a_background=0.8, set_a_signal=0.4) -> tuple[pd.DataFrame, dict]:
    """Split into test/train/val and weak-supervision sets A/B; returns the table and the sets' signal fractions."""
    rng = np.random.default_rng(seed)
    table = table.reset_index(drop=True).copy()
    split = np.full(len(table), "train", dtype=object)
    dataset = np.full(len(table), "B", dtype=object)
    for label, share_a in ((0, set_a_background), (1, set_a_signal)):
        rows = rng.permutation(np.flatnonzero(table.label.to_numpy() == label))
        if len(rows) < 3:
            raise ValueError(f"the {'signal' if label else 'background'} sample has {len(rows)} selected events; "
                             "generate more chunks")
        n_test = int(round(test_fraction * len(rows)))
        split[rows[:n_test]] = "test"
        rest = rows[n_test:]
        split[rest[: int(round(validation_fraction * len(rest)))]] = "val"
        dataset[rng.permutation(rows)[: int(round(share_a * len(rows)))]] = "A"
    table["split"] = split
    table["dataset"] = pd.Categorical(dataset, categories=["A", "B"])
    fractions = {name: float(table.label[(table.dataset == name) & (table.split == "train")].mean()) for name in ("A", "B")}
    return table, fractions


def train_and_evaluate(table: pd.DataFrame, fractions: dict, settings: ensemble.TrainingSettings, n_members: int,
                       global_seed: int, device="auto", log=print) -> pd.DataFrame:
    """Full and weak supervision, n_members networks each in one ensemble; one metrics row per network."""
    runs = [ToyRun("full", settings.loss), ToyRun("weak", settings.loss, round(fractions["B"], 4))]
    _, _, outputs, val_loss, seeds = train_runs(table, runs, settings, n_members, fractions["A"], global_seed, device,
                                               log=log, feature_columns=FEATURES, seed_namespace="cohen2018_lhc")
    test = table[table.split == "test"]
    labels = test.label.to_numpy()
    rows = []
    for index, run in enumerate(runs):
        for member in range(n_members):
            position = index * n_members + member
            scores = outputs[position]
            rows.append({"run": run.name, "supervision": run.supervision, "member": member, "seed": seeds[position],
                         "auc": metrics.auc(scores, labels),
                         "signal_eff_at_bkg1pct": metrics.signal_efficiency_at(scores, labels, SIGNAL_EFFICIENCY_AT),
                         "val_loss": val_loss[position], "label_a": fractions["A"] if run.supervision == "weak" else np.nan,
                         "label_b": fractions["B"] if run.supervision == "weak" else np.nan,
                         "n_train": int((table.split == "train").sum()), "n_test": len(test),
                         "n_test_signal": int(labels.sum())})
    return pd.DataFrame(rows)


def table3(per_network: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 3: mean and standard deviation over trainings of the AUC and the signal efficiency at 1 %."""
    grouped = per_network.groupby("supervision")
    summary = grouped[["auc", "signal_eff_at_bkg1pct"]].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary["n_trainings"] = grouped.size()
    return summary.reset_index()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.lhc_study", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="features, labels, weights, splits and weak-supervision sets")
    data.add_argument("--signal", type=Path, nargs="+", required=True)
    data.add_argument("--background", type=Path, nargs="+", required=True)
    data.add_argument("--seed", type=int, required=True)
    data.add_argument("--output", type=Path, required=True)
    train = sub.add_parser("train", help="full and weak supervision, Table 3")
    train.add_argument("--data", type=Path, required=True)
    train.add_argument("--members", type=int, required=True)
    train.add_argument("--hidden", type=int, required=True)
    train.add_argument("--optimizer", required=True)
    train.add_argument("--learning-rate", type=float, required=True)
    train.add_argument("--batch-size", type=int, required=True)
    train.add_argument("--epochs", type=int, required=True)
    train.add_argument("--seed", type=int, required=True)
    train.add_argument("--device", default="auto")
    train.add_argument("--threads", type=int, default=1)
    train.add_argument("--metrics", type=Path, required=True)
    train.add_argument("--table", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "data":
        table = pd.concat([read_sample(args.signal, 1), read_sample(args.background, 0)], ignore_index=True)
        table, fractions = assign_sets(table, args.seed)
        files.write_table(table, args.output, {"fractions": fractions, "seed": args.seed,
                                               "signal_files": [str(p) for p in args.signal],
                                               "background_files": [str(p) for p in args.background]})
        print(f"{len(table)} events; signal fractions of the weak-supervision sets: {fractions}")
        return
    set_cpu_threads(args.threads)
    table, metadata = files.read_table(args.data)
    settings = ensemble.TrainingSettings(n_hidden=args.hidden, optimizer=args.optimizer, learning_rate=args.learning_rate,
                                         batch_size=args.batch_size, epochs=args.epochs)
    per_network = train_and_evaluate(table, metadata["fractions"], settings, args.members, args.seed, args.device,
                                     log=lambda message: print(message, flush=True))
    files.write_csv(per_network, args.metrics)
    summary = table3(per_network)
    files.write_csv(summary, args.table)
    print(summary.to_string(index=False))


if __name__ == "__main__":
    main()
