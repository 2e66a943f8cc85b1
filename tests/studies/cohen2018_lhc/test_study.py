"""Cohen et al. section 5: inputs, weak-supervision sets with fractions from counts, Table 3."""

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from workflow_scripts.core import files
from workflow_scripts.studies.cohen2018_lhc import study


def test_features_are_met_and_ten_zero_padded_jet_pts():
    events = ak.Array({"met_gev": [250.0, 400.0], "jet_pt": [[300.0, 120.0], [500.0] + [50.0] * 11]})
    table = study.feature_table(events)
    assert list(table.columns) == list(study.FEATURES) and len(study.FEATURES) == 11
    assert table.iloc[0].tolist() == [250.0, 300.0, 120.0] + [0.0] * 8
    assert table.iloc[1].tolist() == [400.0, 500.0] + [50.0] * 9  # jets beyond the tenth are dropped


def test_weak_sets_take_80_percent_of_background_and_40_percent_of_signal_with_fractions_from_counts():
    table = pd.DataFrame({name: np.zeros(3000) for name in study.FEATURES})
    table["label"] = np.r_[np.zeros(2000, int), np.ones(1000, int)]
    split, fractions = study.assign_sets(table, seed=1)
    counts = split.groupby(["dataset", "label"], observed=True).size()
    assert counts[("A", 0)] == 1600 and counts[("A", 1)] == 400 and counts[("B", 0)] == 400 and counts[("B", 1)] == 600
    assert (split.split == "test").mean() == pytest.approx(0.1, abs=0.002)
    assert (split.split == "val").sum() / (split.split != "test").sum() == pytest.approx(0.2, abs=0.002)
    train = split[split.split == "train"]
    for name in ("A", "B"):  # the labels are the sets' actual signal fractions in the training split
        assert fractions[name] == pytest.approx(train.label[train.dataset == name].mean())
    assert fractions["A"] == pytest.approx(0.2, abs=0.02) and fractions["B"] == pytest.approx(0.6, abs=0.03)
    with pytest.raises(ValueError, match="signal sample has 2 selected events"):
        study.assign_sets(table.iloc[:2002].assign(label=np.r_[np.zeros(2000, int), [1, 1]]), seed=1)


def test_table3_summarises_each_supervision():
    per_network = pd.DataFrame({"supervision": ["full", "full", "weak", "weak"], "auc": [0.99, 0.97, 0.9, 0.8],
                                "signal_eff_at_bkg1pct": [0.9, 0.7, 0.5, 0.3]})
    table = study.table3(per_network).set_index("supervision")
    assert table.loc["full", "auc_mean"] == pytest.approx(0.98) and table.loc["weak", "n_trainings"] == 2
    assert table.loc["weak", "signal_eff_at_bkg1pct_std"] == pytest.approx(np.std([0.5, 0.3], ddof=1))


def test_random_relabelling_turns_15_percent_of_signal_into_background():
    labels = np.r_[np.zeros(50, int), np.ones(200, int)]
    relabelled = study.relabel_random(labels, np.random.default_rng(0))
    assert (relabelled[:50] == 0).all()  # background untouched
    assert (relabelled[50:] == 0).sum() == 30 and (relabelled == 1).sum() == 170


def test_phase_space_swap_exchanges_the_most_confusable_events():
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    scores = np.r_[np.linspace(0.0, 0.6, 20), np.linspace(0.4, 1.0, 20)]  # overlapping tails
    swapped = study.relabel_swap(labels, scores)
    # The 2 highest-scored background events (10 % of 20) become signal ...
    assert swapped[:20].tolist() == [0] * 18 + [1, 1]
    # ... and the 3 lowest-scored signal events (15 % of 20) become background.
    assert swapped[20:].tolist() == [0, 0, 0] + [1] * 17


def test_set_fractions_follow_the_labels_given():
    table = pd.DataFrame({"split": ["train"] * 6 + ["test"], "dataset": list("AAABBBA"), "label": [0, 0, 1, 1, 1, 0, 1],
                          "true_label": [0, 1, 1, 1, 1, 1, 1]})
    assert study.set_fractions(table) == pytest.approx({"A": 1 / 3, "B": 2 / 3})
    assert study.set_fractions(table, "true_label") == pytest.approx({"A": 2 / 3, "B": 1.0})


def test_rendered_tables_show_mean_and_spread():
    table3 = pd.DataFrame({"mismodelling": ["none"], "supervision": ["weak"], "auc_mean": [0.99], "auc_std": [0.01],
                           "signal_eff_at_bkg1pct_mean": [0.5], "signal_eff_at_bkg1pct_std": [0.1], "n_trainings": [10]})
    table4 = pd.DataFrame({"mismodelling": ["swap"], "label_a_used": [0.4], "label_b_used": [0.7],
                           "true_fraction_a": [0.41], "true_fraction_b": [0.8]})
    text = study.render_tables(table3, table4)
    assert "| none | weak | 0.99000 +- 0.01000 | 0.5000 +- 0.1000 | 10 |" in text
    assert "| swap | 0.4000 | 0.7000 | 0.4100 | 0.8000 |" in text


def test_cut_flow_counts_each_sample_and_weights_each_class_by_cross_section(tmp_path):
    def chunk(sample, index, generated, selected, cross_section_pb):
        path = tmp_path / sample / f"chunk{index}.parquet"
        path.parent.mkdir(exist_ok=True)
        files.write_awkward(ak.Array({"met_gev": np.full(selected, 300.0)}), path,
                            {"sample": sample, "n_events": generated, "n_selected": selected,
                             "cross_section_pb": cross_section_pb})
        return path

    signal = [chunk("gluino", 0, 1000, 950, 1e-3), chunk("gluino", 1, 1000, 940, 1e-3)]
    background = [chunk("z_low", 0, 1000, 200, 30.0), chunk("z_high", 0, 500, 400, 10.0)]
    flow = study.cut_flow(signal, background).set_index("sample")
    assert flow.loc["gluino", "n_generated"] == 2000 and flow.loc["gluino", "efficiency"] == pytest.approx(0.945)
    assert flow.loc["signal", "efficiency"] == pytest.approx(0.945)
    assert flow.loc["signal", "efficiency_error"] == pytest.approx(np.sqrt(0.945 * 0.055 / 2000))
    # Background: 0.2 of the 30 pb slice and 0.8 of the 10 pb slice, weighted by their cross sections.
    assert flow.loc["background", "efficiency"] == pytest.approx((30 * 0.2 + 10 * 0.8) / 40)
    assert flow.loc["background", "n_selected"] == 600 and list(flow.label) == [1, 1, 0, 0, 0]
