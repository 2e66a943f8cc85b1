"""CWoLa and supervised trainings: eq. (3.1)'s significance after cuts at fixed background efficiency, the stored
ROC, and one training job over several pseudo-experiments."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from workflow_scripts.ml import metrics
from workflow_scripts.studies.cwola.training import significance_table


def test_significance_after_cut_uses_signal_efficiency_at_fixed_background_efficiency():
    scores = np.r_[np.linspace(0.5, 1.0, 100), np.linspace(0.0, 0.6, 100)]
    truth = np.r_[np.ones(100), np.zeros(100)]
    counts = {"signal_SR": 100, "background_SR": 10_000}
    table = significance_table(scores, truth, [(1.0, counts)], background_efficiencies=[0.01, 0.1])
    # At eps_b = 1 % the cut sits on the highest background score, 0.6: signal above it is (1 - 0.6) / 0.5 = 81 %.
    assert table.signal_efficiency.tolist() == pytest.approx([0.81, 0.92])
    assert table.significance_after[0] == pytest.approx(metrics.discovery_significance(81, 100))
    assert table.significance_before[0] == pytest.approx(metrics.discovery_significance(100, 10_000))
    assert table.n_signal_SR.tolist() == [100, 100] and table.injection.tolist() == [1.0, 1.0]
    # One network scored at several luminosity points (the supervised baseline): one row per point and efficiency.
    both = significance_table(scores, truth, [(0.0, {"signal_SR": 0, "background_SR": 10_000}), (1.0, counts)], [0.01])
    assert both.significance_after.tolist() == pytest.approx([0.0, metrics.discovery_significance(81, 100)])


def test_roc_on_the_signal_grid_and_significance_improvement_against_hand_values():
    # Signal scores 1..10, background scores 0.5, 1.5, ..., 9.5 (ten each): keeping the top k signal events
    # (efficiency k/10) needs the cut at 11 - k, which keeps k - 1 background events (9.5, 8.5, ... above it).
    scores = np.r_[np.arange(1.0, 11.0), np.arange(0.5, 10.0)]
    truth = np.r_[np.ones(10), np.zeros(10)]
    grid = np.array([0.1, 0.3, 0.5, 1.0])
    background = metrics.background_efficiency_on_grid(scores, truth, grid)
    assert background.tolist() == pytest.approx([0.0, 0.2, 0.4, 0.9])
    sic = metrics.significance_improvement(grid, background)
    assert np.isnan(sic[0])  # no background passes: undefined, not infinite
    assert sic[1:].tolist() == pytest.approx([0.3 / np.sqrt(0.2), 0.5 / np.sqrt(0.4), 1.0 / np.sqrt(0.9)])
    assert metrics.SIC_SIGNAL_GRID[0] == 0.01 and metrics.SIC_SIGNAL_GRID[-1] == 1.0

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


OUTPUTS = (("model", "pt"), ("metrics", "csv"), ("roc", "csv"), ("history", "csv"))


NETWORK = {"filters": [4, 4], "kernels": [3, 3], "pool_after": [True, True], "dense": [8]}


def run_job(directory, points, output, method="cwola", pretrained=None, ensemble_memory_gb=2.0, vectorise=False):
    """One training job (the rule's command) over the given pseudo-experiments."""
    from workflow_scripts.studies.cwola import training

    settings = {"network": NETWORK,
                "fit": {"learning_rate": 0.003, "batch_size": 100, "patience": 2, "max_epochs": 4, "vectorise": vectorise},
                "background_efficiencies": [0.2], "method": method, "unit_intensity": False, "seed": 9, "device": "cpu",
                "ensemble_memory_gb": ensemble_memory_gb}
    experiments = [{"dataset": str(directory / f"ssb{injection:g}_trial{trial}.parquet"),
                    "identifiers": {"benchmark": "signal", "resolution": 16, "injection": injection, "trial": trial},
                    **{kind: str(output / f"ssb{injection:g}_trial{trial}_{kind}.{extension}") for kind, extension in OUTPUTS}}
                   for injection, trial in points]
    training.main(["--test-set", str(directory / "test.parquet"), "--background-images", str(directory / "background.npy"),
                   "--signal-images", str(directory / "signal.npy"), "--settings", json.dumps(settings),
                   "--experiments", json.dumps(experiments)] + (["--pretrained", str(pretrained)] if pretrained else []))


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


# Unit-intensity pixels are ~10^-3: evaluation must normalise them as training did (batch-norm statistics).
@pytest.mark.parametrize("unit_intensity", [False, True])
def test_supervised_baseline_is_scored_at_every_injection(experiments, tmp_path, unit_intensity):
    from workflow_scripts.studies.cwola import datasets, training

    directory, _ = experiments
    datasets.write_supervised_set(directory / "background.parquet", directory / "signal.parquet", directory / "test.parquet",
                                  200, 400, [0, 4, 8], 0, 0.2, 5, "background", "signal", tmp_path / "supervised.parquet")
    settings = {"network": {"filters": [4, 4], "kernels": [3, 3], "pool_after": [True, True], "dense": [8]},
                "fit": {"learning_rate": 0.003, "batch_size": 100, "patience": 2, "max_epochs": 4},
                "background_efficiencies": [0.2], "method": "supervised", "unit_intensity": unit_intensity, "seed": 9,
                "device": "cpu", "ensemble_memory_gb": 1}
    experiment = {"dataset": str(tmp_path / "supervised.parquet"),
                  "identifiers": {"benchmark": "signal", "resolution": 16, "trial": 0},
                  **{kind: str(tmp_path / f"trial0_{kind}.{extension}") for kind, extension in OUTPUTS}}
    training.main(["--test-set", str(directory / "test.parquet"), "--background-images", str(directory / "background.npy"),
                   "--signal-images", str(directory / "signal.npy"), "--settings", json.dumps(settings),
                   "--experiments", json.dumps([experiment])])
    table = pd.read_csv(tmp_path / "trial0_metrics.csv")
    assert table.injection.tolist() == [0.0, 4.0, 8.0] and (table.method == "supervised").all()
    assert table.n_signal_SR.tolist() == [0, 80, 160]  # S = injection x sqrt(400)
    assert table.test_auc.iloc[0] > 0.95 and table.signal_efficiency.nunique() == 1  # one network, one cut
    assert table.best_validation_loss.iloc[0] < 0.5 * math.log(2)
    after = table.significance_after.to_numpy()
    assert after[0] == 0.0 and after[2] > after[1] > table.significance_before[1]
    roc = pd.read_csv(tmp_path / "trial0_roc.csv")
    assert "injection" not in roc and len(roc) == len(metrics.SIC_SIGNAL_GRID)
    assert roc.background_efficiency.is_monotonic_increasing and (roc.n_test_background == 150).all()


def test_pool_holds_each_event_once_and_every_table_finds_its_rows():
    from workflow_scripts.studies.cwola.training import ensembles_within, pool_events

    first = pd.DataFrame({"source": ["background", "signal", "background"], "image_row": [5, 5, 2]})
    second = pd.DataFrame({"source": ["background", "background", "signal"], "image_row": [2, 7, 1]})
    pool, rows = pool_events([first, second])
    assert list(zip(pool.source, pool.image_row)) == [("background", 2), ("background", 5), ("background", 7),
                                                      ("signal", 1), ("signal", 5)]
    for table, positions in zip((first, second), rows):
        pd.testing.assert_frame_equal(pool.iloc[positions].reset_index(drop=True), table)
    # 5 distinct events of 10 bytes: both tables fit in 50 bytes together, not in 49; alone each always trains
    assert ensembles_within([first, second], 10, 50) == [[0, 1]]
    assert ensembles_within([first, second], 10, 49) == [[0], [1]]
    assert ensembles_within([first, second, first], 10, 0) == [[0], [1], [2]]
    with pytest.raises(KeyError, match="elsewhere"):
        pool_events([pd.DataFrame({"source": ["elsewhere"], "image_row": [0]})])


def _outputs(output):
    return {path.name: path for path in sorted(output.iterdir())}


@pytest.mark.parametrize("packing", ["one ensemble per pseudo-experiment", "vectorised step"])
def test_packed_and_unpacked_trainings_give_the_same_outputs(experiments, tmp_path, packing):
    """The job's pseudo-experiments in one ensemble, against each in its own ensemble (as separate jobs would
    train them): byte-identical when members step one after another, equal to float tolerance when vectorised."""
    directory, points = experiments
    run_job(directory, points, tmp_path / "packed", vectorise=packing == "vectorised step")
    run_job(directory, points, tmp_path / "unpacked", ensemble_memory_gb=0)
    packed, unpacked = _outputs(tmp_path / "packed"), _outputs(tmp_path / "unpacked")
    assert packed.keys() == unpacked.keys() and len(packed) == 4 * len(points)
    for name, path in packed.items():
        if name.endswith(".pt") and packing != "vectorised step":
            assert path.read_bytes() == unpacked[name].read_bytes(), name
        elif name.endswith(".csv"):
            ours, theirs = (pd.read_csv(where).drop(columns="train_seconds", errors="ignore")
                            for where in (path, unpacked[name]))
            pd.testing.assert_frame_equal(ours, theirs, rtol=1e-4, atol=1e-5)


def test_fine_tuning_packed_matches_fine_tuning_alone(experiments, tmp_path):
    """Transfer learning's fine-tuning on cached features of a frozen extractor: the same heads packed or not,
    the extractor untouched, and a head that learned."""
    import torch

    from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, load_model, save_model

    directory, points = experiments
    torch.manual_seed(4)
    extractor = JetPairClassifier(16, CNNSettings.from_dict(NETWORK))
    with torch.no_grad():  # the batch norms' statistics of the images, as pretraining would leave them
        extractor(torch.as_tensor(np.load(directory / "background.npy")[:500]))
    save_model(extractor, tmp_path / "pretrained.pt", {})
    run_job(directory, points, tmp_path / "packed", method="transfer", pretrained=tmp_path / "pretrained.pt")
    run_job(directory, points[1:], tmp_path / "alone", method="transfer", pretrained=tmp_path / "pretrained.pt",
            ensemble_memory_gb=0)
    stem = "ssb4_trial1"
    assert (tmp_path / "packed" / f"{stem}_model.pt").read_bytes() == (tmp_path / "alone" / f"{stem}_model.pt").read_bytes()
    tuned, _ = load_model(tmp_path / "packed" / f"{stem}_model.pt")
    for name, value in extractor.state_dict().items():
        if not name.startswith("jet_network.head"):
            assert torch.equal(value, tuned.state_dict()[name]), name
    heads = [load_model(tmp_path / "packed" / f"ssb{injection:g}_trial{trial}_model.pt")[0].jet_network.head.state_dict()
             for injection, trial in points]
    assert not all(torch.equal(value, heads[1][name]) for name, value in heads[0].items())  # own seeds, own heads
    history = pd.read_csv(tmp_path / "packed" / f"{stem}_history.csv")
    assert history.validation_loss.min() < history.validation_loss.iloc[0]
