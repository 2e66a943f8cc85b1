"""Detector closure (workflow_scripts/validation/closure.py) on hand-made inputs and on the embedded simulation run twice.

Delphes itself is compared in tests/external/test_real_stack.py (test_closure_target_...); here the "Delphes" side is a
second embedded file, so the comparison's arithmetic can be checked against what it must give."""

import json

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from workflow_scripts.detector import delphes_io, simulation
from workflow_scripts.figures import __main__ as figures
from workflow_scripts.generation import cards, pythia
from workflow_scripts.validation import closure

SELECTION = {"min_jets": 2, "n_leading_jets": 2, "leading_jet_pt_min_gev": 750, "leading_jet_abs_eta_max": 2.0}


def test_quantile_ratio_of_paired_distributions():
    rng = np.random.default_rng(1)
    values = rng.exponential(50.0, 2000)
    assert closure.quantile_ratio(values, values, 0.5, seed=2) == (1.0, 0.0)
    ratio, uncertainty = closure.quantile_ratio(1.1 * values, values, 0.9, seed=2)
    assert ratio == pytest.approx(1.1) and uncertainty == pytest.approx(0.0, abs=1e-12)
    # Independent draws of the same distribution: ratio near 1 within a few of its uncertainties.
    ratio, uncertainty = closure.quantile_ratio(rng.exponential(50.0, 2000), values, 0.5, seed=2)
    assert 0.01 < uncertainty < 0.1 and abs(ratio - 1) < 4 * uncertainty


def test_generator_jets_match_the_nearest_reco_jet_within_half_the_radius():
    generator = ak.Array([[{"PT": 100.0, "Eta": 0.0, "Phi": 0.0}, {"PT": 50.0, "Eta": 1.0, "Phi": 2.0}],
                          [{"PT": 200.0, "Eta": -1.0, "Phi": 3.1}]])
    reco = ak.Array([[{"pt": 45.0, "eta": 1.1, "phi": 2.0}, {"pt": 98.0, "eta": 0.05, "phi": 0.0}, {"pt": 10.0, "eta": 0.1, "phi": 0.1}],
                     [{"pt": 210.0, "eta": -1.0, "phi": -3.1}]])  # across the phi wrap
    matched = closure.match_to_generator_jets(reco, generator, jet_radius=0.4)
    assert matched.response.tolist() == pytest.approx([0.98, 0.9, 1.05])
    # R / 2 = 0.09: the second generator jet's nearest reco jet (Delta R = 0.1) is too far.
    assert closure.match_to_generator_jets(reco, generator, jet_radius=0.18).gen_pt.tolist() == [100.0, 200.0]
    assert len(closure.match_to_generator_jets(reco[:, :0], generator, jet_radius=0.4)) == 0  # events without reco jets


def test_response_table_bins_median_and_resolution():
    rng = np.random.default_rng(3)
    responses = rng.normal(1.02, 0.05, 4000)
    table = pd.DataFrame({"gen_pt": np.full(4000, 300.0), "gen_abs_eta": np.full(4000, 0.7), "response": responses})
    result = closure.response_table({"embedded": table, "delphes": table.assign(response=responses / 1.02)},
                                    pt_bins=(100, 500, 1000), abs_eta_bins=(0.0, 1.5))
    filled = result.iloc[0]
    assert filled.embedded_n == 4000 and result.iloc[1].embedded_n == 0
    assert filled.embedded_median == pytest.approx(1.02, abs=0.003) and filled.delphes_median == pytest.approx(1.0, abs=0.003)
    assert filled.embedded_resolution == pytest.approx(0.05 / 1.02, rel=0.05)


def test_judgement_allows_for_statistics_and_treats_the_auc_as_a_ceiling():
    tolerances = {"leading_jet_pt": 0.01, "two_sample_auc": 0.6}
    row = closure._row("s", "leading_jet_pt", "median", ratio=1.03, uncertainty=0.002)
    assert closure._judged(row, tolerances)["within_tolerance"] is False
    assert closure._judged(row | {"ratio_uncertainty": 0.011}, tolerances)["within_tolerance"] is True
    assert closure._judged(row | {"ratio": 0.995}, tolerances)["within_tolerance"] is True
    assert closure._judged(closure._row("s", "two_sample_auc", "", ratio=0.65), tolerances)["within_tolerance"] is False
    assert pd.isna(closure._judged(closure._row("s", "image_pixel_pull", "", ratio=3.0), tolerances)["within_tolerance"])


def test_pixel_pull_is_zero_for_identical_images_and_large_for_a_shifted_one():
    rng = np.random.default_rng(4)
    images = rng.exponential(1.0, (300, 2, 9, 9)).astype(np.float32)
    _, _, pull = closure.pixel_pull(images, images)
    assert np.all(pull == 0)
    shifted = images.copy()
    shifted[:, :, 4, 4] *= 1.5
    mean_embedded, mean_delphes, pull = closure.pixel_pull(shifted, images)
    assert pull[4, 4] > 5 and np.abs(np.delete(pull.ravel(), 40)).max() == 0
    assert mean_embedded[4, 4] == pytest.approx(1.5 * mean_delphes[4, 4])


def test_two_sample_cnn_finds_a_difference_and_none_where_there_is_none():
    rng = np.random.default_rng(5)
    # Sparse images, as jet images are: a tenth of the pixels lit.
    images = ((rng.random((600, 2, 15, 15)) < 0.1) * rng.exponential(10.0, (600, 2, 15, 15))).astype(np.float32)
    auc, n_test = closure.two_sample_auc(images, images.copy(), seed=6, epochs=5)
    assert auc == pytest.approx(0.5, abs=0.01) and n_test == 2 * 120  # the same set twice: no ordering beats chance
    brighter = images.copy()
    brighter[:, :, 7, 7] += 5.0
    auc, _ = closure.two_sample_auc(brighter, images, seed=6, epochs=40)
    assert auc > 0.9
    assert closure.two_sample_auc(brighter, images, seed=6, epochs=40)[0] == auc  # the same seed, the same network


@pytest.fixture(scope="module")
def embedded_twice(tmp_path_factory):
    """One QCD chunk through the embedded simulation with the card's jet energy scale and 3 % above it."""
    directory = tmp_path_factory.mktemp("closure")
    card = directory / "qcd.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000},
                                                            13000.0), "qcd"))
    pythia.generate_chunk(card, directory / "particles.parquet", "qcd_dijet", 0, 150, global_seed=7, batch_size=50)
    for name, scale in (("nominal", 1.0), ("shifted", 1.03)):
        simulation.simulate_chunk(directory / "particles.parquet", directory / f"{name}.root", jet_radius=0.8, global_seed=7,
                                jet_energy_scale=scale)
    return directory


def test_closure_of_a_detector_with_itself_is_exact(embedded_twice):
    path = [embedded_twice / "nominal.root"]
    tolerances = {quantity: 1e-9 for quantity in ("leading_jet_pt", "mjj", "met", "met_q90", "leading_jet_mass", "constituents",
                                                   "selection_efficiency")} | {"two_sample_auc": 0.55}
    table, arrays = closure.compare("qcd", path, path, 0.8, SELECTION, npix=15, seed=8, tolerances=tolerances, cnn_epochs=2)
    judged = table.set_index("quantity")
    assert judged.within_tolerance.notna().sum() == len(tolerances)
    for quantity in ("leading_jet_pt", "mjj", "leading_jet_mass", "met", "met_q90", "constituents", "selection_efficiency"):
        assert judged.loc[quantity, "ratio"] == pytest.approx(1.0, abs=1e-12), quantity
    # Identical images get identical scores: the two-sample test cannot do better than chance.
    assert judged.loc["two_sample_auc", "ratio"] == pytest.approx(0.5, abs=0.01)
    assert np.all(arrays["pull"] == 0) and len(closure.failures(table)) == 0
    # No GenJet branch in embedded files: no response rows, the rest is complete.
    assert "jet_response" not in judged.index and list(table.columns) == closure.COLUMNS


def test_closure_fails_on_a_three_percent_jet_energy_scale_shift(embedded_twice):
    table, _ = closure.compare("qcd", [embedded_twice / "shifted.root"], [embedded_twice / "nominal.root"], 0.8, SELECTION,
                               npix=15, seed=8, tolerances={"leading_jet_pt": 0.01, "mjj": 0.01}, cnn_epochs=2)
    judged = table.set_index("quantity")
    assert judged.loc["leading_jet_pt", "ratio"] == pytest.approx(1.03, abs=1e-4)
    assert judged.loc["mjj", "ratio"] == pytest.approx(1.03, abs=1e-3)
    assert judged.loc["selection_efficiency", "ratio"] > 1.0  # more events pass 750 GeV
    failing = set(closure.failures(table).quantity)
    assert {"leading_jet_pt", "mjj"} <= failing and "constituents" not in failing


def test_events_that_are_not_the_same_are_refused(embedded_twice):
    events, passed = delphes_io.convert_with_selection(embedded_twice / "nominal.root", SELECTION, 0.8)
    assert len(passed) == len(events) == 150 and 0 < passed.sum() < 150
    # The mask picks exactly the events the converter keeps under the selection.
    selected = delphes_io.convert(embedded_twice / "nominal.root", SELECTION, 0.8)
    assert ak.to_numpy(events.event_number)[passed].tolist() == ak.to_numpy(selected.event_number).tolist()
    with pytest.raises(ValueError, match="same chunks"):
        closure.check_same_events(events, events[:-1], "qcd")
    with pytest.raises(ValueError, match="same order"):
        closure.check_same_events(events, events[::-1], "qcd")
    with pytest.raises(ValueError, match="same chunks"):
        closure.read_chunk_pairs([embedded_twice / "nominal.root"] * 2, [embedded_twice / "nominal.root"], 0.8, SELECTION, "qcd")


def test_summary_joins_the_samples_and_the_figure_draws_them(embedded_twice, tmp_path):
    outputs = []
    for sample, embedded in (("nominal", "nominal.root"), ("shifted", "shifted.root")):
        csv, arrays = tmp_path / f"{sample}.csv", tmp_path / f"{sample}.npz"
        closure.write_sample(sample, [embedded_twice / embedded], [embedded_twice / "nominal.root"], 0.8, SELECTION, 15, 8,
                             {"leading_jet_pt": 0.01}, csv, arrays, cnn_epochs=1)
        outputs.append((csv, arrays))
    (first_csv, first_arrays), (second_csv, second_arrays) = outputs
    table = closure.combine([first_csv, second_csv], tmp_path / "all.csv")
    assert list(pd.unique(table["sample"])) == ["nominal", "shifted"]
    assert pd.read_csv(tmp_path / "all.csv").shape == table.shape
    assert list(closure.failures(table)["sample"]) == ["shifted"]
    inputs = {"tables": [str(first_csv), str(second_csv)], "arrays": [str(first_arrays), str(second_arrays)]}
    figures.main(["validation-detector-closure", "--inputs", json.dumps(inputs), "--output", str(tmp_path / "closure.pdf")])
    assert (tmp_path / "closure.png").stat().st_size > 20_000 and (tmp_path / "closure.pdf").is_file()
    with pytest.raises(ValueError):  # one arrays file per table
        figures.main(["validation-detector-closure", "--inputs", json.dumps(inputs | {"arrays": [str(first_arrays)]}),
                      "--output", str(tmp_path / "bad.pdf")])
