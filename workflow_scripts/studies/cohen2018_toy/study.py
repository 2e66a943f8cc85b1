"""Weak against full supervision on the toy model (Cohen et al., section 3 and appendix A).

Stages, each a subcommand of ``python -m workflow_scripts.studies.cohen2018_toy.study``:

  data   draw the training/validation/test table (Parquet)
  bayes  score the test set with the exact likelihood ratio (the optimal classifier)
  train  train a job's runs as one ensemble and write its model, metrics, ROC
         curves and output histograms

A *run* is one training configuration repeated over many members: its name
says everything that changes between runs, e.g. ``full-bce`` (per-event labels)
or ``weak-mae-label0.7`` (dataset A labelled with its true fraction, dataset B
labelled 0.7).  A training *job* packs several runs that share a loss into one
batched ensemble; its tables have one row per member with a ``run`` column.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from workflow_scripts.core import files
from workflow_scripts.core.devices import set_cpu_threads
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.ml import ensemble, metrics
from workflow_scripts.ml.models import save_torch
from workflow_scripts.ml.weak_supervision import WORKING_POINTS, SupervisionRun, evaluate_members, train_runs
from workflow_scripts.studies.cohen2018_toy import toy_model


def bayes_optimal(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics row and ROC curve of the exact likelihood ratio on the test set."""
    test = table[table["split"] == "test"]
    scores = toy_model.bayes_log_likelihood_ratio(test[list(toy_model.FEATURES)].to_numpy())
    labels = test["label"].to_numpy()
    row = {"classifier": "bayes_optimal", "n_test": len(test), "auc": metrics.auc(scores, labels)}
    row |= {key: metrics.background_efficiency_at(scores, labels, eff) for key, eff in WORKING_POINTS.items()}
    roc = pd.DataFrame({"fpr": metrics.ROC_FPR_GRID, "tpr": metrics.tpr_on_grid(scores, labels)})
    return pd.DataFrame([row]), roc


def _run_settings_columns(run, settings, label_a, fractions, n_events) -> dict:
    return {
        "run": run.name,
        "supervision": run.supervision,
        "loss": run.loss,
        "label_a": label_a if run.supervision == "weak" else np.nan,
        "label_b": run.label_b if run.supervision == "weak" else np.nan,
        "true_fraction_a": fractions["A"],
        "true_fraction_b": fractions["B"],
        "optimizer": settings.optimizer,
        "learning_rate": settings.learning_rate,
        "batch_size": settings.batch_size,
        "epochs": settings.epochs,
        "n_hidden": settings.n_hidden,
        **n_events,
    }


def command_data(args) -> None:
    toy = json.loads(args.settings)
    seed = derive_seed(toy["seed"], "cohen2018_toy", "data")
    fraction_a, fraction_b = toy["fractions"]
    table = toy_model.make_toy_datasets(toy["n_per_set"], fraction_a, fraction_b, toy["n_test"], toy["test_fraction"],
                                        toy["validation_fraction"], seed)
    metadata = {"seed": seed, "global_seed": toy["seed"], "fractions": [fraction_a, fraction_b],
                "test_fraction": toy["test_fraction"]}
    files.write_table(table, args.output, metadata)


def command_bayes(args) -> None:
    table, _ = files.read_table(args.data)
    summary, roc = bayes_optimal(table)
    files.write_csv(summary, args.metrics)
    files.write_csv(roc, args.roc)


def command_train(args) -> None:
    set_cpu_threads(args.threads)
    table, _ = files.read_table(args.data)
    job = json.loads(args.settings)
    runs = [SupervisionRun.parse(name) for name in job["runs"]]
    settings = ensemble.training_settings(job["network"], loss=runs[0].loss)
    members, label_a = job["members"], job["label_a"]
    log = lambda message: print(message, flush=True)  # noqa: E731
    trained, scaler, outputs, val_loss, member_seeds = train_runs(
        table, runs, settings, members, label_a, job["seed"], job.get("device", "auto"), job.get("compile", False), log,
        feature_columns=toy_model.FEATURES,
    )
    labels = table.loc[table["split"] == "test", "label"].to_numpy()
    bayes_auc = float(pd.read_csv(args.bayes)["auc"].iloc[0])
    train = table[table["split"] == "train"]
    fractions = train.groupby("dataset", observed=True)["label"].mean().to_dict()
    n_events = {"n_train": len(train), "n_val": int((table["split"] == "val").sum()), "n_test": len(labels),
                "n_test_background": int((labels == 0).sum())}
    tables = {"metrics": [], "roc": [], "hist": []}
    for index, run in enumerate(runs):
        run_members = slice(index * members, (index + 1) * members)
        per_member, roc, hist = evaluate_members(outputs[run_members], labels)
        columns = _run_settings_columns(run, settings, label_a, fractions, n_events)
        per_member = per_member.assign(**columns, seed=member_seeds[run_members], val_loss=val_loss[run_members], bayes_auc=bayes_auc)
        per_member["auc_gap_to_bayes"] = bayes_auc - per_member["auc"]
        tables["metrics"].append(per_member)
        tables["roc"].append(roc.assign(run=run.name))
        tables["hist"].append(hist.assign(run=run.name))
        log(f"{run.name}: mean AUC {per_member['auc'].mean():.4f} (Bayes-optimal {bayes_auc:.4f})")
    state = trained.state_dict() | scaler.state_dict()
    state |= {"runs": [run.name for run in runs], "members_per_run": members, "features": list(toy_model.FEATURES),
              "member_seeds": member_seeds}
    save_torch(state, args.model)
    for kind, path in (("metrics", args.metrics), ("roc", args.roc), ("hist", args.hist)):
        files.write_csv(pd.concat(tables[kind], ignore_index=True), path)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cohen2018_toy.study", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="draw the toy datasets")
    data.add_argument("--settings", required=True,
                      help="JSON: n_per_set, fractions, n_test, test_fraction, validation_fraction, seed")
    data.add_argument("--output", type=Path, required=True)

    bayes = sub.add_parser("bayes", help="score the test set with the exact likelihood ratio")
    bayes.add_argument("--data", type=Path, required=True)
    bayes.add_argument("--metrics", type=Path, required=True)
    bayes.add_argument("--roc", type=Path, required=True)

    train = sub.add_parser("train", help="train several runs sharing a loss as one ensemble")
    train.add_argument("--data", type=Path, required=True)
    train.add_argument("--bayes", type=Path, required=True)
    train.add_argument("--settings", required=True,
                       help="JSON: runs (names, e.g. full-bce weak-bce-label0.7), members (trainings per run), label_a,"
                            " network (hidden, optimizer, learning_rate, batch_size, epochs), seed, device, compile")
    train.add_argument("--threads", type=int, default=1)
    for output in ("model", "metrics", "roc", "hist"):
        train.add_argument(f"--{output}", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    {"data": command_data, "bayes": command_bayes, "train": command_train}[args.command](args)


if __name__ == "__main__":
    main()
