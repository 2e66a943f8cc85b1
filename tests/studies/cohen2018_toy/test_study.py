"""Planning and packing of the toy study's trainings."""

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.ml import ensemble
from workflow_scripts.ml.supervision import SupervisionRun, event_groups, group_targets
from workflow_scripts.ml.weak_supervision import evaluate_members, train_runs
from workflow_scripts.studies.cohen2018_toy import toy_model
from workflow_scripts.studies.cohen2018_toy.plan import plan_jobs, plan_runs


def test_run_names_round_trip():
    for run in (SupervisionRun("full", "bce"), SupervisionRun("weak", "mae", 0.7), SupervisionRun("weak", "bce", 1.0), SupervisionRun("weak", "llp", 0.05)):
        assert SupervisionRun.parse(run.name) == run
    with pytest.raises(ValueError, match="does not match"):
        SupervisionRun.parse("weak-bce-0.7")


def test_paper_scan_is_planned_as_described():
    runs = plan_runs([round(0.1 * i, 1) for i in range(11)], ["bce", "mae", "llp"], 0.7)
    assert len(runs) == 1 + 11 + 2  # weak-bce at 0.7 belongs to the scan and the loss study alike
    jobs = plan_jobs(runs, 100, 600)
    assert sorted(len(names) for names in jobs.values()) == [1, 1, 6, 6]
    assert sorted(name for names in jobs.values() for name in names) == sorted(runs)
    assert all(len({SupervisionRun.parse(name).loss for name in names}) == 1 for names in jobs.values())


def test_groups_give_per_event_labels_for_full_and_fractions_for_weak():
    table = pd.DataFrame({"dataset": ["A", "A", "B", "B"], "label": [0, 1, 0, 1]})
    groups = event_groups(table)
    assert np.take(group_targets(SupervisionRun("full", "bce"), 0.4), groups).tolist() == [0, 1, 0, 1]
    assert np.take(group_targets(SupervisionRun("weak", "bce", 0.2), 0.4), groups).tolist() == [0.4, 0.4, 0.2, 0.2]


def test_packing_runs_does_not_change_them():
    table = toy_model.make_toy_datasets(600, 0.4, 0.7, 400, 0.55, 0.2, seed=3)
    settings = ensemble.TrainingSettings(epochs=1, learning_rate=0.01)
    runs = [SupervisionRun("full", "bce"), SupervisionRun("weak", "bce", 0.7)]
    _, _, packed, _, seeds = train_runs(table, runs, settings, 2, 0.4, global_seed=1, log=lambda _: None,
                                        feature_columns=toy_model.FEATURES)
    _, _, alone, _, alone_seeds = train_runs(table, runs[1:], settings, 2, 0.4, global_seed=1, log=lambda _: None,
                                        feature_columns=toy_model.FEATURES)
    assert seeds[2:] == alone_seeds
    np.testing.assert_allclose(packed[2:], alone, rtol=1e-5, atol=1e-6)


def test_runs_with_different_losses_are_not_packed():
    table = toy_model.make_toy_datasets(100, 0.4, 0.7, 100, 0.55, 0.2, seed=3)
    with pytest.raises(ValueError, match="share the loss"):
        train_runs(table, [SupervisionRun("weak", "bce", 0.7), SupervisionRun("weak", "mae", 0.7)], ensemble.TrainingSettings(), 1, 0.4, 1,
                   feature_columns=toy_model.FEATURES)


def test_flipped_member_is_detected_and_evaluated_inverted():
    labels = np.array([0, 0, 1, 1])
    outputs = np.array([[0.1, 0.2, 0.8, 0.9], [0.9, 0.8, 0.2, 0.1]])
    per_member, roc, hist = evaluate_members(outputs, labels)
    assert per_member["class_flipped"].tolist() == [False, True]
    assert per_member["auc"].tolist() == [1.0, 1.0]
    assert per_member["auc_raw"].tolist() == [1.0, 0.0]
    assert hist.groupby("member")["count"].sum().tolist() == [4, 4]
