"""Weak against full supervision on the toy model (Cohen et al., section 3 and appendix A).

Stages, each a subcommand of ``python -m workflow_scripts.toy_study``:

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
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from workflow_scripts import ensemble, files, metrics, toy
from workflow_scripts.devices import resolve_device, set_cpu_threads
from workflow_scripts.seeding import derive_seed

RUN_NAME_PATTERN = r"full-(bce|mae|llp)|weak-(bce|mae|llp)-label[01]\.[0-9]+"
JOB_NAME_PATTERN = r"(bce|mae|llp)-[0-9]+"
WORKING_POINTS = {"bkg_eff_at_sig70": 0.7, "bkg_eff_at_sig40": 0.4}
N_HISTOGRAM_BINS = 80


@dataclasses.dataclass(frozen=True)
class ToyRun:
    supervision: str
    loss: str
    label_b: float | None = None  # weak supervision: the label given to dataset B

    @property
    def name(self) -> str:
        if self.supervision == "full":
            return f"full-{self.loss}"
        label = f"{self.label_b:g}"
        return f"weak-{self.loss}-label{label if '.' in label else label + '.0'}"

    @classmethod
    def parse(cls, name: str) -> "ToyRun":
        if not re.fullmatch(RUN_NAME_PATTERN, name):
            raise ValueError(f"run name {name!r} does not match {RUN_NAME_PATTERN!r}")
        parts = name.split("-")
        if parts[0] == "full":
            return cls("full", parts[1])
        return cls("weak", parts[1], float(parts[2].removeprefix("label")))


def plan_runs(label_scan, losses, true_label_b: float) -> list[str]:
    """Every run of the study: full supervision, the label scan (BCE), the loss comparison at the true labels."""
    runs = [ToyRun("full", "bce")]
    runs += [ToyRun("weak", "bce", label) for label in label_scan]
    runs += [ToyRun("weak", loss, true_label_b) for loss in losses]
    return list(dict.fromkeys(run.name for run in runs))


def plan_jobs(run_names, trainings_per_run: int, max_members_per_job: int) -> dict[str, list[str]]:
    """Pack runs that share a loss into training jobs of at most max_members_per_job networks.

    Large ensembles keep a CPU core or a GPU busy; several jobs let Snakemake
    spread the work over cores or cluster nodes.  Job names: ``{loss}-{index}``.
    """
    runs_per_job = max(1, max_members_per_job // trainings_per_run)
    runs = [ToyRun.parse(name) for name in run_names]
    jobs = {}
    for loss in dict.fromkeys(run.loss for run in runs):
        same_loss = [run.name for run in runs if run.loss == loss]
        n_jobs = -(-len(same_loss) // runs_per_job)
        # Spread runs evenly so that parallel jobs finish together.
        for index in range(n_jobs):
            jobs[f"{loss}-{index + 1}"] = same_loss[index::n_jobs]
    return jobs


def event_groups(table: pd.DataFrame) -> np.ndarray:
    """Group of every event: 2 * (dataset is B) + true label, so that one ensemble can hold both
    fully supervised members (targets follow the label) and weakly supervised ones (targets follow
    the dataset)."""
    return 2 * (table["dataset"] == "B").to_numpy(np.int64) + table["label"].to_numpy(np.int64)


def group_targets(run: ToyRun, label_a: float) -> list[float]:
    """Targets of the groups (A and background, A and signal, B and background, B and signal)."""
    if run.supervision == "full":
        return [0.0, 1.0, 0.0, 1.0]
    return [label_a, label_a, run.label_b, run.label_b]


def bayes_optimal(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics row and ROC curve of the exact likelihood ratio on the test set."""
    test = table[table["split"] == "test"]
    scores = toy.bayes_log_likelihood_ratio(test[list(toy.FEATURES)].to_numpy())
    labels = test["label"].to_numpy()
    row = {"classifier": "bayes_optimal", "n_test": len(test), "auc": metrics.auc(scores, labels)}
    row |= {key: metrics.background_efficiency_at(scores, labels, eff) for key, eff in WORKING_POINTS.items()}
    roc = pd.DataFrame({"fpr": metrics.ROC_FPR_GRID, "tpr": metrics.tpr_on_grid(scores, labels)})
    return pd.DataFrame([row]), roc


def evaluate_members(outputs: np.ndarray, labels: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-member metrics, ROC curves on the fixed grid and output histograms.

    Weak supervision can learn the inverted classifier (signal at low output)
    when the labels are ordered against the true fractions; such a member is
    marked class_flipped and evaluated on 1 - output, as the paper does when
    it cuts from above (its Fig. 7).
    """
    # Weakly supervised outputs crowd between the two labels: bin over the range actually filled.
    bins = np.linspace(outputs.min(), outputs.max(), N_HISTOGRAM_BINS + 1)
    rows, rocs, hists = [], [], []
    for member, output in enumerate(outputs):
        auc_raw = metrics.auc(output, labels)
        flipped = auc_raw < 0.5
        score = 1.0 - output if flipped else output
        row = {"member": member, "auc": max(auc_raw, 1.0 - auc_raw), "auc_raw": auc_raw, "class_flipped": flipped}
        row |= {key: metrics.background_efficiency_at(score, labels, eff) for key, eff in WORKING_POINTS.items()}
        rows.append(row)
        rocs.append(pd.DataFrame({"member": member, "fpr": metrics.ROC_FPR_GRID, "tpr": metrics.tpr_on_grid(score, labels)}))
        for truth, name in ((1, "signal"), (0, "background")):
            counts, _ = np.histogram(output[labels == truth], bins=bins)
            hists.append(pd.DataFrame({"member": member, "class": name, "bin_low": bins[:-1], "bin_high": bins[1:], "count": counts}))
    return pd.DataFrame(rows), pd.concat(rocs, ignore_index=True), pd.concat(hists, ignore_index=True)


def train_runs(
    table: pd.DataFrame,
    runs: list[ToyRun],
    settings: ensemble.TrainingSettings,
    n_members: int,
    label_a: float,
    global_seed: int,
    device: str = "auto",
    compile_step: bool = False,
    log=print,
    feature_columns=toy.FEATURES,
    seed_namespace: str = "cohen2018_toy",
):
    """Train n_members networks for each run, all runs in one ensemble (they must share the loss).

    Member m of run r is seeded by (global seed, r, m) alone, so packing runs
    together changes nothing but speed.  Returns the ensemble, its input
    standardiser, the test outputs (runs * n_members, N_test), the validation
    losses and the member seeds, members ordered run by run.
    """
    if len({run.loss for run in runs}) != 1 or settings.loss != runs[0].loss:
        raise ValueError(f"runs trained together must share the loss {settings.loss!r}: {[run.name for run in runs]}")
    train, val, test = (table[table["split"] == split] for split in ("train", "val", "test"))
    if len(train) == 0 or len(test) == 0:
        raise ValueError("the table has no training or no test events")
    columns = list(feature_columns)
    scaler = ensemble.Standardiser.fit(train[columns].to_numpy())
    x_train, x_val, x_test = (scaler.transform(sample[columns].to_numpy()) for sample in (train, val, test))
    targets = np.repeat([group_targets(run, label_a) for run in runs], n_members, axis=0)
    member_seeds = [derive_seed(global_seed, seed_namespace, run.name, member) for run in runs for member in range(n_members)]
    device = resolve_device(device)
    backend = ensemble.resolve_backend("auto", device)
    log(f"training {len(member_seeds)} networks ({', '.join(run.name for run in runs)}) on {len(train)} events"
        f" ({device}, {'compiled CPU kernel' if backend == 'kernel' else 'torch step'})")
    trained = ensemble.train_ensemble(
        x_train,
        event_groups(train),
        targets,
        settings,
        member_seeds,
        device=device,
        backend=backend,
        compile_step=compile_step,
        progress=lambda epoch: log(f"epoch {epoch + 1}/{settings.epochs} done"),
    )
    val_loss = np.full(len(member_seeds), np.nan)
    if len(val):
        val_loss = ensemble.evaluate_loss(trained, x_val, event_groups(val), targets, settings.loss)
    outputs = trained.predict(x_test).cpu().numpy()
    return trained, scaler, outputs, val_loss, member_seeds


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
    seed = derive_seed(args.seed, "cohen2018_toy", "data")
    table = toy.make_toy_datasets(
        args.n_per_set, args.fraction_a, args.fraction_b, args.n_test, args.test_fraction, args.validation_fraction, seed
    )
    metadata = {"seed": seed, "global_seed": args.seed, "fractions": [args.fraction_a, args.fraction_b], "test_fraction": args.test_fraction}
    files.write_table(table, args.output, metadata)


def command_bayes(args) -> None:
    table, _ = files.read_table(args.data)
    summary, roc = bayes_optimal(table)
    files.write_csv(summary, args.metrics)
    files.write_csv(roc, args.roc)


def command_train(args) -> None:
    set_cpu_threads(args.threads)
    table, _ = files.read_table(args.data)
    runs = [ToyRun.parse(name) for name in args.runs]
    settings = ensemble.TrainingSettings(
        n_hidden=args.hidden, loss=runs[0].loss, optimizer=args.optimizer, learning_rate=args.learning_rate,
        batch_size=args.batch_size, epochs=args.epochs,
    )
    log = lambda message: print(message, flush=True)  # noqa: E731
    trained, scaler, outputs, val_loss, member_seeds = train_runs(
        table, runs, settings, args.members, args.label_a, args.seed, args.device, args.compile, log
    )
    labels = table.loc[table["split"] == "test", "label"].to_numpy()
    bayes_auc = float(pd.read_csv(args.bayes)["auc"].iloc[0])
    train = table[table["split"] == "train"]
    fractions = train.groupby("dataset", observed=True)["label"].mean().to_dict()
    n_events = {"n_train": len(train), "n_val": int((table["split"] == "val").sum()), "n_test": len(labels),
                "n_test_background": int((labels == 0).sum())}
    tables = {"metrics": [], "roc": [], "hist": []}
    for index, run in enumerate(runs):
        members = slice(index * args.members, (index + 1) * args.members)
        per_member, roc, hist = evaluate_members(outputs[members], labels)
        columns = _run_settings_columns(run, settings, args.label_a, fractions, n_events)
        per_member = per_member.assign(**columns, seed=member_seeds[members], val_loss=val_loss[members], bayes_auc=bayes_auc)
        per_member["auc_gap_to_bayes"] = bayes_auc - per_member["auc"]
        tables["metrics"].append(per_member)
        tables["roc"].append(roc.assign(run=run.name))
        tables["hist"].append(hist.assign(run=run.name))
        log(f"{run.name}: mean AUC {per_member['auc'].mean():.4f} (Bayes-optimal {bayes_auc:.4f})")
    with files.atomic_output(args.model) as temporary:
        state = trained.state_dict() | scaler.state_dict()
        state |= {"runs": [run.name for run in runs], "members_per_run": args.members, "features": list(toy.FEATURES),
                  "member_seeds": member_seeds}
        torch.save(state, temporary)
    for kind, path in (("metrics", args.metrics), ("roc", args.roc), ("hist", args.hist)):
        files.write_csv(pd.concat(tables[kind], ignore_index=True), path)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.toy_study", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="draw the toy datasets")
    data.add_argument("--output", type=Path, required=True)
    data.add_argument("--n-per-set", type=int, required=True)
    data.add_argument("--fraction-a", type=float, required=True)
    data.add_argument("--fraction-b", type=float, required=True)
    data.add_argument("--n-test", type=int, required=True)
    data.add_argument("--test-fraction", type=float, required=True)
    data.add_argument("--validation-fraction", type=float, required=True)
    data.add_argument("--seed", type=int, required=True)

    bayes = sub.add_parser("bayes", help="score the test set with the exact likelihood ratio")
    bayes.add_argument("--data", type=Path, required=True)
    bayes.add_argument("--metrics", type=Path, required=True)
    bayes.add_argument("--roc", type=Path, required=True)

    train = sub.add_parser("train", help="train several runs sharing a loss as one ensemble")
    train.add_argument("--data", type=Path, required=True)
    train.add_argument("--bayes", type=Path, required=True)
    train.add_argument("--runs", nargs="+", required=True, help="run names, e.g. full-bce weak-bce-label0.7")
    train.add_argument("--members", type=int, required=True, help="trainings per run")
    train.add_argument("--label-a", type=float, required=True)
    train.add_argument("--hidden", type=int, default=30)
    train.add_argument("--optimizer", choices=ensemble.OPTIMIZERS, default="adam")
    train.add_argument("--learning-rate", type=float, default=1.5e-3)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--epochs", type=int, default=100)
    train.add_argument("--seed", type=int, required=True)
    train.add_argument("--device", default="auto")
    train.add_argument("--compile", action="store_true")
    train.add_argument("--threads", type=int, default=1)
    for output in ("model", "metrics", "roc", "hist"):
        train.add_argument(f"--{output}", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    {"data": command_data, "bayes": command_bayes, "train": command_train}[args.command](args)


if __name__ == "__main__":
    main()
