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
import json
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import torch

from workflow_scripts.analysis import weights
from workflow_scripts.core import files
from workflow_scripts.core.devices import set_cpu_threads
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.ml import ensemble, metrics
from workflow_scripts.ml.models import save_torch
from workflow_scripts.ml.weak_supervision import SupervisionRun, train_runs

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


def cut_flow(signal_paths, background_paths) -> pd.DataFrame:
    """Per sample, and per class over its samples weighted by cross section: events generated and selected, and
    the selection efficiency with its binomial error (section 5.1: 473 359 of 500 000 gluino events and 264 303 of
    10^6 Z+jets events pass)."""
    rows = []
    for label, paths in ((1, signal_paths), (0, background_paths)):
        chunks = weights.chunk_table(paths)
        samples = chunks.groupby("sample")[["n_generated", "n_selected"]].sum().reset_index().merge(
            weights.sample_cross_sections(chunks)[["sample", "cross_section_pb"]], on="sample")
        samples["efficiency"] = samples.n_selected / samples.n_generated
        samples["efficiency_error"] = np.sqrt(samples.efficiency * (1 - samples.efficiency) / samples.n_generated)
        share = samples.cross_section_pb / samples.cross_section_pb.sum()
        total = {"sample": "signal" if label else "background", "n_generated": samples.n_generated.sum(),
                 "n_selected": samples.n_selected.sum(), "cross_section_pb": samples.cross_section_pb.sum(),
                 "efficiency": float((share * samples.efficiency).sum()),
                 "efficiency_error": float(np.sqrt((share ** 2 * samples.efficiency_error ** 2).sum()))}
        rows += [*samples.assign(label=label).to_dict("records"), total | {"label": label}]
    return pd.DataFrame(rows)


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
    return table, set_fractions(table)


def relabel_random(labels, rng, fraction: float = 0.15) -> np.ndarray:
    """Mismodelling (a): a random `fraction` of the signal events relabelled as background."""
    labels = np.asarray(labels).copy()
    signal = np.flatnonzero(labels == 1)
    labels[rng.choice(signal, size=int(round(fraction * len(signal))), replace=False)] = 0
    return labels


def relabel_swap(labels, scores, background_fraction: float = 0.10, signal_fraction: float = 0.15) -> np.ndarray:
    """Mismodelling (b), a phase-space swap: the most signal-like `background_fraction` of the background becomes
    signal and the most background-like `signal_fraction` of the signal becomes background, ranked by `scores`
    (the fully supervised network's output)."""
    labels = np.asarray(labels).copy()
    scores = np.asarray(scores)
    background, signal = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    to_signal = background[np.argsort(-scores[background], kind="stable")[: int(round(background_fraction * len(background)))]]
    to_background = signal[np.argsort(scores[signal], kind="stable")[: int(round(signal_fraction * len(signal)))]]
    labels[to_signal], labels[to_background] = 1, 0
    return labels


def set_fractions(table: pd.DataFrame, label_column: str = "label") -> dict:
    """Signal fraction of weak-supervision sets A and B in the training split, from the given labels."""
    train = table[table.split == "train"]
    return {name: float(train[label_column][train.dataset == name].mean()) for name in ("A", "B")}


def train_and_evaluate(table: pd.DataFrame, fractions: dict, settings: ensemble.TrainingSettings, n_members: int,
                       global_seed: int, device="auto", log=print, mismodelling: str = "none"):
    """Full and weak supervision, n_members networks each in one ensemble.

    Returns one metrics row per network, every network's ROC curve, the trained ensemble (full members
    first) and its input standardiser.

    Training and validation use `table.label`; the test metrics always use `table.true_label` when
    present (mismodelled labels are what the simulation claims, the truth is what the test measures).
    """
    runs = [SupervisionRun("full", settings.loss), SupervisionRun("weak", settings.loss, round(fractions["B"], 4))]
    trained, scaler, outputs, val_loss, seeds = train_runs(
        table, runs, settings, n_members, fractions["A"], global_seed, device, log=log, feature_columns=FEATURES,
        seed_namespace=f"cohen2018_lhc/{mismodelling}")
    test = table[table.split == "test"]
    labels = test["true_label" if "true_label" in test else "label"].to_numpy()
    rows, rocs = [], []
    for index, run in enumerate(runs):
        for member in range(n_members):
            position = index * n_members + member
            scores = outputs[position]
            rocs.append(pd.DataFrame({"mismodelling": mismodelling, "supervision": run.supervision, "member": member,
                                      "fpr": metrics.ROC_FPR_GRID, "tpr": metrics.tpr_on_grid(scores, labels)}))
            rows.append({"mismodelling": mismodelling, "run": run.name, "supervision": run.supervision, "member": member,
                         "seed": seeds[position],
                         "auc": metrics.auc(scores, labels),
                         "signal_eff_at_bkg1pct": metrics.signal_efficiency_at(scores, labels, SIGNAL_EFFICIENCY_AT),
                         "val_loss": val_loss[position], "label_a": fractions["A"] if run.supervision == "weak" else np.nan,
                         "label_b": fractions["B"] if run.supervision == "weak" else np.nan,
                         "n_train": int((table.split == "train").sum()), "n_test": len(test),
                         "n_test_signal": int(labels.sum())})
    return pd.DataFrame(rows), pd.concat(rocs, ignore_index=True), trained, scaler


def mismodelling_study(table: pd.DataFrame, settings: ensemble.TrainingSettings, n_members: int, global_seed: int,
                       device="auto", log=print) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Baseline, (a) random relabelling and (b) phase-space swap: every network's metrics, its ROC curve on the
    true test labels (fixed false-positive-rate grid), paper Table 4, and the baseline networks with their input
    standardiser as a state dict (full members first, then weak; see `load_baseline`)."""
    table = table.assign(true_label=table.label)
    fractions = set_fractions(table)
    baseline, baseline_roc, trained, scaler = train_and_evaluate(table, fractions, settings, n_members, global_seed,
                                                                 device, log, "none")
    # The fully supervised networks rank every event for the swap: mean output of the baseline full members.
    full_scores = trained.predict(scaler.transform(table[list(FEATURES)].to_numpy())).cpu().numpy()[:n_members].mean(axis=0)
    rng = np.random.default_rng(derive_seed(global_seed, "cohen2018_lhc", "mismodelling"))
    relabelled = {"random": relabel_random(table.label, rng), "swap": relabel_swap(table.label, full_scores)}
    results, rocs, table4 = [baseline], [baseline_roc], [_table4_row("none", table, fractions)]
    for name, labels in relabelled.items():
        # Only what the simulation supplies is mislabelled: training and validation; the test keeps the truth.
        mislabelled = table.assign(label=np.where(table.split == "test", table.true_label, labels))
        implied = set_fractions(mislabelled)
        per_network, roc, _, _ = train_and_evaluate(mislabelled, implied, settings, n_members, global_seed, device, log,
                                                    name)
        results.append(per_network)
        rocs.append(roc)
        table4.append(_table4_row(name, mislabelled, implied))
    model = trained.state_dict() | scaler.state_dict() | {
        "supervisions": ["full", "weak"], "members_per_supervision": n_members, "features": list(FEATURES),
        "weak_labels": fractions}
    return pd.concat(results, ignore_index=True), pd.concat(rocs, ignore_index=True), pd.DataFrame(table4), model


def load_baseline(path, device="cpu") -> tuple[ensemble.MLPEnsemble, ensemble.Standardiser, int]:
    """The baseline full and weak networks written by `train`: ensemble, standardiser, members per supervision."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = [key for key in ("params", "input_mean", "members_per_supervision", "features") if key not in state]
    if missing:
        raise KeyError(f"{path}: not a model written by `lhc_study train` (lacks {missing})")
    if list(state["features"]) != list(FEATURES):
        raise ValueError(f"{path}: trained on features {state['features']}, expected {list(FEATURES)}")
    return (ensemble.MLPEnsemble.from_state_dict(state, device), ensemble.Standardiser.from_state_dict(state),
            int(state["members_per_supervision"]))


def render_tables(table3_frame: pd.DataFrame, table4_frame: pd.DataFrame) -> str:
    """Tables 3 and 4 as Markdown, mean +- standard deviation over the trainings."""
    lines = ["Table 3: AUC and signal efficiency at 1 % background efficiency (mean +- std over trainings)", "",
             "| mismodelling | supervision | AUC | signal eff. at 1 % | trainings |", "| --- | --- | --- | --- | --- |"]
    for row in table3_frame.itertuples():
        lines.append(f"| {getattr(row, 'mismodelling', 'none')} | {row.supervision} | {row.auc_mean:.5f} +- {row.auc_std:.5f}"
                     f" | {row.signal_eff_at_bkg1pct_mean:.4f} +- {row.signal_eff_at_bkg1pct_std:.4f} | {row.n_trainings} |")
    lines += ["", "Table 4: weak-supervision labels used and the sets' true signal fractions", "",
              "| mismodelling | label A | label B | true fraction A | true fraction B |", "| --- | --- | --- | --- | --- |"]
    for row in table4_frame.itertuples():
        lines.append(f"| {row.mismodelling} | {row.label_a_used:.4f} | {row.label_b_used:.4f} | {row.true_fraction_a:.4f}"
                     f" | {row.true_fraction_b:.4f} |")
    return "\n".join(lines) + "\n"


def _table4_row(name, table, labels_used) -> dict:
    true = set_fractions(table, "true_label")
    return {"mismodelling": name, "label_a_used": labels_used["A"], "label_b_used": labels_used["B"],
            "true_fraction_a": true["A"], "true_fraction_b": true["B"]}


def table3(per_network: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 3: mean and standard deviation over trainings of the AUC and the signal efficiency at 1 %
    (with a `mismodelling` column, one row per supervision and mismodelling)."""
    keys = ["mismodelling", "supervision"] if "mismodelling" in per_network else ["supervision"]
    grouped = per_network.groupby(keys)
    summary = grouped[["auc", "signal_eff_at_bkg1pct"]].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary["n_trainings"] = grouped.size()
    return summary.reset_index()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cohen2018_lhc.study", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="features, labels, weights, splits and weak-supervision sets")
    data.add_argument("--signal", type=Path, nargs="+", required=True)
    data.add_argument("--background", type=Path, nargs="+", required=True)
    data.add_argument("--seed", type=int, required=True, help="global seed")
    data.add_argument("--output", type=Path, required=True)
    data.add_argument("--cut-flow", type=Path, required=True, help="events generated and selected per sample and class")
    train = sub.add_parser("train", help="full and weak supervision, Table 3")
    train.add_argument("--data", type=Path, required=True)
    train.add_argument("--settings", required=True,
                       help="JSON: members (networks per supervision and mismodelling), network (hidden, optimizer,"
                            " learning_rate, batch_size, epochs), seed, device")
    train.add_argument("--threads", type=int, default=1)
    train.add_argument("--metrics", type=Path, required=True)
    train.add_argument("--table", type=Path, required=True)
    train.add_argument("--table4", type=Path, required=True, help="mismodelling: labels used and true fractions")
    train.add_argument("--rendered", type=Path, required=True, help="Tables 3 and 4 as Markdown")
    train.add_argument("--roc", type=Path, required=True, help="ROC curve of every network on the true test labels")
    train.add_argument("--model", type=Path, required=True, help="the baseline full and weak networks (torch state dict)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "data":
        table = pd.concat([read_sample(args.signal, 1), read_sample(args.background, 0)], ignore_index=True)
        table, fractions = assign_sets(table, args.seed)
        files.write_table(table, args.output, {"fractions": fractions, "seed": args.seed,
                                               "signal_files": [str(p) for p in args.signal],
                                               "background_files": [str(p) for p in args.background]})
        files.write_csv(cut_flow(args.signal, args.background), args.cut_flow)
        print(f"{len(table)} events; signal fractions of the weak-supervision sets: {fractions}")
        return
    set_cpu_threads(args.threads)
    table, metadata = files.read_table(args.data)
    job = json.loads(args.settings)
    settings = ensemble.training_settings(job["network"])
    per_network, roc, table4, model = mismodelling_study(table, settings, job["members"], job["seed"], job.get("device", "auto"),
                                                         log=lambda message: print(message, flush=True))
    save_torch(model, args.model)
    files.write_csv(per_network, args.metrics)
    files.write_csv(roc, args.roc)
    summary = table3(per_network)
    files.write_csv(summary, args.table)
    files.write_csv(table4, args.table4)
    rendered = render_tables(summary, table4)
    with files.atomic_output(args.rendered) as temporary:
        temporary.write_text(rendered)
    print(rendered)


if __name__ == "__main__":
    main()
