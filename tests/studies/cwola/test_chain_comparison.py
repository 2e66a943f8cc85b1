"""The chain comparison's table: yields, shapes and significance thresholds of two chains, from event files with
the metadata the generation and conversion stages write."""

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from workflow_scripts.analysis.regions import MjjRegions
from workflow_scripts.core import files
from workflow_scripts.studies.cwola import chain_comparison

REGIONS = MjjRegions.from_dict({"signal_region": [4700, 5500], "sidebands": [[4400, 4700], [5500, 5800]]})


def event_files(directory, sample, mjj_chunks, n_generated, cross_section_pb):
    """One event file per chunk: the selected events' M_jj, and the chunk's metadata as the converter writes it."""
    paths = []
    for chunk, mjj in enumerate(mjj_chunks):
        path = directory / sample / f"chunk{chunk}.parquet"
        files.write_awkward(ak.Array({"mjj_gev": np.asarray(mjj, dtype=np.float32)}), path,
                            {"sample": sample, "chunk": chunk, "n_events": n_generated, "n_selected": len(mjj),
                             "cross_section_pb": cross_section_pb})
        paths.append(path)
    return paths


def summary(threshold_slope):
    """Significance after the cut growing with the injection, two trials per point."""
    rows = [{"benchmark": "signal", "resolution": 25, "background_efficiency": 0.05, "injection": injection, "trial": trial,
             "significance_after": threshold_slope * injection + 0.1 * trial}
            for injection in (0, 1, 2, 4, 8) for trial in (0, 1)]
    return pd.DataFrame(rows)


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(3)
    chains = {}
    for label, (sigma, slope) in {"chain A": (2.0, 2.0), "chain B": (1.0, 1.0)}.items():
        background = event_files(tmp_path / label, "qcd", [3000 + rng.exponential(600, 800) for _ in range(2)], 1000, sigma)
        signal = event_files(tmp_path / label, "signal", [rng.normal(5000, 150, 400)], 500, 0.01)
        chains[label] = ({"qcd": background, "signal": signal}, summary(slope))
    return chain_comparison.comparison_table(chains, REGIONS)


def value(table, chain, quantity, sample=None):
    rows = table[(table.chain == chain) & (table.quantity == quantity)]
    rows = rows[rows["sample"] == sample] if sample else rows
    return rows.value.to_numpy()


def test_yields_follow_cross_section_and_window_fractions(table, tmp_path):
    for chain, sigma in (("chain A", 2.0), ("chain B", 1.0)):
        assert value(table, chain, "cross_section_pb", "qcd") == pytest.approx([sigma])
        assert value(table, chain, "selection_efficiency", "qcd") == pytest.approx([0.8])  # 1 600 of 2 000 generated
        sr = table[(table.chain == chain) & (table.quantity == "sr_cross_section_fb") & (table["sample"] == "qcd")].iloc[0]
        # every selected event weighs sigma / N_generated: the SR cross section is sigma x (SR events / generated)
        assert sr.value == pytest.approx(1000 * sigma * sr.events / 2000)
        assert sr.uncertainty == pytest.approx(sr.value / np.sqrt(sr.events))
    # the resonance sits in the signal region; the falling background has about as much in SR as in SB (0.98 expected)
    assert value(table, "chain A", "sr_over_sb", "signal")[0] > 10
    assert 0.8 < value(table, "chain A", "sr_over_sb", "qcd")[0] < 1.2


def test_mjj_shapes_are_unit_normalised_and_peak_at_the_resonance(table):
    shape = table[(table.chain == "chain B") & (table.quantity == "mjj_fraction") & (table["sample"] == "signal")]
    assert shape.value.sum() == pytest.approx(1.0)
    peak = shape.loc[shape.value.idxmax()]
    assert peak.bin_low_gev <= 5000 < peak.bin_high_gev + 100


def test_significance_curves_and_their_five_sigma_thresholds(table):
    curve = table[(table.chain == "chain A") & (table.quantity == "significance_after")]
    assert list(curve.injection) == [0, 1, 2, 4, 8] and curve.events.eq(2).all()
    assert curve.value.to_numpy() == pytest.approx(2.0 * curve.injection.to_numpy() + 0.05)
    # 2 x + 0.05 = 5 between injections 2 and 4; x + 0.05 = 5 between 4 and 8 (linear interpolation)
    assert value(table, "chain A", "injection_at_5_sigma")[0] == pytest.approx(2 + (5 - 4.05) / 4.0 * 2)
    assert value(table, "chain B", "injection_at_5_sigma")[0] == pytest.approx(4 + (5 - 4.05) / 4.0 * 4)


def test_a_missing_reference_file_is_named(tmp_path):
    import json
    import subprocess
    import sys

    chains = {"this": {"samples": {"qcd": [str(tmp_path / "nowhere" / "chunk0.parquet")]}, "summary": str(tmp_path / "s.csv")}}
    result = subprocess.run([sys.executable, "-m", "workflow_scripts.studies.cwola.chain_comparison", "--chains", json.dumps(chains),
                             "--regions", json.dumps({"signal_region": [1, 2], "sidebands": [[0, 1]]}), "--output",
                             str(tmp_path / "out.csv")], capture_output=True, text=True)
    assert result.returncode != 0 and "chain 'this' lacks 2 input files" in result.stderr and "nowhere" in result.stderr
    assert not (tmp_path / "out.csv").exists()
