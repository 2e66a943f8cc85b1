"""The significance of eq. (3.1) after cuts at fixed background efficiency."""

import json

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.ml import metrics
from workflow_scripts.studies.cwola.training import significance_table


def test_significance_after_cut_uses_signal_efficiency_at_fixed_background_efficiency():
    scores = np.r_[np.linspace(0.5, 1.0, 100), np.linspace(0.0, 0.6, 100)]
    truth = np.r_[np.ones(100), np.zeros(100)]
    table = significance_table(scores, truth, n_signal_sr=100, n_background_sr=10_000, background_efficiencies=[0.01, 0.1])
    # At eps_b = 1 % the cut sits on the highest background score, 0.6: signal above it is (1 - 0.6) / 0.5 = 81 %.
    assert table.signal_efficiency.tolist() == pytest.approx([0.81, 0.92])
    assert table.significance_after[0] == pytest.approx(metrics.discovery_significance(81, 100))
    assert table.significance_before[0] == pytest.approx(metrics.discovery_significance(100, 10_000))


@pytest.fixture(scope="module")
def experiments(tmp_path_factory):
    """Two pseudo-experiments of one benchmark on toy jet images: background one-prong, signal two-prong."""
    from workflow_scripts.core import files
    from workflow_scripts.studies.cwola import datasets

    directory = tmp_path_factory.mktemp("cwola")
    rng = np.random.default_rng(3)
    for name, n_sr, n_sb, two_prong in (("background", 900, 1000, False), ("signal", 400, 100, True)):
        files.write_table(pd.DataFrame({"chunk": 0, "event_in_chunk": np.arange(n_sr + n_sb),
                                        "region": ["SR"] * n_sr + ["SB"] * n_sb}), directory / f"{name}.parquet", {})
        images = rng.exponential(0.2, size=(n_sr + n_sb, 2, 16, 16)).astype(np.float32)
        images[:, :, 8, 8] += 50.0
        if two_prong:
            images[:, :, 8, 12] += 30.0
        np.save(directory / f"{name}.npy", images)
    datasets.write_test_set(directory / "background.parquet", directory / "signal.parquet", 150, 5, "background", "signal",
                            directory / "test.parquet")
    points = [(8.0, 0), (4.0, 1)]
    for injection, trial in points:
        datasets.write_pseudo_experiment(directory / "background.parquet", directory / "signal.parquet",
                                         directory / "test.parquet", 400, injection, trial, 0.2, 5, "background", "signal",
                                         directory / f"ssb{injection:g}_trial{trial}.parquet")
    return directory, points


def run_job(directory, points, output):
    """One training job (the rule's command) over the given pseudo-experiments."""
    from workflow_scripts.studies.cwola import training

    settings = {"network": {"filters": [4, 4], "kernels": [3, 3], "pool_after": [True, True], "dense": [8]},
                "fit": {"learning_rate": 0.003, "batch_size": 100, "patience": 2, "max_epochs": 4},
                "background_efficiencies": [0.2], "method": "cwola", "unit_intensity": False, "seed": 9, "device": "cpu"}
    experiments = [{"dataset": str(directory / f"ssb{injection:g}_trial{trial}.parquet"),
                    "identifiers": {"benchmark": "signal", "resolution": 16, "injection": injection, "trial": trial},
                    **{kind: str(output / f"ssb{injection:g}_trial{trial}_{kind}.{extension}")
                       for kind, extension in (("model", "pt"), ("metrics", "csv"), ("history", "csv"))}}
                   for injection, trial in points]
    training.main(["--test-set", str(directory / "test.parquet"), "--background-images", str(directory / "background.npy"),
                   "--signal-images", str(directory / "signal.npy"), "--settings", json.dumps(settings),
                   "--experiments", json.dumps(experiments)])


def test_pseudo_experiment_trains_the_same_network_alone_or_sharing_a_job(experiments, tmp_path):
    directory, points = experiments
    run_job(directory, points, tmp_path / "together")
    run_job(directory, points[1:], tmp_path / "alone")
    injection, trial = points[1]
    stem = f"ssb{injection:g}_trial{trial}"
    # the same seed, the same network: byte-identical model files
    assert (tmp_path / "together" / f"{stem}_model.pt").read_bytes() == (tmp_path / "alone" / f"{stem}_model.pt").read_bytes()
    together, alone = (pd.read_csv(tmp_path / where / f"{stem}_metrics.csv").drop(columns="train_seconds")
                       for where in ("together", "alone"))
    pd.testing.assert_frame_equal(together, alone)
    # ... and the other pseudo-experiment of the job has its own seed and its own network
    first = pd.read_csv(tmp_path / "together" / "ssb8_trial0_metrics.csv")
    assert first.seed.iloc[0] != together.seed.iloc[0]
    assert (tmp_path / "together" / "ssb8_trial0_model.pt").read_bytes() != (tmp_path / "alone" / f"{stem}_model.pt").read_bytes()
    assert first.test_auc.iloc[0] > 0.9  # two-prong jets are easy once the signal region holds them
