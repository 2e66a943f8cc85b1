"""Delphes-schema ROOT files: writing them (embedded simulation) and converting them to Parquet.

The converter reads the branches real Delphes 3.x writes (``Jet.PT``,
``Jet_size``, ``MissingET.MET``, ``EFlowTrack.PT``, ...) and treats files of
the embedded simulation and of real Delphes with the same code.  Jet
constituents are the energy-flow objects within Delta R < R of a leading jet's
axis (each assigned to the nearest of the two leading jets), which for anti-kt
jets reproduces the clustering and needs no TRef support.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import itertools
import json
import sys
import uuid
from pathlib import Path

import awkward as ak
import numpy as np

from workflow_scripts.core import files
from workflow_scripts.core.flat import FlatObjects
from workflow_scripts.core.kinematics import delta_r

TREE = "Delphes"
PROVENANCE_KEY = "pipeline_provenance"
EFLOW_BRANCHES = {"EFlowTrack": ("PT", 0), "EFlowPhoton": ("ET", 1), "EFlowNeutralHadron": ("ET", 2)}
CONSTITUENT_TYPES = {0: "track", 1: "photon", 2: "neutral_hadron"}
# What the converter reads, collection -> fields (and the Event branch's fields that a file has).
CONVERTER_FIELDS = {"Jet": ["PT", "Eta", "Phi", "Mass"], "MissingET": ["MET", "Phi"], "Electron": ["PT"], "Muon": ["PT"]} | {
    branch: [pt_field, "Eta", "Phi"] for branch, (pt_field, _) in EFLOW_BRANCHES.items()}
MAX_JETS = 10
# Every date in the ROOT files we write (TFile, directory and each key): the earliest ROOT's TDatime holds,
# instead of the time of writing, so that a chunk's file has the same bytes on every run.
ROOT_FILE_DATE = datetime.datetime(1995, 1, 1)


def write_delphes_root(collections: dict[str, ak.Array], output, provenance: dict) -> None:
    """A `Delphes` tree with Delphes' branch names (`Jet.PT`) and `_size` counters, written atomically."""
    import uproot

    # Delphes stores floats in single precision and every collection as variable-length.
    collections = {name: _single_precision(ak.from_regular(collection, axis=1)) for name, collection in collections.items()}
    # Same input, same bytes: the file stores its own name (the final one, not a random temporary one), UUIDs
    # derived from its provenance and fixed dates.
    with (files.atomic_output(output, keep_name=True) as temporary, fixed_root_dates(),
          # ZSTD level 1: a quarter of zlib's time at the same size; ROOT reads it since 6.20.
          uproot.recreate(temporary, compression=uproot.ZSTD(1),
                          uuid_function=_provenance_uuids(provenance)) as root_file):
        branch_types = {name: collection.type.content for name, collection in collections.items()}
        root_file.mktree(TREE, branch_types, field_name=lambda outer, inner: f"{outer}.{inner}",
                         counter_name=lambda counted: f"{counted}_size")
        root_file[TREE].extend(dict(collections))
        root_file[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True)


def provenance_digest(provenance: dict) -> str:
    """The hash of a file's provenance (sample, chunk, seeds, card hash, detector settings: what fixes its content),
    from which the UUIDs the file holds are derived."""
    return hashlib.sha256(json.dumps(provenance, sort_keys=True).encode()).hexdigest()


def _provenance_uuids(provenance: dict):
    """uproot's uuid_function: UUIDs derived from the file's provenance, a new one per call."""
    digest = provenance_digest(provenance)
    calls = itertools.count()
    return lambda: uuid.uuid5(uuid.NAMESPACE_URL, f"delphes-root:{digest}/{next(calls)}")


@contextlib.contextmanager
def fixed_root_dates():
    """While the block writes ROOT files with uproot, every date they store is ROOT_FILE_DATE.

    uproot (5.x) stamps the file, its directory and each key with datetime.now() and has no option for it, but
    turns every such date into ROOT's code through the one function uproot._util.datetime_to_code; this private
    function is replaced for the duration of the block (so no other thread may write ROOT files meanwhile).
    """
    import uproot._util

    original = uproot._util.datetime_to_code
    uproot._util.datetime_to_code = lambda _now: original(ROOT_FILE_DATE)
    try:
        yield
    finally:
        uproot._util.datetime_to_code = original


def _single_precision(collection: ak.Array) -> ak.Array:
    return ak.zip({field: ak.values_astype(collection[field], np.float32) if "float" in str(ak.type(collection[field])) else collection[field]
                   for field in collection.fields})


def _open_tree(path):
    import uproot

    path = Path(path)
    try:
        root_file = uproot.open(path)
        tree = root_file[TREE]
        _ = tree.num_entries
    except Exception as error:  # uproot raises many types for damaged files
        raise OSError(f"cannot read tree '{TREE}' from ROOT file {path}: {error}") from error
    return root_file, tree


def read_collections(path, branches: dict[str, list[str]]) -> dict[str, ak.Array]:
    """Jagged record arrays per collection, e.g. {"Jet": ["PT", "Eta"]} -> {"Jet": [[{PT, Eta}, ...], ...]}."""
    _, tree = _open_tree(path)
    return _read_collections(tree, path, branches)


def _read_collections(tree, path, branches: dict[str, list[str]]) -> dict[str, ak.Array]:
    names = [f"{collection}.{field}" for collection, fields in branches.items() for field in fields]
    missing = [name for name in names if name not in tree]
    if missing:
        raise KeyError(f"{path}: branches {missing} not found in tree '{TREE}'")
    try:
        arrays = {name: tree[name].array(library="ak") for name in names}
    except Exception as error:
        raise OSError(f"cannot read branches of {path} (truncated or damaged file?): {error}") from error
    return {collection: ak.zip({field: arrays[f"{collection}.{field}"] for field in fields}) for collection, fields in branches.items()}


def read_provenance(path) -> dict:
    root_file, _ = _open_tree(path)
    return _provenance(root_file)


def _provenance(root_file) -> dict:
    if PROVENANCE_KEY not in root_file:
        return {}
    return json.loads(str(root_file[PROVENANCE_KEY]))


def convert(path, selection: dict, jet_radius: float, sqrt_s_gev: float = 13000.0) -> ak.Array:
    """Analysis-ready events of one Delphes file after a selection (see _convert_tree)."""
    _, tree = _open_tree(path)
    return _convert_tree(tree, path, selection, jet_radius, sqrt_s_gev)


def convert_with_selection(path, selection: dict, jet_radius: float, sqrt_s_gev: float = 13000.0) -> tuple[ak.Array, np.ndarray]:
    """Every event of one Delphes file converted without cuts, and whether each passes `selection`; one read."""
    _, tree = _open_tree(path)
    data = _read_event_data(tree, path)
    return _events_from_data(data, {}, jet_radius, sqrt_s_gev), _select(_analysis_jets(data, selection), data, selection)


def _convert_tree(tree, path, selection: dict, jet_radius: float, sqrt_s_gev: float) -> ak.Array:
    return _events_from_data(_read_event_data(tree, path), selection, jet_radius, sqrt_s_gev)


def _read_event_data(tree, path) -> dict[str, ak.Array]:
    event_fields = [field for field in ("Number", "Scale", "X1", "X2") if f"Event.{field}" in tree]
    return _read_collections(tree, path, CONVERTER_FIELDS | ({"Event": event_fields} if event_fields else {}))


def _analysis_jets(data, selection: dict) -> ak.Array:
    """The jets a selection sees: pT-ordered, its jet pT and |eta| cuts applied, at most MAX_JETS."""
    jets = data["Jet"][ak.argsort(data["Jet"].PT, ascending=False)]
    jets = jets[(jets.PT > selection.get("jet_pt_min_gev", 0.0)) & (abs(jets.Eta) < selection.get("jet_abs_eta_max", np.inf))]
    return jets[:, :MAX_JETS]


def _events_from_data(data: dict[str, ak.Array], selection: dict, jet_radius: float, sqrt_s_gev: float) -> ak.Array:
    """Analysis-ready events of one Delphes tree's collections after a selection.

    Per event: up to 10 jets (pT, eta, phi, mass), MET, numbers of isolated
    electrons and muons, M_jj of the two leading jets and the constituents
    (pT, eta, phi, type) of each of the two leading jets; when the file has
    Delphes' Event branch, also the hard process' scale (pT-hat for Pythia's
    2 -> 2 processes) and m-hat = sqrt(x1 x2 s).
    """
    jets = _analysis_jets(data, selection)
    keep = _select(jets, data, selection)
    jets = jets[keep]
    leading = jets[:, :2]
    px, py = leading.PT * np.cos(leading.Phi), leading.PT * np.sin(leading.Phi)
    pz = leading.PT * np.sinh(leading.Eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + leading.Mass**2)
    has_two = ak.num(leading) >= 2
    sums = {name: ak.sum(component, axis=1) for name, component in (("px", px), ("py", py), ("pz", pz), ("e", energy))}
    mjj = np.sqrt(np.maximum(sums["e"] ** 2 - sums["px"] ** 2 - sums["py"] ** 2 - sums["pz"] ** 2, 0.0))
    mjj = ak.where(has_two, mjj, np.nan)

    parts = []
    for branch, (pt_field, kind) in EFLOW_BRANCHES.items():
        objects = data[branch][keep]
        # Single precision, as Delphes stores them (any file's floats are cast, whatever it holds).
        parts.append(ak.zip({"pt": ak.values_astype(objects[pt_field], np.float32), "eta": ak.values_astype(objects.Eta, np.float32),
                             "phi": ak.values_astype(objects.Phi, np.float32), "type": ak.full_like(objects.Eta, kind, dtype=np.int8)}))
    eflow = ak.concatenate(parts, axis=1)
    constituents = _assign_constituents(eflow, leading, jet_radius)
    met = data["MissingET"][keep]
    hard_process = _hard_process(data["Event"][keep], sqrt_s_gev) if "Event" in data else {}
    return ak.zip(
        {
            "jet_pt": ak.values_astype(jets.PT, np.float32),
            "jet_eta": ak.values_astype(jets.Eta, np.float32),
            "jet_phi": ak.values_astype(jets.Phi, np.float32),
            "jet_mass": ak.values_astype(jets.Mass, np.float32),
            "met_gev": ak.values_astype(ak.firsts(met.MET), np.float32),
            "met_phi": ak.values_astype(ak.firsts(met.Phi), np.float32),
            "n_electrons": ak.values_astype(ak.num(data["Electron"][keep]), np.int32),
            "n_muons": ak.values_astype(ak.num(data["Muon"][keep]), np.int32),
            "mjj_gev": ak.values_astype(mjj, np.float32),
            "jet1_constituents": constituents[0],
            "jet2_constituents": constituents[1],
            **hard_process,
        },
        depth_limit=1,
    )


def _hard_process(event: ak.Array, sqrt_s_gev) -> dict:
    """Event number, pT-hat and m-hat from Delphes' Event branch (whichever of its fields the file has)."""
    columns = {"event_number": ak.firsts(event.Number)} if "Number" in event.fields else {}
    if {"Scale", "X1", "X2"} <= set(event.fields):
        columns["pt_hat_gev"] = ak.values_astype(ak.firsts(event.Scale), np.float32)
        columns["m_hat_gev"] = ak.values_astype(np.sqrt(ak.firsts(event.X1) * ak.firsts(event.X2)) * sqrt_s_gev, np.float32)
    return columns


def _select(jets, data, selection: dict):
    """Event mask of a study's after-detector selection (keys absent from the selection are not applied)."""
    keep = ak.num(jets) >= selection.get("min_jets", 0)
    n_leading = selection.get("n_leading_jets", 2)
    padded = ak.pad_none(jets, n_leading)[:, :n_leading]
    if "leading_jet_pt_min_gev" in selection:
        keep = keep & ak.fill_none(ak.all(padded.PT > selection["leading_jet_pt_min_gev"], axis=1), False)
    if "leading_jet_abs_eta_max" in selection:
        keep = keep & ak.fill_none(ak.all(abs(padded.Eta) < selection["leading_jet_abs_eta_max"], axis=1), False)
    if "met_min_gev" in selection:
        keep = keep & (ak.firsts(data["MissingET"].MET) > selection["met_min_gev"])
    if selection.get("lepton_veto", False):
        keep = keep & (ak.num(data["Electron"]) == 0) & (ak.num(data["Muon"]) == 0)
    return ak.to_numpy(keep)


def _assign_constituents(eflow, leading, radius):
    """Energy-flow objects within Delta R < radius of jet 1 or jet 2, each given to the nearer jet."""
    flat = FlatObjects.from_jagged(eflow)
    padded = ak.pad_none(leading, 2)
    distances = []
    for index in range(2):
        jet = padded[:, index]
        has_jet = ak.to_numpy(~ak.is_none(jet))[flat.event]
        jet_eta, jet_phi = (ak.to_numpy(ak.fill_none(jet[field], 0.0))[flat.event] for field in ("Eta", "Phi"))
        distances.append(np.where(has_jet, delta_r(flat.columns["eta"], flat.columns["phi"], jet_eta, jet_phi), np.inf))
    first = (distances[0] < radius) & (distances[0] <= distances[1])
    second = (distances[1] < radius) & (distances[1] < distances[0])
    return flat[first].to_jagged(len(eflow)), flat[second].to_jagged(len(eflow))


def convert_file(path, output, selection: dict, jet_radius: float, selection_name: str, sqrt_s_gev: float = 13000.0) -> dict:
    """ROOT -> Parquet for one chunk. Zero selected events give an empty but valid file."""
    root_file, tree = _open_tree(path)
    events = _convert_tree(tree, path, selection, jet_radius, sqrt_s_gev)
    provenance = _provenance(root_file)
    metadata = provenance | {"selection": selection_name, "selection_cuts": selection, "n_selected": len(events),
                             "source": Path(path).name}
    files.write_awkward(events, output, metadata)
    return metadata


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.detector.delphes_io", description="Delphes ROOT -> Parquet")
    parser.add_argument("root_file", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--selection", required=True, help="the selection's cuts as JSON")
    parser.add_argument("--selection-name", required=True)
    parser.add_argument("--jet-radius", type=float, required=True)
    parser.add_argument("--sqrt-s-gev", type=float, default=13000.0, help="collision energy, for m-hat from x1 and x2")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    metadata = convert_file(args.root_file, args.output, json.loads(args.selection), args.jet_radius, args.selection_name,
                            args.sqrt_s_gev)
    if metadata["n_selected"] == 0:
        print(f"warning: no event of {args.root_file} passes selection {args.selection_name}", file=sys.stderr)
    print(metadata, flush=True)


if __name__ == "__main__":
    main()
