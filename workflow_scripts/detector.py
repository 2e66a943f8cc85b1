"""Embedded fast detector simulation modelled on Delphes' CMS card (cards/delphes_card_CMS.tcl).

From final-state particles to the objects Delphes writes: tracks (efficiency
and momentum resolution per particle type), ECAL and HCAL towers with the
card's granularity and energy resolution, energy-flow objects (tracks, and the
tower energy left after subtracting the tracks as photons / neutral hadrons),
isolated electrons and muons, missing ET, and anti-kt jets through fastjet
with the card's jet energy scale.  Simplifications with respect to Delphes:
straight-line propagation (no magnetic-field loopers), no pile-up, no
b/tau tagging and no removal of jets overlapping isolated leptons.

Everything is vectorised over all particles of a chunk (numpy on flattened
arrays with event indices, awkward where jaggedness matters); the random
stream is seeded per chunk.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import awkward as ak
import numpy as np

from workflow_scripts import delphes_io, files
from workflow_scripts.kinematics import delta_r
from workflow_scripts.seeding import derive_seed

INVISIBLE_PIDS = np.array([12, 14, 16, 1000012, 1000014, 1000016, 1000022, 1000023, 1000025, 1000035, 1000039, 1000045])
TRACKER_ETA_MAX = 2.5
# Calorimeter energy fractions {|pid|: (ECAL, HCAL)}; everything else visible is a hadron: (0, 1).
ENERGY_FRACTIONS = {11: (1.0, 0.0), 22: (1.0, 0.0), 111: (1.0, 0.0), 13: (0.0, 0.0), 310: (0.3, 0.7), 3122: (0.3, 0.7)}


def _barrel_endcap_ecal_edges() -> np.ndarray:
    barrel = np.arange(-85, 87) * 0.0174
    endcaps = np.r_[-2.958 + np.arange(1, 85) * 0.0174, 1.4964 + np.arange(1, 85) * 0.0174]
    return np.unique(np.round(np.r_[barrel, endcaps], 6))


@dataclasses.dataclass(frozen=True)
class Calorimeter:
    """Towers: eta edges and, per eta bin, the number of phi bins over 2 pi."""

    name: str
    eta_edges: np.ndarray
    phi_bins: np.ndarray
    energy_min_gev: float
    significance_min: float

    def tower_index(self, eta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(eta bin, phi bin) of each position; eta bin -1 outside the calorimeter."""
        eta_bin = np.searchsorted(self.eta_edges, eta, side="right") - 1
        inside = (eta_bin >= 0) & (eta_bin < len(self.phi_bins))
        eta_bin = np.where(inside, eta_bin, -1)
        n_phi = self.phi_bins[np.clip(eta_bin, 0, len(self.phi_bins) - 1)]
        phi_bin = np.floor((phi + np.pi) / (2 * np.pi) * n_phi).astype(np.int64) % n_phi
        return eta_bin, phi_bin


def _ecal() -> Calorimeter:
    central = _barrel_endcap_ecal_edges()
    forward = np.array([-5, -4.7, -4.525, -4.35, -4.175, -4, -3.825, -3.65, -3.475, -3.3, -3.125,
                        3.125, 3.3, 3.475, 3.65, 3.825, 4, 4.175, 4.35, 4.525, 4.7, 5])
    edges = np.unique(np.r_[central, forward])
    centres = 0.5 * (edges[:-1] + edges[1:])
    phi_bins = np.where(np.abs(centres) < 3.0, 360, 36)
    return Calorimeter("ECAL", edges, phi_bins, energy_min_gev=0.5, significance_min=2.0)


def _hcal() -> Calorimeter:
    five_degrees = np.array([-1.566, -1.479, -1.392, -1.305, -1.218, -1.131, -1.044, -0.957, -0.87, -0.783, -0.696, -0.609, -0.522,
                             -0.435, -0.348, -0.261, -0.174, -0.087, 0, 0.087, 0.174, 0.261, 0.348, 0.435, 0.522, 0.609, 0.696,
                             0.783, 0.87, 0.957, 1.044, 1.131, 1.218, 1.305, 1.392, 1.479, 1.566, 1.653])
    ten_degrees = np.array([-4.35, -4.175, -4, -3.825, -3.65, -3.475, -3.3, -3.125, -2.95, -2.868, -2.65, -2.5, -2.322, -2.172,
                            -2.043, -1.93, -1.83, -1.74, -1.653, 1.74, 1.83, 1.93, 2.043, 2.172, 2.322, 2.5, 2.65, 2.868, 2.95,
                            3.125, 3.3, 3.475, 3.65, 3.825, 4, 4.175, 4.35, 4.525])
    twenty_degrees = np.array([-5, -4.7, -4.525, 4.7, 5])
    edges = np.unique(np.r_[five_degrees, ten_degrees, twenty_degrees])
    centres = np.abs(0.5 * (edges[:-1] + edges[1:]))
    phi_bins = np.select([centres < 1.6, centres < 4.525], [72, 36], 18)
    return Calorimeter("HCAL", edges, phi_bins, energy_min_gev=1.0, significance_min=2.0)


ECAL, HCAL = _ecal(), _hcal()


def ecal_resolution(energy, eta):
    """sigma(E) in GeV, CMS card (ECAL barrel/endcap shapes from arXiv:1306.2016, 1502.02701)."""
    aeta = np.abs(eta)
    core = np.sqrt(energy**2 * 0.008**2 + energy * 0.11**2 + 0.40**2)
    return np.select(
        [aeta <= 1.5, aeta <= 2.5, aeta <= 5.0],
        [(1 + 0.64 * eta**2) * core, (2.16 + 5.6 * (aeta - 2) ** 2) * core, np.sqrt(energy**2 * 0.107**2 + energy * 2.08**2)],
        0.0,
    )


def hcal_resolution(energy, eta):
    aeta = np.abs(eta)
    return np.select([aeta <= 3.0, aeta <= 5.0],
                     [np.sqrt(energy**2 * 0.050**2 + energy * 1.50**2), np.sqrt(energy**2 * 0.130**2 + energy * 2.70**2)], 0.0)


def tracking_efficiency(abs_pid, pt, eta):
    aeta = np.abs(eta)
    barrel, endcap = aeta <= 1.5, (aeta > 1.5) & (aeta <= TRACKER_ETA_MAX)
    soft, hard = (pt > 0.1) & (pt <= 1.0), pt > 1.0
    electron = np.select([barrel & soft, barrel & hard & (pt <= 100), barrel & (pt > 100),
                          endcap & soft, endcap & hard & (pt <= 100), endcap & (pt > 100)], [0.73, 0.95, 0.99, 0.50, 0.83, 0.90], 0.0)
    muon = np.select([barrel & soft, barrel & hard, endcap & soft, endcap & hard], [0.75, 0.99, 0.70, 0.98], 0.0)
    hadron = np.select([barrel & soft, barrel & hard, endcap & soft, endcap & hard], [0.70, 0.95, 0.60, 0.85], 0.0)
    return np.select([abs_pid == 11, abs_pid == 13], [electron, muon], hadron)


def track_resolution(abs_pid, pt, eta):
    """Relative pT resolution of tracks (CMS card, arXiv:1405.6569)."""
    aeta = np.abs(eta)
    regions = [aeta <= 0.5, (aeta > 0.5) & (aeta <= 1.5), (aeta > 1.5) & (aeta <= 2.5)]
    constants = {11: ((0.03, 1.3e-3), (0.05, 1.7e-3), (0.15, 3.1e-3)),
                 13: ((0.01, 1.0e-4), (0.015, 1.5e-4), (0.025, 3.5e-4)),
                 0: ((0.01, 1.5e-4), (0.015, 2.5e-4), (0.025, 5.5e-4))}

    def formula(kind):
        return np.select(regions, [np.sqrt(a**2 + pt**2 * b**2) for a, b in constants[kind]], 0.0)

    return np.select([abs_pid == 11, abs_pid == 13], [formula(11), formula(13)], formula(0))


def lepton_efficiency(abs_pid, pt, eta):
    """Identification efficiency of electrons and muons after tracking (CMS card)."""
    aeta = np.abs(eta)
    electron = np.select([(pt > 10) & (aeta <= 1.5), (pt > 10) & (aeta > 1.5) & (aeta <= 2.5)], [0.95, 0.85], 0.0)
    muon_core = np.where(pt <= 1.0e3, 0.95, 0.95 * np.exp(0.5 - pt * 5.0e-4))
    muon = np.where((pt > 10) & (aeta <= 2.4), muon_core, 0.0)
    return np.where(abs_pid == 11, electron, muon)


ISOLATION = {11: (0.5, 0.5, 0.12), 13: (0.5, 0.5, 0.25)}  # |pid|: (Delta R max, pT min of neighbours, pT ratio max)


def log_normal(rng, mean, sigma):
    """Delphes' LogNormal smearing: positive values with the given mean and standard deviation."""
    mean = np.maximum(mean, 1e-12)
    variance_ratio = 1.0 + (sigma / mean) ** 2
    mu = np.log(mean / np.sqrt(variance_ratio))
    return np.exp(rng.normal(mu, np.sqrt(np.log(variance_ratio))))


def _kinematics(px, py, pz):
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.full_like(pz, np.sign(pz) * 1e6 + (pz == 0)), where=pt > 0))
    return pt, eta, np.arctan2(py, px)


def _jagged(values: dict, event_index, n_events) -> ak.Array:
    """Event-jagged record array from flat columns sorted by event index."""
    counts = np.bincount(event_index, minlength=n_events)
    return ak.unflatten(ak.zip({key: np.asarray(value) for key, value in values.items()}), counts)


def _calorimeter_towers(calo, event_index, eta, phi, energy, resolution, rng, n_events):
    """Summed, smeared towers: (event, eta, phi, energy, sigma, tower key) per hit tower."""
    eta_bin, phi_bin = calo.tower_index(eta, phi)
    keep = (eta_bin >= 0) & (energy > 0)
    key = (event_index[keep].astype(np.int64) * 10_000 + eta_bin[keep]) * 1_000 + phi_bin[keep]
    towers, inverse = np.unique(key, return_inverse=True)
    tower_energy = np.bincount(inverse, weights=energy[keep])
    tower_event = towers // 10_000_000
    tower_eta_bin = (towers // 1_000) % 10_000
    tower_phi_bin = towers % 1_000
    # Delphes smears the reported position uniformly inside the tower.
    low, high = calo.eta_edges[tower_eta_bin], calo.eta_edges[tower_eta_bin + 1]
    tower_eta = rng.uniform(low, high)
    n_phi = calo.phi_bins[tower_eta_bin]
    tower_phi = -np.pi + (tower_phi_bin + rng.uniform(0, 1, len(towers))) * 2 * np.pi / n_phi
    sigma = resolution(tower_energy, 0.5 * (low + high))
    smeared = log_normal(rng, tower_energy, sigma)
    return tower_event, tower_eta, tower_phi, smeared, sigma, towers


def simulate(events: ak.Array, seed: int, jet_radius: float, jet_pt_min_gev: float = 20.0,
             first_event_number: int = 0) -> dict[str, ak.Array]:
    """Delphes-like reconstruction of a chunk; returns collections keyed by Delphes branch name."""
    import fastjet

    rng = np.random.default_rng(seed)
    particles = events["particles"]
    n_events = len(particles)
    counts = ak.to_numpy(ak.num(particles))
    event_index = np.repeat(np.arange(n_events), counts)
    flat = {field: ak.to_numpy(ak.flatten(particles[field])).astype(np.float64) for field in ("px", "py", "pz", "e", "charge")}
    pid = ak.to_numpy(ak.flatten(particles["pid"])).astype(np.int64)
    abs_pid = np.abs(pid)
    pt, eta, phi = _kinematics(flat["px"], flat["py"], flat["pz"])
    visible = ~np.isin(abs_pid, INVISIBLE_PIDS) & (np.abs(eta) < 5.0)
    mass = np.sqrt(np.maximum(flat["e"] ** 2 - pt**2 - flat["pz"] ** 2, 0.0))

    # Tracks: per-type efficiency, log-normal pT smearing.
    charged = visible & (flat["charge"] != 0)
    tracked = charged & (rng.random(len(pid)) < tracking_efficiency(abs_pid, pt, eta))
    track_relative_resolution = track_resolution(abs_pid, pt, eta)
    track_pt = np.where(tracked, log_normal(rng, pt, track_relative_resolution * pt), 0.0)
    track_energy = np.sqrt((track_pt * np.cosh(eta)) ** 2 + mass**2)

    # Calorimeter deposits of every visible particle (tracked or not), per the energy fractions.
    f_ecal = np.zeros(len(pid))
    f_hcal = np.ones(len(pid))
    for code, (ecal_fraction, hcal_fraction) in ENERGY_FRACTIONS.items():
        f_ecal = np.where(abs_pid == code, ecal_fraction, f_ecal)
        f_hcal = np.where(abs_pid == code, hcal_fraction, f_hcal)
    f_ecal, f_hcal = np.where(visible, f_ecal, 0.0), np.where(visible, f_hcal, 0.0)

    eflow_neutral = {}
    for calo, fraction, resolution, branch in ((ECAL, f_ecal, ecal_resolution, "EFlowPhoton"),
                                               (HCAL, f_hcal, hcal_resolution, "EFlowNeutralHadron")):
        tower_event, tower_eta, tower_phi, tower_energy, sigma, keys = _calorimeter_towers(
            calo, event_index, eta, phi, flat["e"] * fraction, resolution, rng, n_events)
        # Energy-flow: subtract what the reconstructed tracks are expected to leave in this calorimeter.
        track_eta_bin, track_phi_bin = calo.tower_index(eta, phi)
        has_track_deposit = tracked & (track_eta_bin >= 0) & (fraction > 0)
        track_keys = (event_index[has_track_deposit].astype(np.int64) * 10_000 + track_eta_bin[has_track_deposit]) * 1_000 \
            + track_phi_bin[has_track_deposit]
        expected, expected_variance = np.zeros(len(keys)), np.zeros(len(keys))
        position = np.searchsorted(keys, track_keys)
        deposit = (track_energy * fraction)[has_track_deposit]
        np.add.at(expected, position, deposit)
        np.add.at(expected_variance, position, (deposit * track_relative_resolution[has_track_deposit]) ** 2)
        # As Delphes: a neutral object only where the tower exceeds the tracks' expectation significantly,
        # given the resolutions of both.
        neutral_energy = tower_energy - expected
        significance_sigma = np.sqrt(sigma**2 + expected_variance)
        keep = (neutral_energy > calo.energy_min_gev) & (neutral_energy > calo.significance_min * significance_sigma)
        et = neutral_energy[keep] / np.cosh(tower_eta[keep])
        eflow_neutral[branch] = (tower_event[keep], {"ET": et, "Eta": tower_eta[keep], "Phi": tower_phi[keep],
                                                     "E": neutral_energy[keep]})

    track_event = event_index[tracked]
    track_columns = {"PT": track_pt[tracked], "Eta": eta[tracked], "Phi": phi[tracked], "Charge": flat["charge"][tracked].astype(np.int32),
                     "PID": pid[tracked].astype(np.int32), "Mass": mass[tracked]}
    collections = {"EFlowTrack": _jagged(track_columns, track_event, n_events)}
    for branch, (tower_event, columns) in eflow_neutral.items():
        collections[branch] = _jagged(columns, tower_event, n_events)

    eflow = _eflow_candidates(collections)
    collections["Electron"] = _isolated_leptons(collections["EFlowTrack"], eflow, 11, rng)
    collections["Muon"] = _isolated_leptons(collections["EFlowTrack"], eflow, 13, rng)

    met_x = -ak.sum(eflow.pt * np.cos(eflow.phi), axis=1)
    met_y = -ak.sum(eflow.pt * np.sin(eflow.phi), axis=1)
    collections["MissingET"] = ak.unflatten(ak.zip({"MET": np.hypot(met_x, met_y), "Eta": np.zeros(n_events), "Phi": np.arctan2(met_y, met_x)}), 1)

    collections["Jet"] = _jets(eflow, jet_radius, jet_pt_min_gev, fastjet)
    collections["Event"] = _event_record(events, first_event_number)
    return collections


def _event_record(events, first_event_number: int) -> ak.Array:
    """Delphes' Event branch (one entry per event): number, hard scale (pT-hat) and parton x1, x2."""
    n_events = len(events)
    fields = {"Number": np.arange(first_event_number, first_event_number + n_events, dtype=np.int64)}
    if {"pt_hat_gev", "x1", "x2"} <= set(events.fields):
        fields |= {"Scale": ak.to_numpy(events["pt_hat_gev"]), "X1": ak.to_numpy(events["x1"]), "X2": ak.to_numpy(events["x2"])}
    return ak.unflatten(ak.zip(fields), 1)


def _eflow_candidates(collections) -> ak.Array:
    """All energy-flow objects of each event as (pt, eta, phi, mass, kind)."""
    tracks = collections["EFlowTrack"]
    parts = [ak.zip({"pt": tracks.PT, "eta": tracks.Eta, "phi": tracks.Phi, "mass": tracks.Mass, "kind": ak.zeros_like(tracks.PT, dtype=np.int8)})]
    for kind, branch in ((1, "EFlowPhoton"), (2, "EFlowNeutralHadron")):
        towers = collections[branch]
        parts.append(ak.zip({"pt": towers.ET, "eta": towers.Eta, "phi": towers.Phi, "mass": ak.zeros_like(towers.ET),
                             "kind": ak.full_like(towers.ET, kind, dtype=np.int8)}))
    return ak.concatenate(parts, axis=1)


def _isolated_leptons(tracks, eflow, abs_pid, rng) -> ak.Array:
    """Electrons or muons: identification efficiency, then relative isolation against energy flow."""
    candidates = tracks[abs(tracks.PID) == abs_pid]
    flat_pt = ak.to_numpy(ak.flatten(candidates.PT))
    efficiency = lepton_efficiency(np.full(len(flat_pt), abs_pid), flat_pt, ak.to_numpy(ak.flatten(candidates.Eta)))
    identified = ak.unflatten(rng.random(len(flat_pt)) < efficiency, ak.num(candidates))
    candidates = candidates[identified]
    delta_r_max, pt_min, ratio_max = ISOLATION[abs_pid]
    # Leptons are rare: pair them with the energy flow only in the events that have one.
    with_candidate = ak.to_numpy(ak.num(candidates) > 0)
    some = candidates[with_candidate]
    others = eflow[with_candidate]
    pairs = ak.cartesian({"lepton": some, "other": others[others.pt > pt_min]}, nested=True)
    distance = delta_r(pairs.lepton.Eta, pairs.lepton.Phi, pairs.other.eta, pairs.other.phi)
    # The lepton's own track is in the energy flow at distance zero: leave it out.
    near = (distance < delta_r_max) & (distance > 1e-9)
    some_isolation = ak.sum(ak.where(near, pairs.other.pt, 0.0), axis=2) / some.PT
    isolation = ak.values_astype(ak.zeros_like(candidates.PT), np.float64)
    if len(some):
        slot = np.cumsum(with_candidate) - 1
        isolation = ak.where(with_candidate, some_isolation[np.clip(slot, 0, None)], isolation)
    isolated = candidates[isolation < ratio_max]
    isolation = isolation[isolation < ratio_max]
    return ak.zip({"PT": isolated.PT, "Eta": isolated.Eta, "Phi": isolated.Phi, "Charge": isolated.Charge, "IsolationVar": isolation})


def jet_energy_scale(pt, eta):
    """Delphes CMS card: sqrt((2.5 - 0.15 |eta|)^2 / pT + 1)."""
    return np.sqrt((2.5 - 0.15 * np.abs(eta)) ** 2 / pt + 1.0)


def _jets(eflow, radius, pt_min_gev, fastjet) -> ak.Array:
    """Anti-kt jets of the energy-flow objects (fastjet's multi-event clustering), pT-ordered."""
    px, py = eflow.pt * np.cos(eflow.phi), eflow.pt * np.sin(eflow.phi)
    pz = eflow.pt * np.sinh(eflow.eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + eflow.mass**2)
    inputs = ak.zip({"px": px, "py": py, "pz": pz, "E": energy}, with_name="Momentum4D")
    sequence = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    jets = sequence.inclusive_jets(min_pt=0.0)
    jet_pt = np.hypot(jets.px, jets.py)
    p = np.sqrt(jet_pt**2 + jets.pz**2)
    jet_eta = np.arcsinh(jets.pz / jet_pt)
    scale = jet_energy_scale(jet_pt, jet_eta)
    jet_pt, p, energy = jet_pt * scale, p * scale, jets.E * scale
    mass = np.sqrt(np.maximum(energy**2 - p**2, 0.0))
    out = ak.zip({"PT": jet_pt, "Eta": jet_eta, "Phi": np.arctan2(jets.py, jets.px), "Mass": mass})
    out = out[out.PT > pt_min_gev]
    return out[ak.argsort(out.PT, ascending=False)]


def simulate_chunk(particles_path, output, jet_radius: float, global_seed: int) -> dict:
    """Particles Parquet -> Delphes-schema ROOT file for one chunk."""
    events, metadata = files.read_awkward(particles_path)
    seed = derive_seed(global_seed, "detector", metadata.get("sample", Path(particles_path).parent.name), metadata.get("chunk", 0))
    first_event_number = metadata.get("chunk", 0) * metadata.get("n_events", len(events))
    collections = simulate(events, seed, jet_radius, first_event_number=first_event_number)
    provenance = metadata | {"detector_seed": seed, "jet_radius": jet_radius, "detector": "embedded CMS-like"}
    delphes_io.write_delphes_root(collections, output, provenance)
    return provenance


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.detector", description=__doc__.split("\n")[0])
    parser.add_argument("particles", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--jet-radius", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True, help="global seed")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    print(simulate_chunk(args.particles, args.output, args.jet_radius, args.seed), flush=True)


if __name__ == "__main__":
    main()
