"""Cross-section weights of sliced samples."""

import awkward as ak
import numpy as np
import pytest

from workflow_scripts.analysis import weights
from workflow_scripts.core import files


def write_chunk(path, sample, n_generated, n_selected, cross_section_pb):
    events = ak.Array({"met_gev": np.linspace(200, 300, n_selected)})
    files.write_awkward(events, path, {"sample": sample, "n_events": n_generated, "n_selected": n_selected,
                                       "cross_section_pb": cross_section_pb})
    return path


def test_weights_sum_to_each_slice_cross_section_times_selection_efficiency(tmp_path):
    paths = [
        write_chunk(tmp_path / "a0.parquet", "low", 100, 30, 30.0),
        write_chunk(tmp_path / "a1.parquet", "low", 300, 80, 26.0),  # a second, larger chunk of the same slice
        write_chunk(tmp_path / "b0.parquet", "high", 100, 95, 0.6),
    ]
    w = weights.event_weights_pb(paths)
    assert len(w) == 30 + 80 + 95
    low_sigma = (100 * 30.0 + 300 * 26.0) / 400  # 27 pb
    assert w[:110] == pytest.approx(np.full(110, low_sigma / 400))
    assert w[110:] == pytest.approx(np.full(95, 0.6 / 100))
    # Summed weights are the selected cross sections: 27 pb x 110/400 and 0.6 pb x 95 %.
    assert w[:110].sum() == pytest.approx(27.0 * 110 / 400)
    assert w[110:].sum() == pytest.approx(0.57)


def test_missing_metadata_names_the_file(tmp_path):
    path = tmp_path / "plain.parquet"
    files.write_awkward(ak.Array({"x": [1.0]}), path, {"sample": "s"})
    with pytest.raises(KeyError, match="plain.parquet.*cross_section_pb"):
        weights.event_weights_pb([path])
