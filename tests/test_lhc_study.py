"""Cohen et al. section 5: inputs, weak-supervision sets with fractions from counts, Table 3."""

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from workflow_scripts import lhc_study


def test_features_are_met_and_ten_zero_padded_jet_pts():
    events = ak.Array({"met_gev": [250.0, 400.0], "jet_pt": [[300.0, 120.0], [500.0] + [50.0] * 11]})
    table = lhc_study.feature_table(events)
    assert list(table.columns) == list(lhc_study.FEATURES) and len(lhc_study.FEATURES) == 11
    assert table.iloc[0].tolist() == [250.0, 300.0, 120.0] + [0.0] * 8
    assert table.iloc[1].tolist() == [400.0, 500.0] + [50.0] * 9  # jets beyond the tenth are dropped


def test_weak_sets_take_80_percent_of_background_and_40_percent_of_signal_with_fractions_from_counts():
    table = pd.DataFrame({name: np.zeros(3000) for name in lhc_study.FEATURES})
    table["label"] = np.r_[np.zeros(2000, int), np.ones(1000, int)]
    split, fractions = lhc_study.assign_sets(table, seed=1)
    counts = split.groupby(["dataset", "label"], observed=True).size()
    assert counts[("A", 0)] == 1600 and counts[("A", 1)] == 400 and counts[("B", 0)] == 400 and counts[("B", 1)] == 600
    assert (split.split == "test").mean() == pytest.approx(0.1, abs=0.002)
    assert (split.split == "val").sum() / (split.split != "test").sum() == pytest.approx(0.2, abs=0.002)
    train = split[split.split == "train"]
    for name in ("A", "B"):  # the labels are the sets' actual signal fractions in the training split
        assert fractions[name] == pytest.approx(train.label[train.dataset == name].mean())
    assert fractions["A"] == pytest.approx(0.2, abs=0.02) and fractions["B"] == pytest.approx(0.6, abs=0.03)
    with pytest.raises(ValueError, match="signal sample has 2 selected events"):
        lhc_study.assign_sets(table.iloc[:2002].assign(label=np.r_[np.zeros(2000, int), [1, 1]]), seed=1)


def test_table3_summarises_each_supervision():
    per_network = pd.DataFrame({"supervision": ["full", "full", "weak", "weak"], "auc": [0.99, 0.97, 0.9, 0.8],
                                "signal_eff_at_bkg1pct": [0.9, 0.7, 0.5, 0.3]})
    table = lhc_study.table3(per_network).set_index("supervision")
    assert table.loc["full", "auc_mean"] == pytest.approx(0.98) and table.loc["weak", "n_trainings"] == 2
    assert table.loc["weak", "signal_eff_at_bkg1pct_std"] == pytest.approx(np.std([0.5, 0.3], ddof=1))
