"""Draw one paper figure from its tidy inputs: ``python -m workflow_scripts.figures NAME --inputs JSON [--settings JSON]
--output FILE.pdf`` writes FILE.pdf and FILE.png.

`--inputs` names the figure's input files as ``{"role": [path, ...]}`` (a rule passes its named inputs unchanged);
`--settings` holds the figure's few choices (labels, benchmarks, regions).  Each figure is one entry of `FIGURES`:
a loader from inputs to the data drawn, and the function that draws it.  Nothing here trains or regenerates:
figures are redrawn from metrics files, window tables and image panels written by earlier stages.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from workflow_scripts.analysis.regions import MjjRegions
from workflow_scripts.core.files import read_table
from workflow_scripts.figures import cohen2018, cwola, style, validation


@dataclasses.dataclass(frozen=True)
class Figure:
    help: str
    draw: Callable[[dict, dict, Path], None]  # (inputs, settings, output)


def _one(inputs: dict, role: str) -> str:
    if len(inputs.get(role, [])) != 1:
        raise ValueError(f"the figure needs exactly one input file {role!r}, got {inputs.get(role)}")
    return inputs[role][0]


def _toy(draw):
    return lambda inputs, settings, output: draw(cohen2018.read_toy(inputs), output)


def _significance(inputs, settings, output):
    compare = pd.read_csv(_one(inputs, "compare")) if inputs.get("compare") else None
    baseline = pd.read_csv(_one(inputs, "baseline")) if inputs.get("baseline") else None
    cwola.fig03(pd.read_csv(_one(inputs, "summary")), settings["benchmarks"], output, compare,
                labels=tuple(settings.get("labels", ("CWoLa", "CWoLa"))), baseline=baseline)


def _concat(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


def _sic(inputs, settings, output):
    cwola.sic(_concat(inputs["rocs"]), settings["benchmark"], settings["resolution"], output)


def _sculpting(inputs, settings, output):
    cwola.sculpting(_concat(inputs["efficiencies"]), _concat(inputs["histograms"]), settings["injection"],
                    MjjRegions.from_dict(settings["regions"]).signal_region, output)


def _mjj(inputs, settings, output):
    regions = MjjRegions.from_dict(settings["regions"])
    cwola.fig01(cwola.read_mjj(inputs["background"]), cwola.read_mjj(inputs["signal"]), settings["signal_label"],
                regions.signal_region, regions.sidebands, output)


def _image_panels(inputs, settings, output):
    with np.load(_one(inputs, "panels")) as panels:
        cwola.fig02(dict(panels), settings["signal_label"], output)


def _generator_cuts(inputs, settings, output):
    from workflow_scripts.validation.generator_cuts import read_loose_events

    check = pd.read_csv(_one(inputs, "check"))
    result = {column: check[column].iloc[0].item() for column in check}  # per column: counts stay integers
    validation.generator_cut_check(read_loose_events(inputs["loose_events"]), MjjRegions.from_dict(settings["regions"]).windows,
                                   result["tight_pt_hat_min_gev"], result["tight_m_hat_min_gev"], result, output)


def _detector_closure(inputs, settings, output):
    tables, arrays = [], {}
    for table_path, arrays_path in zip(inputs["tables"], inputs["arrays"], strict=True):
        tables.append(pd.read_csv(table_path))
        with np.load(arrays_path) as loaded:
            arrays[tables[-1]["sample"].iloc[0]] = dict(loaded)
    validation.detector_closure(pd.concat(tables, ignore_index=True), arrays, output)


def _chain_comparison(inputs, settings, output):
    validation.chain_comparison(pd.read_csv(_one(inputs, "table")), MjjRegions.from_dict(settings["regions"]), output)


def _lhc_events(draw, *extra):
    def figure(inputs, settings, output):
        events, _ = read_table(_one(inputs, "events"))
        draw(events, pd.read_csv(_one(inputs, "working_points")), *(pd.read_csv(_one(inputs, role)) for role in extra), output)
    return figure


FIGURES = {
    "cohen2018-fig04": Figure("ROC curves of weak and full supervision (toy)", _toy(cohen2018.fig04)),
    "cohen2018-fig05": Figure("AUC against the label of the second set (toy)", _toy(cohen2018.fig05)),
    "cohen2018-fig06": Figure("background efficiency at fixed signal efficiency (toy)", _toy(cohen2018.fig06)),
    "cohen2018-fig07": Figure("network outputs of weak supervision (toy)", _toy(cohen2018.fig07)),
    "cohen2018-fig12": Figure("the three losses compared (toy)", _toy(cohen2018.fig12)),
    "cohen2018-fig09": Figure("network outputs and MET on the MET-binned background", _lhc_events(cohen2018.fig09)),
    "cohen2018-fig10": Figure("ROC curves before and after the mismodellings",
                              lambda inputs, settings, output: cohen2018.fig10(pd.read_csv(_one(inputs, "roc")), output)),
    "cohen2018-fig11": Figure("the two outputs in a plane and the combined cut", _lhc_events(cohen2018.fig11, "grid")),
    "cwola-fig01": Figure("M_jj of background and signal, signal region and sidebands marked", _mjj),
    "cwola-fig02": Figure("jet images of one signal event and mean images", _image_panels),
    "cwola-significance": Figure("significance after the cut against injected S/sqrt(B) (Figs. 3-6)", _significance),
    "cwola-sic": Figure("significance improvement curves of every method, median and 68 % band over trials", _sic),
    "cwola-sculpting": Figure("M_jj of held-out background passing cuts on no-signal networks, SR against SB", _sculpting),
    "validation-generator-cuts": Figure("M_jj of a loosely generated background, with and without the tight cuts",
                                        _generator_cuts),
    "validation-detector-closure": Figure("the embedded detector against Delphes on the same events", _detector_closure),
    "validation-chain-comparison": Figure("the CWoLa study through two generator chains: M_jj, SR/SB yields, significance",
                                          _chain_comparison),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.figures", description=__doc__.split("\n")[0])
    # argparse formats help with %: a literal percent sign is written %%.
    parser.add_argument("figure", choices=sorted(FIGURES),
                        help="; ".join(f"{name}: {entry.help}" for name, entry in FIGURES.items()).replace("%", "%%"))
    parser.add_argument("--inputs", required=True, help='the input files by role, as JSON: {"role": [path, ...]}')
    parser.add_argument("--settings", default="{}", help="the figure's settings as JSON")
    parser.add_argument("--output", type=Path, required=True, help="PDF path; a PNG is written beside it")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    inputs = {role: [paths] if isinstance(paths, str) else list(paths) for role, paths in json.loads(args.inputs).items()}
    style.apply_style()
    FIGURES[args.figure].draw(inputs, json.loads(args.settings), args.output)


if __name__ == "__main__":
    main()
