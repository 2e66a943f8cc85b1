"""Detector closure: the embedded fast simulation against Delphes 3.5.1 on the same events.

Both detectors read the same generated events (same card, seed and chunk), so
every comparison is event by event: the per-event ratio embedded / Delphes of
the leading-jet pT, M_jj and leading-jet mass; the MET distribution (in dijet
events MET is resolution, different in every event); the jet pT response and
resolution of each detector against Delphes' own generator-level jets (its
``GenJet`` branch, which both detectors' jets are matched to, so both share
one truth); the constituents of the leading jet by type; the selection
efficiency; mean jet images with their per-pixel pull; and a two-sample test,
a small CNN trained to tell the embedded images from the Delphes images of
the same events (CWoLa learns any difference between two samples, a
detector artefact included, so its AUC should be near 0.5).

Everything lands in one tidy table, one row per (sample, quantity, bin), with
the tolerance each row is judged against (config key closure.tolerances) and
whether it is within it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd

from workflow_scripts.analysis import images
from workflow_scripts.core import files
from workflow_scripts.core.kinematics import delta_r
from workflow_scripts.detector import delphes_io
from workflow_scripts.ml import metrics

DETECTORS = ("embedded", "delphes")
CONSTITUENT_TYPES = delphes_io.CONSTITUENT_TYPES
# Generator-level jet pT and |eta| bins of the response (|eta| bins: the CMS card's barrel, endcap, forward).
RESPONSE_PT_BINS_GEV = (20, 50, 100, 200, 500, 1000, 2000, 4000)
RESPONSE_ABS_ETA_BINS = (0.0, 1.5, 2.5, 5.0)
MIN_JETS_PER_BIN = 20
MIN_EVENTS = 20  # fewer events than this leave a per-event ratio unjudged
COLUMNS = ["sample", "quantity", "statistic", "bin_variable", "bin_low", "bin_high", "embedded", "delphes", "ratio",
           "ratio_uncertainty", "n", "tolerance", "within_tolerance"]


# --- reading -------------------------------------------------------------------------------------------------------

def read_chunk_pairs(embedded_paths, delphes_paths, jet_radius: float, selection: dict,
                     sample: str) -> tuple[dict[str, ak.Array], dict[str, np.ndarray]]:
    """Both detectors' events of the same chunks, checked chunk by chunk to be the same events, then concatenated."""
    if len(embedded_paths) != len(delphes_paths):
        raise ValueError(f"closure of {sample}: {len(embedded_paths)} embedded chunk files against {len(delphes_paths)} "
                         "Delphes files; the two detectors must read the same chunks")
    parts = {detector: ([], []) for detector in DETECTORS}
    for embedded_path, delphes_path in zip(embedded_paths, delphes_paths):
        pair = {detector: delphes_io.convert_with_selection(path, selection, jet_radius)
                for detector, path in (("embedded", embedded_path), ("delphes", delphes_path))}
        check_same_events(pair["embedded"][0], pair["delphes"][0], f"{sample} ({Path(embedded_path).name})")
        for detector, (events, passed) in pair.items():
            parts[detector][0].append(events)
            parts[detector][1].append(passed)
    return ({detector: ak.concatenate(events) for detector, (events, _) in parts.items()},
            {detector: np.concatenate(passed) for detector, (_, passed) in parts.items()})


def read_generator_jets(paths) -> ak.Array | None:
    """Delphes' generator-level jets (GenJet: anti-kt on the visible final state, the card's radius); None when
    the files have none (the embedded simulation writes no GenJet branch)."""
    try:
        return ak.concatenate([delphes_io.read_collections(path, {"GenJet": ["PT", "Eta", "Phi"]})["GenJet"] for path in paths])
    except KeyError:
        return None


def check_same_events(embedded: ak.Array, delphes: ak.Array, sample: str) -> None:
    """Both detectors must have seen the same events: same count and, where both files number them, same numbers."""
    if len(embedded) != len(delphes):
        raise ValueError(f"closure of {sample}: {len(embedded)} embedded events against {len(delphes)} Delphes events; "
                         "the two detectors must read the same chunks")
    if "event_number" in embedded.fields and "event_number" in delphes.fields:
        numbers = ak.to_numpy(embedded.event_number) - ak.to_numpy(embedded.event_number)[:1]
        if not np.array_equal(numbers, ak.to_numpy(delphes.event_number) - ak.to_numpy(delphes.event_number)[:1]):
            raise ValueError(f"closure of {sample}: the two detectors' events are not in the same order")


# --- statistics ----------------------------------------------------------------------------------------------------

def median_with_uncertainty(values: np.ndarray) -> tuple[float, float, float, float]:
    """Median, its statistical uncertainty (1.2533 sigma / sqrt(n), sigma from the 16-84 % range), 16 % and 84 % quantiles."""
    if len(values) == 0:
        return np.nan, np.nan, np.nan, np.nan
    low, median, high = np.quantile(values, [0.16, 0.5, 0.84])
    return float(median), float(1.2533 * 0.5 * (high - low) / np.sqrt(len(values))), float(low), float(high)


def leading(values: ak.Array, index: int) -> np.ndarray:
    """Per event the index-th entry of a jagged column, NaN where there is none."""
    return ak.to_numpy(ak.fill_none(ak.pad_none(values, index + 1)[:, index], np.nan)).astype(np.float64)


def per_event(values: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.fill_none(values, np.nan)).astype(np.float64)


def per_event_ratios(embedded: ak.Array, delphes: ak.Array) -> dict[str, np.ndarray]:
    """embedded / Delphes per event, for events where both have the object (and it is non-zero in Delphes)."""
    pairs = {"leading_jet_pt": (leading(embedded.jet_pt, 0), leading(delphes.jet_pt, 0)),
             "mjj": (per_event(embedded.mjj_gev), per_event(delphes.mjj_gev)),
             "leading_jet_mass": (leading(embedded.jet_mass, 0), leading(delphes.jet_mass, 0))}
    ratios = {}
    for name, (numerator, denominator) in pairs.items():
        valid = np.isfinite(numerator) & np.isfinite(denominator) & (denominator > 0)
        ratios[name] = numerator[valid] / denominator[valid]
    return ratios


def quantile_ratio(embedded: np.ndarray, delphes: np.ndarray, quantile: float, seed: int,
                   resamples: int = 200) -> tuple[float, float]:
    """Ratio of one quantile of two paired distributions, embedded / Delphes, and its bootstrap uncertainty
    (events resampled together, so the pairing is kept).

    For MET: in events without invisible particles MET is detector resolution, different in every event of
    the two detectors, so only its distribution can agree."""
    ratio = np.quantile(embedded, quantile) / np.quantile(delphes, quantile)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(delphes), size=(resamples, len(delphes)))
    replicas = np.quantile(embedded[draws], quantile, axis=1) / np.quantile(delphes[draws], quantile, axis=1)
    return float(ratio), float(np.std(replicas))


def match_to_generator_jets(reco: ak.Array, generator: ak.Array, jet_radius: float) -> pd.DataFrame:
    """Each generator jet with the nearest reconstructed jet within Delta R < R / 2 (unmatched ones left out).

    reco: per event records with fields pt, eta, phi; generator: GenJet records (PT, Eta, Phi)."""
    pairs = ak.cartesian({"gen": generator, "reco": reco}, axis=1, nested=True)
    distance = delta_r(pairs.gen.Eta, pairs.gen.Phi, pairs.reco.eta, pairs.reco.phi)
    nearest = ak.argmin(distance, axis=2, keepdims=True)
    best = ak.firsts(pairs[nearest], axis=2)
    best_distance = ak.firsts(distance[nearest], axis=2)
    matched = ak.flatten(best[ak.fill_none(best_distance < 0.5 * jet_radius, False)])
    return pd.DataFrame({"gen_pt": ak.to_numpy(matched.gen.PT), "gen_abs_eta": np.abs(ak.to_numpy(matched.gen.Eta)),
                         "response": ak.to_numpy(matched.reco.pt / matched.gen.PT)}).astype(np.float64)


def reco_jets(events: ak.Array) -> ak.Array:
    return ak.zip({"pt": events.jet_pt, "eta": events.jet_eta, "phi": events.jet_phi})


def response_table(matched: dict[str, pd.DataFrame], pt_bins=RESPONSE_PT_BINS_GEV, abs_eta_bins=RESPONSE_ABS_ETA_BINS) -> pd.DataFrame:
    """Median response and relative resolution (half the 16-84 % range over the median) per detector and bin."""
    rows = []
    for eta_low, eta_high in zip(abs_eta_bins[:-1], abs_eta_bins[1:]):
        for pt_low, pt_high in zip(pt_bins[:-1], pt_bins[1:]):
            row = {"abs_eta_low": eta_low, "abs_eta_high": eta_high, "pt_low_gev": pt_low, "pt_high_gev": pt_high}
            for detector, table in matched.items():
                inside = table[(table.gen_pt >= pt_low) & (table.gen_pt < pt_high)
                               & (table.gen_abs_eta >= eta_low) & (table.gen_abs_eta < eta_high)].response.to_numpy()
                median, uncertainty, low, high = median_with_uncertainty(inside)
                row |= {f"{detector}_n": len(inside), f"{detector}_median": median, f"{detector}_median_uncertainty": uncertainty,
                        f"{detector}_resolution": 0.5 * (high - low) / median if len(inside) else np.nan}
            rows.append(row)
    return pd.DataFrame(rows)


def constituent_summary(events: ak.Array, has_jet: np.ndarray) -> dict[str, np.ndarray]:
    """Per event of `has_jet`: the leading jet's number of constituents and their pT sum, by type and in total."""
    constituents = events.jet1_constituents
    summary = {}
    for code, name in CONSTITUENT_TYPES.items():
        of_type = constituents[constituents["type"] == code]
        summary[f"count_{name}"] = ak.to_numpy(ak.num(of_type))[has_jet].astype(np.float64)
        summary[f"pt_sum_{name}"] = ak.to_numpy(ak.sum(of_type.pt, axis=1))[has_jet].astype(np.float64)
    summary["count_all"] = ak.to_numpy(ak.num(constituents))[has_jet].astype(np.float64)
    summary["pt_sum_all"] = ak.to_numpy(ak.sum(constituents.pt, axis=1))[has_jet].astype(np.float64)
    return summary


def image_events(embedded: ak.Array, delphes: ak.Array) -> np.ndarray:
    """Indices of the events with two leading jets in both detectors (an image pair needs two jets)."""
    return np.flatnonzero(ak.to_numpy((ak.num(embedded.jet_pt) >= 2) & (ak.num(delphes.jet_pt) >= 2)))


def pixel_pull(embedded_images: np.ndarray, delphes_images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean images of both detectors (leading and subleading jets together) and the per-pixel pull of their difference."""
    stacks = [stack.reshape(-1, *stack.shape[-2:]).astype(np.float64) for stack in (embedded_images, delphes_images)]
    means = [stack.mean(axis=0) for stack in stacks]
    errors = [stack.std(axis=0, ddof=1) / np.sqrt(len(stack)) for stack in stacks]
    combined = np.hypot(*errors)
    pull = np.divide(means[0] - means[1], combined, out=np.zeros_like(combined), where=combined > 0)
    return means[0], means[1], pull


def two_sample_auc(embedded_images: np.ndarray, delphes_images: np.ndarray, seed: int, epochs: int = 50,
                   learning_rate: float = 1e-3, device: str = "cpu") -> tuple[float, int]:
    """AUC of a small CNN trained to tell embedded images (label 1) from Delphes images (label 0) of the same events.

    Events, not images, are split (a fifth for testing, a fifth for validation), so the network never sees the
    other detector's version of a test event.  Returns the test AUC and the number of test images."""
    import torch

    from workflow_scripts.ml.fit import FitSettings, fit, predict, to_device
    from workflow_scripts.ml.models import CNNSettings, JetPairClassifier

    n_events = len(embedded_images)
    fold = np.random.default_rng(seed).permutation(n_events) % 5
    torch.manual_seed(seed)
    model = JetPairClassifier(embedded_images.shape[-1], CNNSettings(filters=(16, 16), kernels=(5, 3),
                                                                      pool_after=(True, True), dense=(32,))).to(device)

    def stacked(mask):
        inputs = np.concatenate([embedded_images[mask], delphes_images[mask]])
        labels = np.r_[np.ones(int(mask.sum())), np.zeros(int(mask.sum()))].astype(np.float32)
        return to_device(inputs, device), to_device(labels, device)

    train, validation, test = stacked(fold >= 2), stacked(fold == 1), stacked(fold == 0)
    fit(model, *train, *validation, FitSettings(learning_rate=learning_rate, batch_size=32, patience=10, max_epochs=epochs),
        seed, log=lambda message: None)
    scores = predict(model, test[0]).cpu().numpy()
    return metrics.auc(scores, test[1].cpu().numpy()), len(scores)


# --- the comparison ------------------------------------------------------------------------------------------------

def _judged(row: dict, tolerances: dict) -> dict:
    """A ratio is within tolerance when its deviation from 1, less twice its statistical uncertainty, is at most
    the tolerance (a small sample is not failed for its statistics); the AUC when it is at most its tolerance."""
    tolerance = tolerances.get(row["quantity"])
    if tolerance is None or not np.isfinite(row["ratio"]):
        return row | {"tolerance": np.nan, "within_tolerance": pd.NA}
    if row["quantity"] == "two_sample_auc":
        return row | {"tolerance": tolerance, "within_tolerance": bool(row["ratio"] <= tolerance)}
    allowance = 2 * row["ratio_uncertainty"] if np.isfinite(row["ratio_uncertainty"]) else 0.0
    return row | {"tolerance": tolerance, "within_tolerance": bool(abs(row["ratio"] - 1.0) - allowance <= tolerance)}


def _row(sample, quantity, statistic, embedded=np.nan, delphes=np.nan, ratio=np.nan, uncertainty=np.nan, n=0,
         bin_variable="", bin_low=np.nan, bin_high=np.nan) -> dict:
    return {"sample": sample, "quantity": quantity, "statistic": statistic, "bin_variable": bin_variable, "bin_low": bin_low,
            "bin_high": bin_high, "embedded": embedded, "delphes": delphes, "ratio": ratio, "ratio_uncertainty": uncertainty, "n": n}


def compare(sample: str, embedded_paths, delphes_paths, jet_radius: float, selection: dict, npix: int, seed: int,
            tolerances: dict | None = None, cnn_epochs: int = 50) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The closure table of one sample, and the arrays its figure draws (mean images, pull, response table).

    `tolerances`: quantity -> largest |embedded / Delphes - 1| (the AUC: its largest value); quantities without
    one are reported, not judged."""
    tolerances = tolerances or {}
    events, passed = read_chunk_pairs(embedded_paths, delphes_paths, jet_radius, selection, sample)
    n_events = len(events["delphes"])
    rows = []

    for quantity, ratio in per_event_ratios(events["embedded"], events["delphes"]).items():
        if len(ratio) < MIN_EVENTS:
            ratio = ratio[:0]  # too few events to judge
        median, uncertainty, low, high = median_with_uncertainty(ratio)
        rows.append(_row(sample, quantity, "median per-event ratio", ratio=median, uncertainty=uncertainty, n=len(ratio)))
        rows.append(_row(sample, f"{quantity}_ratio_spread", "16-84 % of per-event ratio", embedded=low, delphes=high, n=len(ratio)))

    met = {detector: per_event(events[detector].met_gev) for detector in DETECTORS}
    for quantity, quantile in (("met", 0.5), ("met_q90", 0.9)):
        ratio, uncertainty = quantile_ratio(met["embedded"], met["delphes"], quantile, seed)
        rows.append(_row(sample, quantity, f"{quantile:.0%} quantile of MET", float(np.quantile(met["embedded"], quantile)),
                         float(np.quantile(met["delphes"], quantile)), ratio, uncertainty, n_events))

    generator_jets = read_generator_jets(delphes_paths)
    empty = pd.DataFrame({"gen_pt": [], "gen_abs_eta": [], "response": []})
    matched = {detector: empty if generator_jets is None else match_to_generator_jets(reco_jets(events[detector]), generator_jets, jet_radius)
               for detector in DETECTORS}
    response = response_table(matched)
    for _, bin_row in response.iterrows():
        if min(bin_row.embedded_n, bin_row.delphes_n) < MIN_JETS_PER_BIN:
            continue
        common = dict(bin_variable=f"gen jet pT [GeV], |eta| {bin_row.abs_eta_low:g}-{bin_row.abs_eta_high:g}",
                      bin_low=bin_row.pt_low_gev, bin_high=bin_row.pt_high_gev, n=int(bin_row.delphes_n))
        rows.append(_row(sample, "jet_response", "median reco/gen pT", bin_row.embedded_median, bin_row.delphes_median,
                         bin_row.embedded_median / bin_row.delphes_median,
                         np.hypot(bin_row.embedded_median_uncertainty, bin_row.delphes_median_uncertainty), **common))
        rows.append(_row(sample, "jet_resolution", "half 16-84 % of reco/gen pT over median", bin_row.embedded_resolution,
                         bin_row.delphes_resolution, bin_row.embedded_resolution / bin_row.delphes_resolution, **common))

    both_have_jets = np.logical_and(*(ak.to_numpy(ak.num(events[detector].jet_pt) > 0) for detector in DETECTORS))
    summaries = {detector: constituent_summary(events[detector], both_have_jets) for detector in DETECTORS}
    for name in summaries["delphes"]:
        emb, dl = summaries["embedded"][name], summaries["delphes"][name]
        quantity = "constituents" if name == "count_all" else f"leading_jet_{name}"
        # Paired: the same jets in both detectors, so the spread of the per-event difference sets the uncertainty.
        uncertainty = np.std(emb - dl) / np.sqrt(len(dl)) / dl.mean() if len(dl) > 1 and dl.mean() > 0 else np.nan
        rows.append(_row(sample, quantity, "mean over events", emb.mean(), dl.mean(), emb.mean() / dl.mean() if dl.mean() > 0 else np.nan,
                         uncertainty, len(dl)))

    # Same events: only those selected by one detector and not the other make the efficiencies differ.
    selected = {detector: int(mask.sum()) for detector, mask in passed.items()}
    discordant = int(np.sum(passed["embedded"] != passed["delphes"]))
    rows.append(_row(sample, "selection_efficiency", "fraction of events selected", selected["embedded"] / n_events,
                     selected["delphes"] / n_events, selected["embedded"] / selected["delphes"] if selected["delphes"] else np.nan,
                     np.sqrt(max(discordant, 1)) / max(selected["delphes"], 1), n_events))

    with_images = image_events(events["embedded"], events["delphes"])
    pictures = {detector: images.event_images(events[detector][with_images], npix) for detector in DETECTORS}
    mean_embedded, mean_delphes, pull = pixel_pull(pictures["embedded"], pictures["delphes"])
    rows.append(_row(sample, "image_pixel_pull", "chi2 / pixels of the mean-image difference", ratio=float(np.mean(pull**2)),
                     n=len(with_images)))
    rows.append(_row(sample, "image_pixel_pull_max", "largest |pull| of a pixel", ratio=float(np.max(np.abs(pull))), n=len(with_images)))
    auc, n_test = two_sample_auc(pictures["embedded"], pictures["delphes"], seed, epochs=cnn_epochs)
    rows.append(_row(sample, "two_sample_auc", f"CNN on {npix}x{npix} image pairs, embedded vs Delphes", ratio=auc, n=n_test))

    table = pd.DataFrame([_judged(row, tolerances) for row in rows], columns=COLUMNS)
    arrays = {"mean_image_embedded": mean_embedded, "mean_image_delphes": mean_delphes, "pull": pull}
    arrays |= {f"response_{column}": response[column].to_numpy(dtype=np.float64) for column in response.columns}
    return table, arrays


def write_sample(sample, embedded_paths, delphes_paths, jet_radius, selection, npix, seed, tolerances, output_csv, output_arrays,
                 cnn_epochs: int = 50) -> pd.DataFrame:
    table, arrays = compare(sample, embedded_paths, delphes_paths, jet_radius, selection, npix, seed, tolerances, cnn_epochs)
    files.write_csv(table, output_csv)
    with files.atomic_output(output_arrays) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
    return table


def combine(sample_tables, output_csv) -> pd.DataFrame:
    """All samples' closure tables in one tidy CSV."""
    table = pd.concat([pd.read_csv(path) for path in sample_tables], ignore_index=True)
    files.write_csv(table, output_csv)
    return table


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """Rows judged against a tolerance and outside it."""
    judged = table[table.within_tolerance.notna()]
    return judged[~judged.within_tolerance.astype(bool)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.validation.closure", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sample = commands.add_parser("sample", help="compare one sample's chunks through both detectors")
    sample.add_argument("--sample", required=True)
    sample.add_argument("--embedded", type=Path, nargs="+", required=True, help="the embedded simulation's ROOT files")
    sample.add_argument("--delphes", type=Path, nargs="+", required=True, help="Delphes' ROOT files of the same chunks")
    sample.add_argument("--jet-radius", type=float, required=True)
    sample.add_argument("--selection", required=True, help="the sample's selection cuts as JSON")
    sample.add_argument("--npix", type=int, default=25)
    sample.add_argument("--seed", type=int, required=True)
    sample.add_argument("--tolerances", default="{}", help="JSON: quantity -> tolerance (others are not judged)")
    sample.add_argument("--cnn-epochs", type=int, default=50, help="most epochs of the two-sample CNN (early stopping)")
    sample.add_argument("--threads", type=int, default=1, help="CPU threads of the two-sample CNN (the job's cores)")
    sample.add_argument("--output", type=Path, required=True, help="the sample's closure CSV")
    sample.add_argument("--arrays", type=Path, required=True, help="mean images, pull and response table (.npz)")
    combined = commands.add_parser("combine", help="all samples' tables in one CSV")
    combined.add_argument("tables", type=Path, nargs="+", help="the samples' closure CSVs")
    combined.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "sample":
        from workflow_scripts.core.devices import set_cpu_threads

        set_cpu_threads(args.threads)  # the cores Snakemake granted; also fixes the summation order, so the AUC repeats
        table = write_sample(args.sample, args.embedded, args.delphes, args.jet_radius, json.loads(args.selection), args.npix,
                             args.seed, json.loads(args.tolerances), args.output, args.arrays, args.cnn_epochs)
    else:
        table = combine(args.tables, args.output)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500):
        print(table.drop(columns=["bin_variable"]).to_string(index=False), flush=True)
    outside = failures(table)
    if len(outside):
        print(f"{len(outside)} closure checks outside tolerance: "
              + ", ".join(f"{row.sample} {row.quantity} ({row.ratio:.4f})" for row in outside.itertuples()), flush=True)


if __name__ == "__main__":
    main()
