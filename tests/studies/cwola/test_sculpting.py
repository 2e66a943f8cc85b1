"""The sculpting check: a cut that prefers the signal region's background is caught, an independent one is not."""

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.studies.cwola import sculpting


def background(n=40_000, seed=1):
    """Falling M_jj over the windows, as QCD; regions from the paper's windows."""
    rng = np.random.default_rng(seed)
    mjj = 4400.0 + rng.exponential(500.0, size=4 * n)
    mjj = mjj[mjj < 5800.0][:n]
    return mjj, np.where((mjj >= 4700.0) & (mjj < 5500.0), "SR", "SB"), rng


def test_scores_independent_of_mjj_do_not_sculpt():
    mjj, region, rng = background()
    table = sculpting.efficiency_table(rng.random(len(mjj)), region, [0.1, 0.01], background_sr_events=25_000)
    assert table.sb_efficiency.tolist() == pytest.approx([0.1, 0.01], rel=0.01)
    assert not table.sculpts.any()
    assert (abs(table.sr_over_sb - 1) < 3 * table.sr_over_sb_error).all()
    assert (abs(table.spurious_significance) < 3 * table.spurious_significance_error).all()


def test_scores_that_prefer_the_signal_region_sculpt():
    mjj, region, rng = background()
    # Background in the SR scores a little higher, as the background's own SR/SB difference would make it.
    scores = rng.random(len(mjj)) + 0.05 * (region == "SR")
    table = sculpting.efficiency_table(scores, region, [0.1], background_sr_events=25_000)
    row = table.iloc[0]
    assert row.sculpts and row.sr_over_sb > 1.3
    # The spurious excess at the luminosity: (r - 1) eps_SB B events over sqrt(eps_SB B).
    assert row.spurious_significance == pytest.approx((row.sr_over_sb - 1) * np.sqrt(row.sb_efficiency * 25_000))
    assert row.spurious_significance > 10


def test_mjj_histograms_count_what_passes_the_sideband_cut():
    mjj, region, rng = background(n=5_000)
    scores = rng.random(len(mjj))
    bins = np.array([4400.0, 4700.0, 5500.0, 5800.0])
    histograms = sculpting.mjj_histograms(mjj, scores, region, [0.2], bins)
    assert histograms.n_all.sum() == len(mjj)
    cut = sculpting.sideband_cut(scores, region, 0.2)
    assert histograms.n_pass.sum() == int((scores >= cut).sum())
    assert ((region == "SB") & (scores >= cut)).sum() == pytest.approx(0.2 * (region == "SB").sum(), abs=1)


def test_held_out_rows_leave_out_the_training_set():
    windows = pd.DataFrame({"region": ["SR", "SB"] * 5})
    dataset = pd.DataFrame({"source": ["background", "background", "signal"], "image_row": [1, 4, 0]})
    assert sculpting.held_out_rows(windows, dataset).tolist() == [0, 2, 3, 5, 6, 7, 8, 9]
