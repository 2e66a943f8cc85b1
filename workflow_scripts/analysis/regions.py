"""The M_jj regions of the CWoLa analysis: one signal region and any number of sidebands.

Every stage that needs the regions (the window tables, Fig. 1, the generator-cut check) takes them as one
JSON document, ``{"signal_region": [low, high], "sidebands": [[low, high], ...]}`` in GeV, read and checked
here.  Windows are half-open, [low, high).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd

from workflow_scripts.core import files

SIGNAL_REGION = "SR"
SIDEBAND = "SB"


def in_windows(values, windows) -> np.ndarray:
    """Whether each value lies in any of the [low, high) windows."""
    values = np.asarray(values)
    return np.any([(values >= low) & (values < high) for low, high in windows], axis=0)


@dataclasses.dataclass(frozen=True)
class MjjRegions:
    signal_region: tuple[float, float]
    sidebands: tuple[tuple[float, float], ...]

    def __post_init__(self):
        for window in (self.signal_region, *self.sidebands):
            if len(window) != 2 or not window[0] < window[1]:
                raise ValueError(f"an M_jj window needs [low, high] with low < high, got {list(window)}")
        for band in self.sidebands:
            if band[0] < self.signal_region[1] and self.signal_region[0] < band[1]:
                raise ValueError(f"sideband {list(band)} overlaps the signal region {list(self.signal_region)}")

    @classmethod
    def from_dict(cls, entry: dict) -> MjjRegions:
        try:
            return cls(tuple(map(float, entry["signal_region"])), tuple(tuple(map(float, band)) for band in entry["sidebands"]))
        except (KeyError, TypeError) as error:
            raise ValueError(f"M_jj regions need keys signal_region and sidebands, got {entry!r}") from error

    @classmethod
    def from_json(cls, text: str) -> MjjRegions:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_config(cls, cwola: dict) -> MjjRegions:
        """The regions of config key `cwola` (signal_region_gev, sidebands_gev)."""
        return cls.from_dict({"signal_region": cwola["signal_region_gev"], "sidebands": cwola["sidebands_gev"]})

    def to_dict(self) -> dict:
        return {"signal_region": list(self.signal_region), "sidebands": [list(band) for band in self.sidebands]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @property
    def windows(self) -> list[tuple[float, float]]:
        """Signal region and sidebands together, signal region first."""
        return [self.signal_region, *self.sidebands]

    def label(self, mjj) -> np.ndarray:
        """SR, SB or '' (in no region) for each M_jj value."""
        mjj = np.asarray(mjj)
        region = np.full(len(mjj), "", dtype=object)
        region[in_windows(mjj, self.sidebands)] = SIDEBAND
        region[in_windows(mjj, [self.signal_region])] = SIGNAL_REGION
        return region


def window_events(event_files, regions: MjjRegions) -> pd.DataFrame:
    """Which converted events lie in the signal region or a sideband: one row per event, in file order.

    Columns: chunk (position of the file in `event_files`), event_in_chunk (the event's index within that
    file), event_number (when the file has it), mjj_gev and region (SR/SB).  The row of an event in this
    table is its row in the sample's image files.
    """
    tables = []
    for chunk, path in enumerate(event_files):
        # Only the two small columns: the constituents are the bulk of the file.
        columns = [name for name in ("mjj_gev", "event_number") if name in files.column_names(path)]
        events, _ = files.read_awkward(path, columns=columns)
        mjj = ak.to_numpy(events.mjj_gev).astype(np.float64) if len(events) else np.zeros(0)
        region = regions.label(mjj)
        selected = np.flatnonzero(region != "")
        table = pd.DataFrame({"chunk": np.full(len(selected), chunk, dtype=np.int32),
                              "event_in_chunk": selected.astype(np.int64)})
        table["event_number"] = (ak.to_numpy(events.event_number)[selected].astype(np.int64)
                                 if "event_number" in events.fields else np.full(len(selected), -1, dtype=np.int64))
        table["mjj_gev"] = mjj[selected].astype(np.float32)
        table["region"] = region[selected].astype(str)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def write_window_events(event_files, regions: MjjRegions, output, sample) -> pd.DataFrame:
    table = window_events(event_files, regions)
    files.write_table(table, output, {"sample": sample, "event_files": [Path(path).name for path in event_files],
                                      "signal_region_gev": list(regions.signal_region),
                                      "sidebands_gev": [list(band) for band in regions.sidebands],
                                      "n_signal_region": int((table.region == SIGNAL_REGION).sum()),
                                      "n_sidebands": int((table.region == SIDEBAND).sum())})
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.analysis.regions",
                                     description="list a sample's events in the signal region and sidebands")
    parser.add_argument("--events", type=Path, nargs="+", required=True, help="the sample's converted chunks, in order")
    parser.add_argument("--regions", required=True, help='JSON: {"signal_region": [low, high], "sidebands": [[low, high], ...]}')
    parser.add_argument("--sample", required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    table = write_window_events(args.events, MjjRegions.from_json(args.regions), args.output, args.sample)
    print(f"{args.sample}: {int((table.region == SIGNAL_REGION).sum())} events in the signal region, "
          f"{int((table.region == SIDEBAND).sum())} in the sidebands")


if __name__ == "__main__":
    main()
