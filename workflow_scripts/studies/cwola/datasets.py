"""CWoLa datasets: signal-region vs sideband pseudo-experiments with injected signal, and fixed test sets.

A dataset is a table of references into the jet-image files of the background
and signal samples (rows of `analysis.regions.window_events` tables, which are the rows of the image files), not a copy of the
images: every resolution trains on the same events, and a pseudo-experiment
costs kilobytes.  Columns: source (background/signal), image_row, region (SR/SB),
label (1 for the signal region, the CWoLa target), is_signal (truth, never
used in training) and split (train/validation).

Counts follow the CWoLa paper (section 3).  The integrated luminosity is given
as the expected number B of background events in the signal region (paper:
25k).  The sidebands get background at the same luminosity, i.e. B times the
background sample's SB/SR ratio.  S = injection x sqrt(B) signal events go
into the signal region, and S times the signal's own SB/SR ratio into the
sidebands.  The test set (pure SR signal and SR background) is drawn first
and removed from the pools the pseudo-experiments sample from.

The fully supervised baseline (`supervised_set`) trains the same network on pure SR signal against pure SR
background, outside the test set: the ceiling a weakly supervised method can approach.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from workflow_scripts.core import files
from workflow_scripts.core.seeding import derive_seed

SOURCES = ("background", "signal")


def injected_counts(background_sr_events: int, injection: float, background_table: pd.DataFrame,
                    signal_table: pd.DataFrame) -> dict[str, int]:
    """Events per (source, region) of one pseudo-experiment at S/sqrt(B) = injection."""
    background_ratio = _sideband_ratio(background_table, "background")
    signal_ratio = _sideband_ratio(signal_table, "signal")
    signal_sr = int(round(injection * np.sqrt(background_sr_events)))
    return {
        "background_SR": int(background_sr_events),
        "background_SB": int(round(background_sr_events * background_ratio)),
        "signal_SR": signal_sr,
        "signal_SB": int(round(signal_sr * signal_ratio)),
    }


def _sideband_ratio(table, source) -> float:
    n_sr = int((table.region == "SR").sum())
    if n_sr == 0:
        raise ValueError(f"the {source} sample has no event in the signal region")
    return int((table.region == "SB").sum()) / n_sr


def test_rows(table: pd.DataFrame, n_test: int, seed: int, source: str) -> np.ndarray:
    """Rows of `n_test` signal-region events drawn once per sample for the fixed test set."""
    candidates = np.flatnonzero(table.region.to_numpy() == "SR")
    if len(candidates) < n_test:
        raise ValueError(f"the {source} sample has {len(candidates)} signal-region events, the test set needs {n_test} "
                         "(config key cwola.n_test_per_class, or generate more chunks)")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, size=n_test, replace=False))


def _draw(table, excluded_rows, region: str, wanted: int, rng, who: str, source: str, config_key: str) -> np.ndarray:
    """`wanted` sorted rows of `region` events of `table`, never the excluded (test-set) rows."""
    available = np.ones(len(table), dtype=bool)
    available[excluded_rows] = False
    pool = np.flatnonzero(available & (table.region.to_numpy() == region))
    if len(pool) < wanted:
        raise ValueError(f"{who} needs {wanted} {source} events in the {region} but only {len(pool)} remain after the "
                         f"test set; generate more chunks of the {source} sample or lower config key {config_key}")
    return np.sort(rng.choice(pool, size=wanted, replace=False))


def _split(data: pd.DataFrame, by, validation_fraction: float, rng) -> pd.DataFrame:
    """Stratified validation split: the same fraction of each cell of `by`."""
    validation = np.zeros(len(data), dtype=bool)
    for _, cell in data.groupby(by, sort=True):
        n_validation = int(round(validation_fraction * len(cell)))
        validation[rng.choice(cell.index.to_numpy(), size=n_validation, replace=False)] = True
    data["split"] = np.where(validation, "validation", "train")
    return data


def pseudo_experiment(background_table, signal_table, background_test_rows, signal_test_rows, counts: dict[str, int],
                      validation_fraction: float, seed: int) -> pd.DataFrame:
    """One CWoLa training set: events drawn without replacement from the pools left after the test set."""
    rng = np.random.default_rng(seed)
    parts = []
    for source, table, excluded in (("background", background_table, background_test_rows),
                                    ("signal", signal_table, signal_test_rows)):
        for region in ("SR", "SB"):
            rows = _draw(table, excluded, region, counts[f"{source}_{region}"], rng, "a pseudo-experiment", source,
                         "cwola.background_sr_events or the injections")
            parts.append(pd.DataFrame({"source": source, "image_row": rows, "region": region}))
    data = pd.concat(parts, ignore_index=True)
    data["label"] = (data.region == "SR").astype(np.int8)
    data["is_signal"] = (data.source == "signal").astype(np.int8)
    return _split(data, ["source", "region"], validation_fraction, rng)


def supervised_set(background_table, signal_table, background_test_rows, signal_test_rows, n_per_class: int,
                   validation_fraction: float, seed: int) -> pd.DataFrame:
    """The fully supervised baseline's training set: `n_per_class` pure signal-region events of each class, drawn
    outside the test set; label is the truth (1 for signal), split stratified by class."""
    rng = np.random.default_rng(seed)
    parts = [pd.DataFrame({"source": source,
                           "image_row": _draw(table, excluded, "SR", n_per_class, rng, "the supervised baseline", source,
                                              "cwola.supervised.n_per_class"),
                           "region": "SR"})
             for source, table, excluded in (("background", background_table, background_test_rows),
                                             ("signal", signal_table, signal_test_rows))]
    data = pd.concat(parts, ignore_index=True)
    data["is_signal"] = (data.source == "signal").astype(np.int8)
    data["label"] = data.is_signal
    return _split(data, "source", validation_fraction, rng)


def pretraining_set(background_table, background_test_rows, signal_tables: dict[str, pd.DataFrame], n_per_class: int,
                    validation_fraction: float, seed: int, background_name: str = "background") -> pd.DataFrame:
    """Transfer-learning source data: pure signal-region background against a pure mixture of signals.

    The background never includes the CWoLa test set; the signal mixture takes
    equal shares from every sample in `signal_tables` (the held-out benchmark
    must not be among them).  Columns: source (sample name), image_row, is_signal, split.
    """
    rng = np.random.default_rng(seed)
    available = np.ones(len(background_table), dtype=bool)
    available[background_test_rows] = False
    pool = np.flatnonzero(available & (background_table.region.to_numpy() == "SR"))
    if len(pool) < n_per_class:
        raise ValueError(f"pretraining needs {n_per_class} signal-region background events outside the test set, "
                         f"{len(pool)} exist (config key cwola.transfer.n_per_class)")
    parts = [pd.DataFrame({"source": background_name, "image_row": np.sort(rng.choice(pool, n_per_class, replace=False)),
                           "is_signal": 0})]
    names = sorted(signal_tables)
    shares = np.full(len(names), n_per_class // len(names))
    shares[: n_per_class % len(names)] += 1
    for name, share in zip(names, shares):
        candidates = np.flatnonzero(signal_tables[name].region.to_numpy() == "SR")
        if len(candidates) < share:
            raise ValueError(f"pretraining needs {share} signal-region events of {name}, it has {len(candidates)}; "
                             "generate more chunks of it or lower config key cwola.transfer.n_per_class")
        parts.append(pd.DataFrame({"source": name, "image_row": np.sort(rng.choice(candidates, share, replace=False)),
                                   "is_signal": 1}))
    return _split(pd.concat(parts, ignore_index=True), "is_signal", validation_fraction, rng)


def write_pretraining_set(background_windows, test_set, signal_windows: dict, n_per_class, validation_fraction,
                          global_seed, background, held_out, output) -> pd.DataFrame:
    if held_out in signal_windows:
        raise ValueError(f"the held-out benchmark {held_out} cannot be part of its own pretraining data")
    background_table, _ = files.read_table(background_windows)
    test, _ = files.read_table(test_set)
    tables = {name: files.read_table(path)[0] for name, path in signal_windows.items()}
    seed = derive_seed(global_seed, "transfer-pretraining", held_out)
    data = pretraining_set(background_table, test.image_row[test.source == "background"].to_numpy(), tables, n_per_class,
                           validation_fraction, seed, background_name=background)
    files.write_table(data, output, {"background": background, "held_out": held_out, "signals": sorted(tables),
                                     "n_per_class": n_per_class, "seed": seed})
    return data


def write_test_set(background_windows, signal_windows, n_test, global_seed, background, signal, output) -> pd.DataFrame:
    background_table, _ = files.read_table(background_windows)
    signal_table, _ = files.read_table(signal_windows)
    # Seeds depend on the sample, so every benchmark shares one background test set.
    background_rows = test_rows(background_table, n_test, derive_seed(global_seed, "cwola-test", background), "background")
    signal_rows = test_rows(signal_table, n_test, derive_seed(global_seed, "cwola-test", signal), "signal")
    data = pd.concat([pd.DataFrame({"source": "background", "image_row": background_rows}),
                      pd.DataFrame({"source": "signal", "image_row": signal_rows})], ignore_index=True)
    data["region"] = "SR"
    data["is_signal"] = (data.source == "signal").astype(np.int8)
    files.write_table(data, output, {"background": background, "signal": signal, "n_test_per_class": n_test,
                                     "seed": global_seed})
    return data


def write_pseudo_experiment(background_windows, signal_windows, test_set, background_sr_events, injection, trial,
                            validation_fraction, global_seed, background, signal, output) -> pd.DataFrame:
    background_table, background_meta = files.read_table(background_windows)
    signal_table, _ = files.read_table(signal_windows)
    test, _ = files.read_table(test_set)
    counts = injected_counts(background_sr_events, injection, background_table, signal_table)
    seed = derive_seed(global_seed, "cwola-dataset", signal, injection, trial)
    data = pseudo_experiment(background_table, signal_table, test.image_row[test.source == "background"].to_numpy(),
                             test.image_row[test.source == "signal"].to_numpy(), counts, validation_fraction, seed)
    files.write_table(data, output, {"background": background, "signal": signal, "injection": injection, "trial": trial,
                                     "seed": seed, "counts": counts, "background_sr_events": background_sr_events,
                                     "validation_fraction": validation_fraction})
    return data


def write_supervised_set(background_windows, signal_windows, test_set, n_per_class, background_sr_events, injections,
                         trial, validation_fraction, global_seed, background, signal, output) -> pd.DataFrame:
    """The supervised baseline of one trial.  Its network does not depend on the injected signal, so its metadata
    carries the pseudo-experiments' counts at every injection: training scores it at each."""
    background_table, _ = files.read_table(background_windows)
    signal_table, _ = files.read_table(signal_windows)
    test, _ = files.read_table(test_set)
    seed = derive_seed(global_seed, "cwola-supervised", signal, trial)
    data = supervised_set(background_table, signal_table, test.image_row[test.source == "background"].to_numpy(),
                          test.image_row[test.source == "signal"].to_numpy(), n_per_class, validation_fraction, seed)
    counts = {f"{float(injection):g}": injected_counts(background_sr_events, injection, background_table, signal_table)
              for injection in injections}
    files.write_table(data, output, {"background": background, "signal": signal, "trial": trial, "seed": seed,
                                     "n_per_class": n_per_class, "counts_by_injection": counts,
                                     "background_sr_events": background_sr_events,
                                     "validation_fraction": validation_fraction})
    return data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.cwola.datasets", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("test", "experiment"):
        command = sub.add_parser(name)
        command.add_argument("--background-windows", type=Path, required=True)
        command.add_argument("--signal-windows", type=Path, required=True)
        command.add_argument("--background", required=True, help="background sample name")
        command.add_argument("--signal", required=True, help="signal sample name")
        command.add_argument("--seed", type=int, required=True)
        command.add_argument("--output", type=Path, required=True)
        if name == "test":
            command.add_argument("--n-test", type=int, required=True)
        else:
            command.add_argument("--test-set", type=Path, required=True)
            command.add_argument("--background-sr-events", type=int, required=True)
            command.add_argument("--injection", type=float, required=True, help="S/sqrt(B) in the signal region")
            command.add_argument("--trial", type=int, required=True)
            command.add_argument("--validation-fraction", type=float, required=True)
    supervised = sub.add_parser("supervised", help="the fully supervised baseline: pure SR signal against SR background")
    supervised.add_argument("--background-windows", type=Path, required=True)
    supervised.add_argument("--signal-windows", type=Path, required=True)
    supervised.add_argument("--test-set", type=Path, required=True)
    supervised.add_argument("--background", required=True)
    supervised.add_argument("--signal", required=True)
    supervised.add_argument("--n-per-class", type=int, required=True)
    supervised.add_argument("--background-sr-events", type=int, required=True)
    supervised.add_argument("--injections", type=float, nargs="+", required=True,
                            help="the S/sqrt(B) values the baseline is scored at")
    supervised.add_argument("--trial", type=int, required=True)
    supervised.add_argument("--validation-fraction", type=float, required=True)
    supervised.add_argument("--seed", type=int, required=True)
    supervised.add_argument("--output", type=Path, required=True)
    pretraining = sub.add_parser("pretraining", help="transfer-learning source data for one held-out benchmark")
    pretraining.add_argument("--background-windows", type=Path, required=True)
    pretraining.add_argument("--test-set", type=Path, required=True)
    pretraining.add_argument("--signal-windows", required=True,
                             help='JSON: the window table of every other benchmark, {"sample": path}')
    pretraining.add_argument("--background", required=True)
    pretraining.add_argument("--held-out", required=True)
    pretraining.add_argument("--n-per-class", type=int, required=True)
    pretraining.add_argument("--validation-fraction", type=float, required=True)
    pretraining.add_argument("--seed", type=int, required=True)
    pretraining.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "pretraining":
        signal_windows = json.loads(args.signal_windows)
        data = write_pretraining_set(args.background_windows, args.test_set, signal_windows, args.n_per_class,
                                     args.validation_fraction, args.seed, args.background, args.held_out, args.output)
        print(json.dumps(data.groupby(["source", "split"]).size().rename("events").reset_index().to_dict("records")))
        return
    if args.command == "supervised":
        data = write_supervised_set(args.background_windows, args.signal_windows, args.test_set, args.n_per_class,
                                    args.background_sr_events, args.injections, args.trial, args.validation_fraction,
                                    args.seed, args.background, args.signal, args.output)
    elif args.command == "test":
        data = write_test_set(args.background_windows, args.signal_windows, args.n_test, args.seed, args.background,
                              args.signal, args.output)
    else:
        data = write_pseudo_experiment(args.background_windows, args.signal_windows, args.test_set,
                                       args.background_sr_events, args.injection, args.trial, args.validation_fraction,
                                       args.seed, args.background, args.signal, args.output)
    print(json.dumps(data.groupby(["source", "region"]).size().rename("events").reset_index().to_dict("records")))


if __name__ == "__main__":
    main()
