"""The gluino networks on a MET-binned background, and their combination (Cohen et al., Figs. 9 and 11).

The training sample cannot reach the background's high-MET tail, so the paper
evaluates the networks on a second background generated in generator-level
MET bins and weighted by cross section (Fig. 9).  Here those are Z(nu nu)+jet
samples in pT-hat slices (at leading order pT-hat is the Z pT, i.e. the
generator-level MET), none of them used in training; the signal is every
gluino event the networks did not train on (validation and test: the
validation split only reports a loss, it selects nothing).

The full network's output piles up at 1 for signal, so the combination uses
log10(log(2 - f)) of it (paper section 6), computed from the logit so that it
stays finite where the sigmoid rounds to 1.  A new fully supervised network
(30 hidden nodes, Adam 1e-3, 50 epochs) learns from the two outputs with the
background weighted to 5 times the signal's summed weight.  Unlike the paper,
which trained and cut on the same events, the combiner trains on one half of
the evaluation events and every cut (single networks and combination) is
measured on the other half, so the comparison is free of training bias.  The
paper's own procedure runs beside it, to measure that bias: a second combiner
trains on every evaluation event and is cut on the same events
(``same_events_logit``; working_points.csv's ``combined_reduction_same_events``).

Which events land in which half is itself a random choice. The combination is
repeated over ``half_splits`` independent splits (split 0 is the one the
figures draw; split k > 0 writes ``half_split{k}`` and
``combined_logit_split{k}``), and the spread of the reduction over them is part
of its uncertainty, beside a bootstrap over the events cut on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from workflow_scripts.core import files
from workflow_scripts.core.devices import set_cpu_threads
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.ml import ensemble, metrics
from workflow_scripts.ml.models import save_torch
from workflow_scripts.studies.cohen2018_lhc.study import FEATURES, load_baseline, read_sample

PB_TO_FB = 1000.0
SELECTIONS = ("full", "weak", "combined")
COMBINER_INPUTS = ("weak_output", "full_spread")


def spread_full_output(full_logit) -> np.ndarray:
    """log10(log(2 - f)) of the fully supervised output f = sigmoid(logit), paper section 6.

    2 - f = 1 + sigmoid(-logit), so the inner log is log1p(expit(-logit)): finite for any logit, near
    -logit / ln 10 for signal-like events and log10(log 2) = -0.159 for f = 0.
    """
    return np.log10(np.log1p(expit(-np.asarray(full_logit, dtype=np.float64))))


def evaluation_events(dataset: pd.DataFrame, background: pd.DataFrame) -> pd.DataFrame:
    """Signal events the networks did not train on, weighted to the whole selected signal, and the background.

    `dataset` is the study table (label, weight_pb, split); `background` comes from `lhc_study.read_sample`.
    """
    signal = dataset[dataset.label == 1]
    unseen = signal[signal.split != "train"]
    if len(unseen) == 0:
        raise ValueError("the study table has no signal events outside the training split")
    unseen = unseen.assign(weight_pb=unseen.weight_pb * signal.weight_pb.sum() / unseen.weight_pb.sum())
    columns = [*FEATURES, "label", "weight_pb"]
    return pd.concat([unseen[columns], background[columns]], ignore_index=True)


def assign_halves(labels, seed: int) -> np.ndarray:
    """'train' or 'eval' per event: each class split in two at random."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    halves = np.full(len(labels), "eval", dtype=object)
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(labels == label))
        if len(rows) < 4:
            raise ValueError(f"{len(rows)} {'signal' if label else 'background'} evaluation events: need at least 4 "
                             "to train the combination on one half and cut on the other; generate more events")
        halves[rows[: len(rows) // 2]] = "train"
    return halves


def class_balanced_weights(weights, labels, background_to_signal: float) -> np.ndarray:
    """Cross-section weights rescaled so that the background sums to `background_to_signal` times the signal,
    then to a mean of 1 (the learning rate keeps its meaning whatever the cross sections)."""
    weights = np.asarray(weights, dtype=np.float64).copy()
    labels = np.asarray(labels)
    signal, background = labels == 1, labels == 0
    weights[signal] /= weights[signal].sum()
    weights[background] *= background_to_signal / weights[background].sum()
    return weights / weights.mean()


def represent_whole(weights, labels, half_mask) -> np.ndarray:
    """Weights of the events in one half, scaled per class so that the half carries each class's whole cross section."""
    weights = np.asarray(weights, dtype=np.float64)
    labels = np.asarray(labels)
    scaled = np.zeros_like(weights)
    for label in (0, 1):
        in_class = labels == label
        chosen = in_class & half_mask
        scaled[chosen] = weights[chosen] * weights[in_class].sum() / weights[chosen].sum()
    return scaled


def whole_weights(weights, labels, halves) -> np.ndarray:
    """Every event's weight in its own half, each half carrying each class's whole cross section."""
    halves = np.asarray(halves)
    return represent_whole(weights, labels, halves == "eval") + represent_whole(weights, labels, halves == "train")


def split_columns(split: int) -> tuple[str, str]:
    """The (half, combined logit) columns of a split of the evaluation events into halves; split 0 is the main one."""
    return ("half", "combined_logit") if split == 0 else (f"half_split{split}", f"combined_logit_split{split}")


def half_splits(events: pd.DataFrame) -> int:
    """How many splits into halves the events carry."""
    split = 1
    while all(column in events.columns for column in split_columns(split)):
        split += 1
    return split


def split_view(events: pd.DataFrame, split: int) -> pd.DataFrame:
    """The events as split `split` divides them: its halves, its combiner's logit and the weights its halves give."""
    if split == 0:
        return events
    half, logit = split_columns(split)
    return events.assign(half=events[half], combined_logit=events[logit],
                         weight_pb=whole_weights(events.cross_section_weight_pb, events.label, events[half]))


def split_reductions(events: pd.DataFrame, efficiency: float) -> np.ndarray:
    """The held-out reduction against the better single cut at one signal efficiency, for every split into halves."""
    return np.array([working_points(split_view(events, split), [efficiency]).combined_reduction_vs_best_single.iloc[0]
                     for split in range(half_splits(events))])


def network_outputs(events: pd.DataFrame, model_path, device="cpu") -> pd.DataFrame:
    """Logits and outputs of the first full and first weak baseline network for every event, and the spread
    full output."""
    trained, scaler, members = load_baseline(model_path, device)
    logits = trained.predict_logits(scaler.transform(events[list(FEATURES)].to_numpy())).cpu().numpy().astype(np.float64)
    full_logit, weak_logit = logits[0], logits[members]
    return events.assign(full_logit=full_logit, weak_logit=weak_logit, full_output=expit(full_logit),
                         weak_output=expit(weak_logit), full_spread=spread_full_output(full_logit))


def train_combiner(events: pd.DataFrame, settings: ensemble.TrainingSettings, background_to_signal: float, seed: int,
                   device="cpu"):
    """The combination network on the training half: (weak output, spread full output) -> signal probability."""
    train = events[events.half == "train"]
    scaler = ensemble.Standardiser.fit(train[list(COMBINER_INPUTS)].to_numpy())
    weights = class_balanced_weights(train.weight_pb, train.label, background_to_signal)
    combiner = ensemble.train_ensemble(scaler.transform(train[list(COMBINER_INPUTS)].to_numpy()),
                                       np.array(train.label, dtype=np.int64), np.array([[0.0, 1.0]]), settings, [seed],
                                       device=device, event_weights=weights)
    return combiner, scaler


def combined_logit(combiner, scaler, weak_output, full_spread) -> np.ndarray:
    inputs = scaler.transform(np.column_stack([np.ravel(weak_output), np.ravel(full_spread)]))
    return combiner.predict_logits(inputs).cpu().numpy()[0].astype(np.float64)


PROCEDURES = {"held_out": "combined_logit", "same_events": "same_events_logit"}


def procedure_events(events: pd.DataFrame, procedure: str = "held_out") -> tuple[pd.DataFrame, np.ndarray]:
    """The events a procedure cuts on, and their weights in fb: `held_out`, the evaluation half (the combiner trained
    on the other); `same_events`, the paper's: every event, with the combiner that trained on all of them. Each half
    carries each class's whole cross section, so every event counts half of its weight in the whole."""
    if procedure == "held_out":
        chosen = events[events.half == "eval"]
        return chosen, chosen.weight_pb.to_numpy() * PB_TO_FB
    if procedure == "same_events":
        return events, events.weight_pb.to_numpy() * PB_TO_FB / 2
    raise ValueError(f"unknown combination procedure {procedure!r}; expected one of {sorted(PROCEDURES)}")


def working_points(events: pd.DataFrame, signal_efficiencies, procedure: str = "held_out") -> pd.DataFrame:
    """Per signal efficiency and selection, on the procedure's events: the cut and the signal and background cross
    sections passing (fb), plus the background reduction of the combination against the better single network."""
    chosen, weight = procedure_events(events, procedure)
    signal = chosen.label.to_numpy() == 1
    rows = []
    for efficiency in signal_efficiencies:
        passing = {}
        for selection in SELECTIONS:
            score = chosen[PROCEDURES[procedure] if selection == "combined" else f"{selection}_logit"].to_numpy()
            cut = metrics.threshold_keeping(score[signal], weight[signal], efficiency)
            passes = score >= cut
            passing[selection] = weight[passes & ~signal].sum()
            rows.append({"signal_efficiency": efficiency, "selection": selection, "cut_logit": cut,
                         "signal_fb": weight[passes & signal].sum(), "background_fb": passing[selection],
                         # Monte Carlo statistical error of the weighted sum: sqrt(sum of squared weights).
                         "background_fb_error": float(np.sqrt((weight[passes & ~signal] ** 2).sum())),
                         "background_events": int((passes & ~signal).sum())})
        best_single = min(passing["full"], passing["weak"])
        reduction = 1.0 - passing["combined"] / best_single if best_single > 0 else np.nan
        for row in rows[-len(SELECTIONS):]:
            row["combined_reduction_vs_best_single"] = reduction
    return pd.DataFrame(rows)


def efficiency_for_signal(events: pd.DataFrame, signal_fb: float, procedure: str = "held_out") -> float:
    """The signal efficiency that leaves `signal_fb` of signal on the procedure's events (NaN if they hold less)."""
    chosen, weight = procedure_events(events, procedure)
    total = weight[chosen.label.to_numpy() == 1].sum()
    return signal_fb / total if 0 < signal_fb <= total else float("nan")


def background_at_signal_measure(claim_id: str, spec: dict, read) -> dict:
    """Scorecard measure: one selection's background (fb, with its Monte Carlo error) at the cut that keeps the
    claim's signal cross section; its statistics are the background events passing."""
    _, events = read(spec["file"])
    efficiency = efficiency_for_signal(events, spec["signal_fb"])
    if not np.isfinite(efficiency):
        return {"value": float("nan"), "uncertainty": float("inf")}
    point = working_points(events, [efficiency]).set_index("selection").loc[spec["selection"]]
    return {"value": float(point.background_fb), "uncertainty": float(point.background_fb_error),
            "statistics": float(point.background_events)}


def reduction_measure(claim_id: str, spec: dict, read) -> dict:
    """Scorecard measure: the combination's background reduction against the better single network at the claim's
    signal cross section, by the spec's procedure (held_out or same_events). Its uncertainty is the standard deviation
    of a bootstrap over that procedure's events and, held out, the standard deviation over the splits into halves,
    in quadrature; its statistics are the fewest background events any of the three cuts passes."""
    _, events = read(spec["file"])
    procedure = spec.get("procedure", "held_out")
    efficiency = efficiency_for_signal(events, spec["signal_fb"], procedure)
    if not np.isfinite(efficiency):
        return {"value": float("nan"), "uncertainty": float("inf")}

    def points(sample: pd.DataFrame) -> pd.DataFrame:
        return working_points(sample, [efficiency], procedure)

    chosen, _ = procedure_events(events, procedure)
    rng = np.random.default_rng(spec.get("bootstrap_seed", 0))
    resampled = np.array([points(chosen.iloc[rng.integers(0, len(chosen), len(chosen))])
                          .combined_reduction_vs_best_single.iloc[0] for _ in range(spec.get("bootstrap", 200))])
    resampled = resampled[np.isfinite(resampled)]
    over_events = float(np.std(resampled, ddof=1)) if len(resampled) > 1 else float("inf")
    measured = points(chosen)
    value = float(measured.combined_reduction_vs_best_single.iloc[0])
    detail = f"Bootstrap over the events cut on: +- {over_events:.3f}."
    uncertainty = over_events
    if procedure == "held_out":
        reductions = split_reductions(events, efficiency)
        finite = reductions[np.isfinite(reductions)]
        if len(reductions) > 1:
            over_halves = float(np.std(finite, ddof=1)) if len(finite) > 1 else float("inf")
            uncertainty = float(np.hypot(over_events, over_halves))
            detail += (f" Over {len(reductions)} splits into halves: {len(finite)} with a value, mean "
                       f"{np.mean(finite) if len(finite) else float('nan'):.3f}, standard deviation {over_halves:.3f}, "
                       f"{int((finite < 0).sum())} below zero.")
    return {"value": value, "uncertainty": uncertainty, "statistics": float(measured.background_events.min()),
            "detail": detail}


def decision_grid(combiner, scaler, events: pd.DataFrame, n_points: int = 200) -> pd.DataFrame:
    """The combiner's logit on a grid spanning the events' (weak output, spread full output) plane, for Fig. 11."""
    x = np.linspace(events.weak_output.min(), events.weak_output.max(), n_points)
    y = np.linspace(events.full_spread.min(), events.full_spread.max(), n_points)
    grid_x, grid_y = np.meshgrid(x, y)
    return pd.DataFrame({"weak_output": grid_x.ravel(), "full_spread": grid_y.ravel(),
                         "combined_logit": combined_logit(combiner, scaler, grid_x, grid_y)})


def _split_seed(global_seed: int, stream: str, split: int) -> int:
    # Split 0 keeps the seeds it had before there were several splits.
    parts = ("cohen2018_lhc", "combination", stream) + ((split,) if split else ())
    return derive_seed(global_seed, *parts)


def train_over_splits(events: pd.DataFrame, settings: ensemble.TrainingSettings, background_to_signal: float,
                      global_seed: int, splits: int, device="cpu"):
    """Every split into halves, each with its own combiner trained on its training half, written into the events as
    that split's columns; returns split 0's combiner and scaler (the figures' and the saved model's)."""
    if splits < 1:
        raise ValueError(f"half_splits must be at least 1, got {splits}")
    for split in range(splits):
        half, logit = split_columns(split)
        events[half] = assign_halves(events.label, _split_seed(global_seed, "halves", split))
        combiner, scaler = train_combiner(events.assign(half=events[half]), settings, background_to_signal,
                                          _split_seed(global_seed, "network", split), device)
        events[logit] = combined_logit(combiner, scaler, events.weak_output, events.full_spread)
        if split == 0:
            main = combiner, scaler
    return main


def run(dataset: pd.DataFrame, background: pd.DataFrame, model_path, settings: ensemble.TrainingSettings,
        background_to_signal: float, signal_efficiencies, global_seed: int, device="cpu", log=print, splits: int = 1):
    """Everything Figs. 9 and 11 draw: per-event outputs, the working points and the combiner's decision grid, with
    the combination repeated over `splits` random splits into halves."""
    events = network_outputs(evaluation_events(dataset, background), model_path, device)
    events["cross_section_weight_pb"] = events.weight_pb
    log(f"{len(events)} evaluation events ({int(events.label.sum())} signal); a combiner trains on each half of "
        f"{splits} splits")
    combiner, scaler = train_over_splits(events, settings, background_to_signal, global_seed, splits, device)
    # The paper's procedure beside it: a combiner trained on every event, cut on the same events.
    same_events, same_scaler = train_combiner(events.assign(half="train"), settings, background_to_signal,
                                              derive_seed(global_seed, "cohen2018_lhc", "combination", "same-events"),
                                              device)
    events["same_events_logit"] = combined_logit(same_events, same_scaler, events.weak_output, events.full_spread)
    events["weight_pb"] = whole_weights(events.weight_pb, events.label, events.half)
    points = working_points(events, signal_efficiencies)
    points["combined_reduction_same_events"] = points.signal_efficiency.map(
        working_points(events, signal_efficiencies, "same_events")
        .groupby("signal_efficiency").combined_reduction_vs_best_single.first())
    over_splits = {efficiency: split_reductions(events, efficiency) for efficiency in signal_efficiencies}
    points["combined_reduction_split_mean"] = points.signal_efficiency.map(
        {efficiency: np.nanmean(values) for efficiency, values in over_splits.items()})
    points["combined_reduction_split_std"] = points.signal_efficiency.map(
        {efficiency: np.nanstd(values, ddof=1) if len(values) > 1 else np.nan for efficiency, values in over_splits.items()})
    model = combiner.state_dict() | scaler.state_dict() | {"inputs": list(COMBINER_INPUTS)}
    return events, points, decision_grid(combiner, scaler, events), model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cohen2018_lhc.combination", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the study table (lhc_study data)")
    parser.add_argument("--model", type=Path, required=True, help="the baseline networks (lhc_study train --model)")
    parser.add_argument("--background", type=Path, nargs="+", required=True, help="MET-binned background event files")
    parser.add_argument("--settings", required=True,
                        help="JSON: signal_efficiencies, background_to_signal_weight, half_splits, network (hidden,"
                             " optimizer, learning_rate, batch_size, epochs), seed, device")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--events", type=Path, required=True, help="per-event outputs (Parquet)")
    parser.add_argument("--working-points", type=Path, required=True)
    parser.add_argument("--grid", type=Path, required=True, help="the combiner's logit on a grid (CSV)")
    parser.add_argument("--combiner", type=Path, required=True, help="the combination network (torch state dict)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    set_cpu_threads(args.threads)
    dataset, _ = files.read_table(args.data)
    combination = json.loads(args.settings)
    settings = ensemble.training_settings(combination["network"])
    events, points, grid, model = run(dataset, read_sample(args.background, 0), args.model, settings,
                                      combination["background_to_signal_weight"], combination["signal_efficiencies"],
                                      combination["seed"], combination.get("device", "cpu"),
                                      splits=combination.get("half_splits", 1))
    files.write_table(events, args.events, {"seed": combination["seed"], "background_files": [str(p) for p in args.background],
                                            "weights": "pb; each half scaled to the whole cross section of its class"})
    files.write_csv(points, args.working_points)
    files.write_csv(grid, args.grid)
    save_torch(model, args.combiner)
    print(points.to_string(index=False))


if __name__ == "__main__":
    main()
