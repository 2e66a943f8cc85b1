"""The M_jj regions: one signal region, any number of sidebands, half-open windows, one JSON form."""

import json

import numpy as np
import pytest

from workflow_scripts.analysis.regions import MjjRegions, in_windows


def test_windows_are_half_open():
    assert in_windows([4399.9, 4400.0, 4699.9, 4700.0], [(4400, 4700)]).tolist() == [False, True, True, False]


def test_any_number_of_sidebands_labels_every_event():
    regions = MjjRegions.from_dict({"signal_region": [4700, 5500],
                                    "sidebands": [[4000, 4400], [4400, 4700], [5500, 5800], [5800, 6500]]})
    mjj = np.array([3900, 4100, 4500, 5000, 5600, 6000, 7000])
    assert regions.label(mjj).tolist() == ["", "SB", "SB", "SR", "SB", "SB", ""]
    assert regions.windows[0] == (4700.0, 5500.0) and len(regions.windows) == 5


def test_json_round_trip_and_config_form():
    regions = MjjRegions.from_config({"signal_region_gev": [4700, 5500], "sidebands_gev": [[4400, 4700], [5500, 5800]]})
    assert MjjRegions.from_json(regions.to_json()) == regions
    assert json.loads(regions.to_json()) == {"signal_region": [4700.0, 5500.0], "sidebands": [[4400.0, 4700.0], [5500.0, 5800.0]]}


@pytest.mark.parametrize("entry, message", [
    ({"signal_region": [5500, 4700], "sidebands": []}, "low < high"),
    ({"signal_region": [4700, 5500], "sidebands": [[4600, 4800]]}, "overlaps the signal region"),
    ({"signal_region": [4700, 5500]}, "signal_region and sidebands"),
])
def test_bad_regions_are_refused_with_the_reason(entry, message):
    with pytest.raises(ValueError, match=message):
        MjjRegions.from_dict(entry)
