"""CWoLa pseudo-experiments: counts at the requested luminosity and S/sqrt(B), disjoint test set, seeds."""

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.core import files
from workflow_scripts.studies.cwola import datasets


def window_table(n_sr, n_sb):
    return pd.DataFrame({"chunk": 0, "event_in_chunk": np.arange(n_sr + n_sb), "region": ["SR"] * n_sr + ["SB"] * n_sb})


BACKGROUND = window_table(3000, 3600)  # SB/SR = 1.2
SIGNAL = window_table(1000, 250)  # SB/SR = 0.25


def test_counts_follow_luminosity_and_injection():
    counts = datasets.injected_counts(2500, 3.0, BACKGROUND, SIGNAL)
    assert counts == {"background_SR": 2500, "background_SB": 3000, "signal_SR": 150, "signal_SB": 38}


def make_experiment(seed, injection=3.0, background_sr_events=2000):
    test_background = datasets.test_rows(BACKGROUND, 400, seed=1, source="background")
    test_signal = datasets.test_rows(SIGNAL, 400, seed=2, source="signal")
    counts = datasets.injected_counts(background_sr_events, injection, BACKGROUND, SIGNAL)
    return datasets.pseudo_experiment(BACKGROUND, SIGNAL, test_background, test_signal, counts, 0.2, seed), \
        test_background, test_signal, counts


def test_pseudo_experiment_has_requested_counts_and_never_uses_test_events():
    data, test_background, test_signal, counts = make_experiment(seed=5)
    sizes = data.groupby(["source", "region"]).size()
    for (source, region), size in sizes.items():
        assert size == counts[f"{source}_{region}"]
    s, b = counts["signal_SR"], counts["background_SR"]
    assert s / np.sqrt(b) == pytest.approx(3.0, abs=0.02)
    assert not set(data.image_row[data.source == "background"]) & set(test_background)
    assert not set(data.image_row[data.source == "signal"]) & set(test_signal)
    assert not data.duplicated(["source", "image_row"]).any()
    assert (data.label == (data.region == "SR")).all() and (data.is_signal == (data.source == "signal")).all()
    for _, cell in data.groupby(["source", "region"]):
        assert (cell.split == "validation").mean() == pytest.approx(0.2, abs=0.01)


def test_same_seed_same_events_and_new_seed_resamples():
    first, *_ = make_experiment(seed=5)
    again, *_ = make_experiment(seed=5)
    other, *_ = make_experiment(seed=6)
    pd.testing.assert_frame_equal(first, again)
    assert set(first.image_row[first.source == "background"]) != set(other.image_row[other.source == "background"])


def test_too_few_events_is_a_clear_error():
    with pytest.raises(ValueError, match="background events in the SR.*background_sr_events"):
        make_experiment(seed=1, background_sr_events=2700)
    with pytest.raises(ValueError, match="signal sample has 1000 signal-region events.*n_test_per_class"):
        datasets.test_rows(SIGNAL, 1500, seed=1, source="signal")


def test_stage_files_round_trip(tmp_path):
    files.write_table(BACKGROUND, tmp_path / "bkg.parquet", {})
    files.write_table(SIGNAL, tmp_path / "sig.parquet", {})
    test = datasets.write_test_set(tmp_path / "bkg.parquet", tmp_path / "sig.parquet", 300, 11, "bkg", "sig",
                                   tmp_path / "test.parquet")
    assert test.groupby("source").size().to_dict() == {"background": 300, "signal": 300}
    data = datasets.write_pseudo_experiment(tmp_path / "bkg.parquet", tmp_path / "sig.parquet", tmp_path / "test.parquet",
                                            1600, 5.0, 0, 0.2, 11, "bkg", "sig", tmp_path / "trial0.parquet")
    stored, metadata = files.read_table(tmp_path / "trial0.parquet")
    pd.testing.assert_frame_equal(stored, data)
    assert metadata["counts"]["signal_SR"] == 200 and metadata["injection"] == 5.0


def test_pretraining_set_mixes_other_benchmarks_and_avoids_the_test_set(tmp_path):
    test_background = datasets.test_rows(BACKGROUND, 400, seed=1, source="background")
    others = {"hv_dd_lambda5": window_table(300, 50), "hv_id_lambda20": window_table(400, 80), "hv_id_lambda1": window_table(500, 10)}
    data = datasets.pretraining_set(BACKGROUND, test_background, others, 900, 0.2, seed=3, background_name="qcd")
    assert data.groupby("is_signal").size().to_dict() == {0: 900, 1: 900}
    assert data[data.is_signal == 1].groupby("source").size().to_dict() == {"hv_dd_lambda5": 300, "hv_id_lambda1": 300,
                                                                           "hv_id_lambda20": 300}
    assert not set(data.image_row[data.source == "qcd"]) & set(test_background)
    assert (BACKGROUND.region.to_numpy()[data.image_row[data.source == "qcd"]] == "SR").all()
    assert (data.split == "validation").mean() == pytest.approx(0.2, abs=0.01)
    for name, table in others.items():
        files.write_table(table, tmp_path / f"{name}.parquet", {})
    files.write_table(BACKGROUND, tmp_path / "qcd.parquet", {})
    datasets.write_test_set(tmp_path / "qcd.parquet", tmp_path / "hv_id_lambda1.parquet", 300, 11, "qcd",
                            "hv_id_lambda10", tmp_path / "test.parquet")
    with pytest.raises(ValueError, match="held-out benchmark hv_id_lambda1 cannot be part of its own pretraining"):
        datasets.write_pretraining_set(tmp_path / "qcd.parquet", tmp_path / "test.parquet",
                                       {name: tmp_path / f"{name}.parquet" for name in others}, 100, 0.2, 11, "qcd",
                                       "hv_id_lambda1", tmp_path / "pretraining.parquet")


def test_reading_columns_of_a_stage_file(tmp_path):
    files.write_table(BACKGROUND, tmp_path / "bkg.parquet", {"sample": "bkg"})
    some, metadata = files.read_table(tmp_path / "bkg.parquet", columns=[BACKGROUND.columns[0]])
    assert list(some.columns) == [BACKGROUND.columns[0]] and len(some) == len(BACKGROUND) and metadata == {"sample": "bkg"}
    with pytest.raises(KeyError, match="bkg.parquet.*no_such_column"):
        files.read_table(tmp_path / "bkg.parquet", columns=["no_such_column"])


def test_supervised_set_has_pure_classes_from_the_signal_region_and_never_the_test_set(tmp_path):
    files.write_table(BACKGROUND, tmp_path / "bkg.parquet", {})
    files.write_table(SIGNAL, tmp_path / "sig.parquet", {})
    test = datasets.write_test_set(tmp_path / "bkg.parquet", tmp_path / "sig.parquet", 400, 11, "bkg", "sig",
                                   tmp_path / "test.parquet")
    data = datasets.write_supervised_set(tmp_path / "bkg.parquet", tmp_path / "sig.parquet", tmp_path / "test.parquet",
                                         500, 1600, [0, 2.5], 1, 0.2, 11, "bkg", "sig", tmp_path / "supervised.parquet")
    assert data.groupby("source").size().to_dict() == {"background": 500, "signal": 500}
    # Pure classes: the label is the truth, and every event is a signal-region event of its own sample.
    assert (data.label == data.is_signal).all() and (data.is_signal == (data.source == "signal")).all()
    for source, table in (("background", BACKGROUND), ("signal", SIGNAL)):
        rows = data.image_row[data.source == source]
        assert (table.region.to_numpy()[rows] == "SR").all()
        assert not set(rows) & set(test.image_row[test.source == source])
        assert (data.split[data.source == source] == "validation").mean() == pytest.approx(0.2)
    _, metadata = files.read_table(tmp_path / "supervised.parquet")
    # Scored at every injection, with the pseudo-experiments' own counts.
    assert metadata["counts_by_injection"]["2.5"] == datasets.injected_counts(1600, 2.5, BACKGROUND, SIGNAL)
    assert metadata["counts_by_injection"]["0"]["signal_SR"] == 0
    other = datasets.write_supervised_set(tmp_path / "bkg.parquet", tmp_path / "sig.parquet", tmp_path / "test.parquet",
                                          500, 1600, [0], 2, 0.2, 11, "bkg", "sig", tmp_path / "other.parquet")
    assert set(other.image_row[other.source == "signal"]) != set(data.image_row[data.source == "signal"])
    with pytest.raises(ValueError, match="supervised baseline needs 700 signal events in the SR but only 600.*n_per_class"):
        datasets.write_supervised_set(tmp_path / "bkg.parquet", tmp_path / "sig.parquet", tmp_path / "test.parquet", 700,
                                      1600, [0], 1, 0.2, 11, "bkg", "sig", tmp_path / "big.parquet")
