"""Figs. 9 and 11 of Cohen et al.: evaluation weights, working points and the combined network."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit

from workflow_scripts.ml import ensemble, metrics
from workflow_scripts.studies.cohen2018_lhc import combination
from workflow_scripts.studies.cohen2018_lhc.study import FEATURES, load_baseline


def test_spread_transform_is_the_papers_log_log_and_finite_where_the_sigmoid_saturates():
    logits = np.array([-5.0, -1.0, 0.0, 2.0, 6.0])
    np.testing.assert_allclose(combination.spread_full_output(logits), np.log10(np.log(2.0 - expit(logits))))
    assert combination.spread_full_output(-50.0) == pytest.approx(np.log10(np.log(2.0)))
    # float64 sigmoid(40) is exactly 1: log(2 - 1) = 0 would give -inf, the logit form does not.
    saturated = combination.spread_full_output(np.array([20.0, 40.0, 80.0]))
    assert np.all(np.isfinite(saturated)) and np.all(np.diff(saturated) < 0)
    assert saturated[1] == pytest.approx(-40.0 / np.log(10.0), rel=1e-6)  # log1p(e^-z) ~ e^-z


def test_threshold_keeps_the_requested_weighted_fraction():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    weights = np.array([1.0, 1.0, 2.0, 4.0, 2.0])
    assert metrics.threshold_keeping(scores, weights, 0.2) == 0.8   # 2 of 10
    assert metrics.threshold_keeping(scores, weights, 0.3) == 0.7   # 4 of 10: the first cut reaching 3
    assert metrics.threshold_keeping(scores, weights, 1.0) == 0.5
    with pytest.raises(ValueError, match="fraction"):
        metrics.threshold_keeping(scores, weights, 0.0)


def test_class_weights_put_five_times_the_signal_weight_on_the_background():
    labels = np.array([1, 1, 0, 0, 0])
    weights = combination.class_balanced_weights([1e-6, 3e-6, 2.0, 5.0, 1.0], labels, 5.0)
    assert weights[labels == 0].sum() == pytest.approx(5 * weights[labels == 1].sum())
    assert weights.mean() == pytest.approx(1.0)
    assert weights[1] == pytest.approx(3 * weights[0])  # shapes within a class are kept


def test_a_half_is_weighted_to_the_whole_cross_section_of_each_class():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0])
    half = combination.assign_halves(labels, seed=3) == "eval"
    scaled = combination.represent_whole(weights, labels, half)
    assert scaled[~half].sum() == 0
    assert scaled[half & (labels == 1)].sum() == pytest.approx(10.0)
    assert scaled[half & (labels == 0)].sum() == pytest.approx(100.0)
    with pytest.raises(ValueError, match="at least 4"):
        combination.assign_halves([1, 1, 0, 0, 0, 0], seed=1)


def test_evaluation_signal_excludes_training_events_and_keeps_the_signal_cross_section():
    rng = np.random.default_rng(0)
    dataset = pd.DataFrame({name: rng.uniform(0, 500, 10) for name in FEATURES})
    dataset["label"] = [1] * 8 + [0] * 2
    dataset["weight_pb"] = [1e-4] * 8 + [1.0] * 2
    dataset["split"] = ["train", "train", "train", "train", "val", "test", "test", "val", "train", "test"]
    background = pd.DataFrame({name: rng.uniform(0, 500, 3) for name in FEATURES}).assign(label=0, weight_pb=0.5)
    events = combination.evaluation_events(dataset, background)
    assert (events.label == 1).sum() == 4  # the four signal events outside the training split
    assert events.weight_pb[events.label == 1].sum() == pytest.approx(8e-4)
    assert events.weight_pb[events.label == 0].sum() == pytest.approx(1.5)  # only the MET-binned background


def _two_discriminant_events(n=6000, seed=0):
    """Signal and background differ in two independent directions: each network sees one of them."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n // 4, int), np.zeros(n - n // 4, int)]
    full_logit = rng.normal(2.0 * labels, 1.0)
    weak_logit = rng.normal(1.5 * labels, 1.0)
    weight_pb = np.where(labels == 1, 1e-3, rng.uniform(0.5, 1.5, n))  # background dominates the cross section
    events = pd.DataFrame({"label": labels, "weight_pb": weight_pb, "full_logit": full_logit, "weak_logit": weak_logit,
                           "full_output": expit(full_logit), "weak_output": expit(weak_logit),
                           "full_spread": combination.spread_full_output(full_logit)})
    events["half"] = combination.assign_halves(events.label, seed=seed)
    return events


def test_combination_of_two_complementary_networks_removes_background_at_equal_signal():
    events = _two_discriminant_events()
    settings = ensemble.TrainingSettings(n_hidden=30, optimizer="adam", learning_rate=0.01, batch_size=64, epochs=10)
    combiner, scaler = combination.train_combiner(events, settings, background_to_signal=5.0, seed=1)
    events["combined_logit"] = combination.combined_logit(combiner, scaler, events.weak_output, events.full_spread)
    events["weight_pb"] = combination.represent_whole(events.weight_pb, events.label, (events.half == "eval").to_numpy())
    points = combination.working_points(events, [0.5]).set_index("selection")
    # Every selection keeps (at least) half of the signal cross section of 0.25 * 6000 * 1e-3 pb = 1.5 pb.
    assert np.all(points.signal_fb >= 0.5 * 1500 * (1 - 1e-9))
    assert np.all(points.signal_fb < 0.56 * 1500)
    # The full network separates better than the weak one; the combination beats both by a wide margin.
    assert points.loc["full", "background_fb"] < points.loc["weak", "background_fb"]
    reduction = points.loc["combined", "combined_reduction_vs_best_single"]
    assert reduction == pytest.approx(1 - points.loc["combined", "background_fb"] / points.loc["full", "background_fb"])
    assert reduction > 0.2


def test_the_combiner_reaches_the_likelihood_ratio_optimum_on_a_constructed_case():
    """Both logits are Gaussian with unit width and independent: the optimal combination is the likelihood ratio,
    2 x full_logit + 1.5 x weak_logit (means 2 and 1.5 apart). At equal signal on the evaluation half, the trained
    combiner's cut keeps no more background than that optimal cut, within its counting noise and 3 %."""
    events = _two_discriminant_events(n=40000, seed=3)
    settings = ensemble.TrainingSettings(n_hidden=30, optimizer="adam", learning_rate=0.01, batch_size=64, epochs=10)
    combiner, scaler = combination.train_combiner(events, settings, background_to_signal=5.0, seed=1)
    events["combined_logit"] = combination.combined_logit(combiner, scaler, events.weak_output, events.full_spread)
    events["weight_pb"] = combination.represent_whole(events.weight_pb, events.label, (events.half == "eval").to_numpy())
    held_out = events[events.half == "eval"]
    signal = held_out.label.to_numpy() == 1
    weight = held_out.weight_pb.to_numpy()
    optimal_score = 2.0 * held_out.full_logit.to_numpy() + 1.5 * held_out.weak_logit.to_numpy()
    for efficiency in (0.5, 0.7, 0.9):
        cut = metrics.threshold_keeping(optimal_score[signal], weight[signal], efficiency)
        passing = (optimal_score >= cut) & ~signal
        optimal = weight[passing].sum() * combination.PB_TO_FB
        points = combination.working_points(events, [efficiency]).set_index("selection")
        assert passing.sum() > 100  # enough background for the comparison to mean something
        assert points.loc["combined", "background_fb"] <= optimal * (1.03 + 2 / np.sqrt(passing.sum())), efficiency
        # ... and the optimum lies well below either single cut, so reaching it is the test.
        assert optimal < 0.7 * min(points.loc["full", "background_fb"], points.loc["weak", "background_fb"])


def test_baseline_loader_names_the_file_it_cannot_use(tmp_path):
    path = tmp_path / "not_a_model.pt"
    torch.save({"params": torch.zeros(1, 3)}, path)
    with pytest.raises(KeyError, match="not_a_model.pt"):
        load_baseline(path)


def test_the_papers_same_events_procedure_cuts_every_event_at_the_whole_cross_section():
    events = _two_discriminant_events()
    whole = events.groupby("label").weight_pb.sum()
    events["weight_pb"] = combination.represent_whole(events.weight_pb, events.label, (events.half == "eval").to_numpy()) \
        + combination.represent_whole(events.weight_pb, events.label, (events.half == "train").to_numpy())
    events["combined_logit"] = events["same_events_logit"] = 2.0 * events.full_logit + 1.5 * events.weak_logit
    chosen, weight = combination.procedure_events(events, "same_events")
    assert len(chosen) == len(events)
    np.testing.assert_allclose(pd.Series(weight).groupby(events.label.to_numpy()).sum(), 1000 * whole, rtol=1e-9)
    held_out = combination.working_points(events, [0.5]).set_index("selection")
    same = combination.working_points(events, [0.5], "same_events").set_index("selection")
    # Both procedures keep half of the same whole signal cross section; the same score gives about the same reduction.
    assert same.loc["combined", "signal_fb"] == pytest.approx(held_out.loc["combined", "signal_fb"], rel=0.02)
    assert same.loc["combined", "combined_reduction_vs_best_single"] == pytest.approx(
        held_out.loc["combined", "combined_reduction_vs_best_single"], abs=0.1)
    with pytest.raises(ValueError, match="unknown combination procedure 'paper'"):
        combination.working_points(events, [0.5], "paper")


def test_every_split_into_halves_trains_its_own_combiner_and_weighs_its_halves_to_the_whole():
    events = _two_discriminant_events(n=4000, seed=5)
    events["cross_section_weight_pb"] = events.weight_pb
    settings = ensemble.TrainingSettings(n_hidden=30, optimizer="adam", learning_rate=0.01, batch_size=64, epochs=5)
    events = events.drop(columns="half")
    combiner, scaler = combination.train_over_splits(events, settings, 5.0, global_seed=11, splits=3)
    events["weight_pb"] = combination.whole_weights(events.weight_pb, events.label, events.half)
    # Split 0's combiner is the one returned, for the figures and the saved model.
    np.testing.assert_allclose(events.combined_logit, combination.combined_logit(combiner, scaler, events.weak_output,
                                                                                 events.full_spread))
    assert combination.half_splits(events) == 3
    whole = events.groupby("label").cross_section_weight_pb.sum()
    for split in range(3):
        view = combination.split_view(events, split)
        for half in ("train", "eval"):
            in_half = view[view.half == half]
            np.testing.assert_allclose(in_half.groupby("label").weight_pb.sum(), whole, rtol=1e-9)
    # Different events in each split's halves, and a different combiner.
    assert (events.half != events.half_split1).mean() == pytest.approx(0.5, abs=0.05)
    assert not np.allclose(events.combined_logit_split1, events.combined_logit_split2)
    reductions = combination.split_reductions(events, 0.5)
    assert reductions.shape == (3,) and np.all(reductions > 0.15)  # each split finds the complementary information
    assert reductions[0] == combination.working_points(events, [0.5]).combined_reduction_vs_best_single.iloc[0]

    # The scorecard measure adds the spread over the splits to the bootstrap over events, and says so.
    def read(name):
        return name, events
    measured = combination.reduction_measure("claim", {"file": "events", "signal_fb": 0.5 * 1000 * whole[1],
                                                       "bootstrap": 50}, read)
    over_halves = np.std(reductions, ddof=1)
    split_zero_only = events.drop(columns=[column for split in (1, 2) for column in combination.split_columns(split)])
    over_events = combination.reduction_measure("claim", {"file": "events", "signal_fb": 0.5 * 1000 * whole[1],
                                                          "bootstrap": 50}, lambda name: (name, split_zero_only))
    assert measured["value"] == pytest.approx(reductions[0]) == pytest.approx(over_events["value"])
    # The same bootstrap over the same events, and the spread over the three splits, in quadrature.
    assert over_events["uncertainty"] > 0 and over_halves > 0
    assert measured["uncertainty"] == pytest.approx(np.hypot(over_events["uncertainty"], over_halves))
    assert "Over 3 splits into halves" in measured["detail"] and "splits" not in over_events["detail"]
    same = combination.reduction_measure("claim", {"file": "events", "signal_fb": 0.5 * 1000 * whole[1],
                                                   "bootstrap": 50, "procedure": "same_events"},
                                         lambda name: (name, events.assign(same_events_logit=events.combined_logit)))
    assert "splits" not in same["detail"]  # the paper's procedure has no halves
