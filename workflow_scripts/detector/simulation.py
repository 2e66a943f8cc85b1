"""Embedded fast detector simulation modelled on Delphes' CMS card (cards/delphes_card_CMS.tcl).

From final-state particles to the objects Delphes writes: propagation of
charged particles in the solenoid to the calorimeter surface, tracks
(efficiency and momentum resolution per particle type, evaluated where the
particle leaves the tracker, as Delphes does), ECAL and HCAL towers with the
card's granularity, energy resolution and thresholds, energy-flow objects
(tracks, rescaled to the calorimeter where it sees no significant neutral
excess, and that excess as photons / neutral hadrons), isolated electrons and
muons, missing ET, and anti-kt jets through fastjet with the card's jet energy
scale.  `closure.py` measures it against Delphes 3.5.1 on the same events.
Simplifications with respect to Delphes: particles start at the origin (the
particle files hold no vertices; pythia8mc's HepMC3 output has none either),
no pile-up, no b/tau tagging and no removal of jets overlapping isolated
leptons.

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

from workflow_scripts.core import files
from workflow_scripts.core.flat import FlatObjects, one_per_event
from workflow_scripts.core.kinematics import delta_r, wrap_phi
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.detector import delphes_io

# ParticlePropagator of the CMS card: solenoid field and the tracker volume charged particles bend in.
MAGNETIC_FIELD_T = 3.8
TRACKER_RADIUS_M = 1.29
TRACKER_HALF_LENGTH_M = 3.0
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
    return Calorimeter("HCAL", edges, phi_bins, energy_min_gev=1.0, significance_min=1.0)


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
                 0: ((0.06, 1.3e-3), (0.10, 1.7e-3), (0.25, 3.1e-3))}

    def formula(kind):
        return np.select(regions, [np.sqrt(a**2 + pt**2 * b**2) for a, b in constants[kind]], 0.0)

    # Delphes caps the relative resolution at 1.
    return np.minimum(np.select([abs_pid == 11, abs_pid == 13], [formula(11), formula(13)], formula(0)), 1.0)


def lepton_efficiency(abs_pid, pt, eta):
    """Identification efficiency of electrons and muons after tracking (CMS card)."""
    aeta = np.abs(eta)
    electron = np.select([(pt > 10) & (aeta <= 1.5), (pt > 10) & (aeta > 1.5) & (aeta <= 2.5)], [0.95, 0.85], 0.0)
    muon_core = np.where(pt <= 1.0e3, 0.95, 0.95 * np.exp(0.5 - pt * 5.0e-4))
    muon = np.where((pt > 10) & (aeta <= 2.4), muon_core, 0.0)
    return np.where(abs_pid == 11, electron, muon)


ISOLATION = {11: (0.5, 0.5, 0.12), 13: (0.5, 0.5, 0.25)}  # |pid|: (Delta R max, pT min of neighbours, pT ratio max)


def log_normal(rng, mean, sigma, standard_normal=None):
    """Delphes' LogNormal smearing: positive values with the given mean and standard deviation.
    `standard_normal`, when given, holds the N(0, 1) draws to use instead of drawing from `rng`."""
    mean = np.maximum(mean, 1e-12)
    variance_ratio = 1.0 + (sigma / mean) ** 2
    mu = np.log(mean / np.sqrt(variance_ratio))
    if standard_normal is None:
        standard_normal = rng.standard_normal(np.shape(mean))
    return np.exp(mu + np.sqrt(np.log(variance_ratio)) * standard_normal)


def calorimeter_entry(pt, pz, eta, phi, charge) -> tuple[np.ndarray, np.ndarray]:
    """(eta, phi) of the point where each particle from the origin leaves the tracker volume, as Delphes'
    ParticlePropagator computes it: straight for neutral particles, along the helix in the solenoid's field for
    charged ones (through the barrel at TRACKER_RADIUS_M, or the endcap at TRACKER_HALF_LENGTH_M, whichever comes
    first).  The calorimeter towers are found at this point; tracks keep their momentum's direction."""
    eta, phi = np.array(eta, dtype=np.float64), np.array(phi, dtype=np.float64)
    charged = np.flatnonzero(charge != 0)
    pt_c, pz_c, q = pt[charged], pz[charged], charge[charged]
    radius = pt_c / (0.299792458 * np.abs(q) * MAGNETIC_FIELD_T)  # helix radius [m]
    with np.errstate(divide="ignore", invalid="ignore"):
        # Turning angle in the transverse plane to the barrel (a chord of length R) and to the endcap.
        to_barrel = np.where(2 * radius >= TRACKER_RADIUS_M, 2 * np.arcsin(np.minimum(TRACKER_RADIUS_M / (2 * radius), 1.0)), np.inf)
        to_endcap = np.where(pz_c != 0, TRACKER_HALF_LENGTH_M * pt_c / (np.abs(pz_c) * radius), np.inf)
    turn = np.minimum(to_barrel, to_endcap)
    exit_radius = 2 * radius * np.abs(np.sin(turn / 2))
    exit_z = pz_c / pt_c * radius * turn
    with np.errstate(divide="ignore"):
        eta[charged] = np.arcsinh(np.divide(exit_z, exit_radius, out=np.full_like(exit_z, np.sign(exit_z) * 1e6 + (exit_z == 0)),
                                            where=exit_radius > 0))
    # A positive charge turns clockwise in a field along +z; the exit point lies half the turn behind.
    phi[charged] = wrap_phi(phi[charged] - np.sign(q) * turn / 2)
    return eta, phi


def _kinematics(px, py, pz):
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.full_like(pz, np.sign(pz) * 1e6 + (pz == 0)), where=pt > 0))
    return pt, eta, np.arctan2(py, px)


def _calorimeter_towers(calo, event_index, eta, phi, energy, resolution, rng):
    """Summed, smeared towers of the deposits given (flat, sorted by event).

    Returns the towers as FlatObjects (eta, phi, measured energy, sigma) and, for every deposit, its tower's row
    (-1 outside the calorimeter).  As in Delphes, sigma is the resolution at the smeared energy, and a tower
    below the card's energy or significance threshold measures zero."""
    eta_bin, phi_bin = calo.tower_index(eta, phi)
    inside = np.flatnonzero(eta_bin >= 0)
    key = (event_index[inside].astype(np.int64) * 10_000 + eta_bin[inside]) * 1_000 + phi_bin[inside]
    towers, inverse = np.unique(key, return_inverse=True)
    tower_of_deposit = np.full(len(eta), -1)
    tower_of_deposit[inside] = inverse
    tower_energy = np.bincount(inverse, weights=energy[inside], minlength=len(towers))
    tower_eta_bin = (towers // 1_000) % 10_000
    tower_phi_bin = towers % 1_000
    # Delphes smears the reported position uniformly inside the tower.
    low, high = calo.eta_edges[tower_eta_bin], calo.eta_edges[tower_eta_bin + 1]
    tower_eta = rng.uniform(low, high)
    n_phi = calo.phi_bins[tower_eta_bin]
    tower_phi = -np.pi + (tower_phi_bin + rng.uniform(0, 1, len(towers))) * 2 * np.pi / n_phi
    centre = 0.5 * (low + high)
    smeared = log_normal(rng, tower_energy, resolution(tower_energy, centre))
    sigma = resolution(smeared, centre)
    measured = np.where((smeared < calo.energy_min_gev) | (smeared < calo.significance_min * sigma), 0.0, smeared)
    towers = FlatObjects(towers // 10_000_000, {"eta": tower_eta, "phi": tower_phi, "energy": measured, "sigma": sigma})
    return towers, tower_of_deposit


def _energy_fractions(abs_pid) -> tuple[np.ndarray, np.ndarray]:
    """(ECAL, HCAL) energy fraction of each particle from ENERGY_FRACTIONS; hadrons (0, 1) otherwise."""
    ecal, hcal = np.zeros(len(abs_pid)), np.ones(len(abs_pid))
    for code, (ecal_fraction, hcal_fraction) in ENERGY_FRACTIONS.items():
        match = abs_pid == code
        ecal[match], hcal[match] = ecal_fraction, hcal_fraction
    return ecal, hcal


def simulate(events: ak.Array, seed: int, jet_radius: float, jet_pt_min_gev: float = 20.0,
             first_event_number: int = 0, jet_energy_scale: float = 1.0) -> dict[str, ak.Array]:
    """Delphes-like reconstruction of a chunk; returns collections keyed by Delphes branch name.

    `jet_energy_scale` multiplies the card's jet energy scale (a systematic variation; 1 is the card)."""
    import fastjet

    rng = np.random.default_rng(seed)
    particles = events["particles"]
    n_events = len(particles)
    flat = FlatObjects.from_jagged(particles, ("px", "py", "pz", "e", "charge", "pid"))
    event_index = flat.event
    px, py, pz, energy, charge = (flat.columns[field].astype(np.float64) for field in ("px", "py", "pz", "e", "charge"))
    pid = flat.columns["pid"].astype(np.int64)
    abs_pid = np.abs(pid)
    pt, eta, phi = _kinematics(px, py, pz)
    visible = ~np.isin(abs_pid, INVISIBLE_PIDS) & (np.abs(eta) < 5.0)
    mass = np.sqrt(np.maximum(energy**2 - pt**2 - pz**2, 0.0))

    # Where each particle leaves the tracker: calorimeter deposits sit there, and Delphes evaluates the card's
    # tracking efficiency and resolution at that point's eta (so a low-pT looper that leaves through an
    # endcap, beyond |eta| = 2.5, is not tracked).
    entry_eta, entry_phi = calorimeter_entry(pt, pz, eta, phi, charge)

    # Tracks: per-type efficiency, log-normal pT smearing. The draws are made for every particle, tracked or
    # not, so that a seed gives the same tracks as it did in earlier versions.
    efficiency_draw = rng.random(len(pid))
    smearing_draw = rng.standard_normal(len(pid))
    charged = np.flatnonzero(visible & (charge != 0))
    tracked = charged[efficiency_draw[charged] < tracking_efficiency(abs_pid[charged], pt[charged], entry_eta[charged])]
    track_relative_resolution = track_resolution(abs_pid[tracked], pt[tracked], entry_eta[tracked])
    track_pt = log_normal(rng, pt[tracked], track_relative_resolution * pt[tracked], standard_normal=smearing_draw[tracked])
    track_energy = np.sqrt((track_pt * np.cosh(eta[tracked])) ** 2 + mass[tracked] ** 2)
    track_row = np.full(len(pid), -1)
    track_row[tracked] = np.arange(len(tracked))
    tracks = FlatObjects(event_index[tracked], {"PT": track_pt, "Eta": eta[tracked], "Phi": phi[tracked],
                                          "Charge": charge[tracked].astype(np.int32), "PID": pid[tracked].astype(np.int32),
                                          "Mass": mass[tracked]})

    # Calorimeter deposits of every visible particle (tracked or not), per the energy fractions.
    ecal_fraction, hcal_fraction = _energy_fractions(abs_pid)
    track_rescale = np.ones(len(tracked))
    neutrals = {}
    for calo, fraction, resolution, branch in ((ECAL, ecal_fraction, ecal_resolution, "EFlowPhoton"),
                                               (HCAL, hcal_fraction, hcal_resolution, "EFlowNeutralHadron")):
        deposits = np.flatnonzero(visible & (fraction > 0))
        towers, tower_of_deposit = _calorimeter_towers(calo, event_index[deposits], entry_eta[deposits], entry_phi[deposits],
                                                       (energy * fraction)[deposits], resolution, rng)
        # Energy-flow: subtract what the reconstructed tracks are expected to leave in this calorimeter.
        from_track = (track_row[deposits] >= 0) & (tower_of_deposit >= 0)
        row = track_row[deposits[from_track]]
        track_tower = tower_of_deposit[from_track]
        expected_deposit = track_energy[row] * fraction[deposits[from_track]]
        # (float even without tracks: bincount of nothing is an integer array)
        expected = np.bincount(track_tower, weights=expected_deposit, minlength=len(towers.event)).astype(np.float64)
        expected_variance = np.bincount(track_tower, minlength=len(towers.event),
                                        weights=(expected_deposit * track_relative_resolution[row]) ** 2).astype(np.float64)
        # As Delphes: a neutral object only where the tower exceeds the tracks' expectation significantly,
        # given the resolutions of both.
        measured, sigma = towers.columns["energy"], towers.columns["sigma"]
        neutral_energy = np.maximum(measured - expected, 0.0)
        keep = (neutral_energy > calo.energy_min_gev) & (neutral_energy > calo.significance_min * np.sqrt(sigma**2 + expected_variance))
        # Otherwise Delphes rescales the tower's tracks to the resolution-weighted mean of the track and
        # calorimeter measurements (towards zero where the tower fell below threshold).
        rescaled = ~keep & (expected > 0)
        weight_track = np.divide(1.0, expected_variance, out=np.zeros_like(expected_variance), where=expected_variance > 0)
        weight_calo = np.divide(1.0, sigma**2, out=np.zeros_like(sigma), where=sigma > 0)
        weights = weight_track + weight_calo
        best = np.divide(weight_track * expected + weight_calo * measured, weights, out=expected.copy(), where=weights > 0)
        tower_rescale = np.ones(len(expected))
        tower_rescale[rescaled] = best[rescaled] / expected[rescaled]
        track_rescale[row] *= tower_rescale[track_tower]
        kept = towers[keep]
        neutrals[branch] = FlatObjects(kept.event, {"ET": neutral_energy[keep] / np.cosh(kept.columns["eta"]), "Eta": kept.columns["eta"],
                                              "Phi": kept.columns["phi"], "E": neutral_energy[keep]})
    tracks.columns["PT"] = tracks.columns["PT"] * track_rescale

    collections = {"EFlowTrack": tracks.to_jagged(n_events)} | {branch: objects.to_jagged(n_events) for branch, objects in neutrals.items()}

    eflow = _eflow_candidates(tracks, neutrals)
    collections["Electron"] = _isolated_leptons(tracks, eflow, 11, rng, n_events)
    collections["Muon"] = _isolated_leptons(tracks, eflow, 13, rng, n_events)

    met_x = -np.bincount(eflow.event, weights=eflow.columns["pt"] * np.cos(eflow.columns["phi"]), minlength=n_events)
    met_y = -np.bincount(eflow.event, weights=eflow.columns["pt"] * np.sin(eflow.columns["phi"]), minlength=n_events)
    collections["MissingET"] = one_per_event({"MET": np.hypot(met_x, met_y), "Eta": np.zeros(n_events), "Phi": np.arctan2(met_y, met_x)})

    collections["Jet"] = _jets(eflow, n_events, jet_radius, jet_pt_min_gev, fastjet, jet_energy_scale)
    collections["Event"] = _event_record(events, first_event_number)
    return collections


def _event_record(events, first_event_number: int) -> ak.Array:
    """Delphes' Event branch (one entry per event): number, hard scale (pT-hat) and parton x1, x2."""
    n_events = len(events)
    fields = {"Number": np.arange(first_event_number, first_event_number + n_events, dtype=np.int64)}
    if {"pt_hat_gev", "x1", "x2"} <= set(events.fields):
        fields |= {"Scale": ak.to_numpy(events["pt_hat_gev"]), "X1": ak.to_numpy(events["x1"]), "X2": ak.to_numpy(events["x2"])}
    return one_per_event(fields)


def _eflow_candidates(tracks: FlatObjects, neutrals: dict[str, FlatObjects]) -> FlatObjects:
    """All energy-flow objects (pt, eta, phi, mass, kind), per event tracks then photons then neutral hadrons."""
    parts = []
    for objects, pt, kind in ((tracks, tracks.columns["PT"], 0), (neutrals["EFlowPhoton"], neutrals["EFlowPhoton"].columns["ET"], 1),
                              (neutrals["EFlowNeutralHadron"], neutrals["EFlowNeutralHadron"].columns["ET"], 2)):
        parts.append(FlatObjects(objects.event, {"pt": pt, "eta": objects.columns["Eta"], "phi": objects.columns["Phi"],
                                           "mass": objects.columns.get("Mass", np.zeros(len(pt))),
                                           "kind": np.full(len(pt), kind, dtype=np.int8)}))
    event = np.concatenate([part.event for part in parts])
    columns = {key: np.concatenate([part.columns[key] for part in parts]) for key in parts[0].columns}
    return FlatObjects(event, columns)[np.argsort(event, kind="stable")]


def _isolated_leptons(tracks: FlatObjects, eflow: FlatObjects, abs_pid, rng, n_events) -> ak.Array:
    """Electrons or muons: identification efficiency, then relative isolation against energy flow."""
    candidates = tracks[np.abs(tracks.columns["PID"]) == abs_pid]
    pt, eta = candidates.columns["PT"], candidates.columns["Eta"]
    efficiency = lepton_efficiency(np.full(len(pt), abs_pid), pt, eta)
    candidates = candidates[rng.random(len(pt)) < efficiency]
    delta_r_max, pt_min, ratio_max = ISOLATION[abs_pid]
    # Leptons are rare: pair each with the energy flow of its own event only.
    eflow_start = np.searchsorted(eflow.event, np.arange(n_events))
    eflow_count = np.bincount(eflow.event, minlength=n_events)
    per_candidate = eflow_count[candidates.event]
    pair_lepton = np.repeat(np.arange(len(candidates.event)), per_candidate)
    rank_in_event = np.arange(per_candidate.sum()) - np.repeat(np.cumsum(per_candidate) - per_candidate, per_candidate)
    pair_other = np.repeat(eflow_start[candidates.event], per_candidate) + rank_in_event
    other_pt = eflow.columns["pt"][pair_other]
    distance = delta_r(candidates.columns["Eta"][pair_lepton], candidates.columns["Phi"][pair_lepton],
                       eflow.columns["eta"][pair_other], eflow.columns["phi"][pair_other])
    # The lepton's own track is in the energy flow at distance zero: leave it out.
    near = (distance < delta_r_max) & (distance > 1e-9) & (other_pt > pt_min)
    isolation = np.bincount(pair_lepton[near], weights=other_pt[near], minlength=len(candidates.event)) / candidates.columns["PT"]
    isolated = candidates[isolation < ratio_max]
    columns = {field: isolated.columns[field] for field in ("PT", "Eta", "Phi", "Charge")}
    return FlatObjects(isolated.event, columns | {"IsolationVar": isolation[isolation < ratio_max]}).to_jagged(n_events)


def jet_energy_scale(pt, eta):
    """Delphes CMS card: sqrt((2.5 - 0.15 |eta|)^2 / pT + 1)."""
    return np.sqrt((2.5 - 0.15 * np.abs(eta)) ** 2 / pt + 1.0)


def raw_jet_pt_min(pt_min_gev: float, extra_scale: float = 1.0) -> float:
    """The lowest pT before the energy scale that can reach pt_min_gev after it (and after `extra_scale`).

    The scale raises pT to sqrt(pT^2 + c^2 pT) with c = 2.5 - 0.15 |eta| at most 2.5 (at eta = 0)."""
    target = pt_min_gev / extra_scale
    return 0.5 * (np.sqrt(2.5**4 + 4 * target**2) - 2.5**2) * (1 - 1e-9)


def _jets(eflow: FlatObjects, n_events, radius, pt_min_gev, fastjet, extra_scale: float = 1.0) -> ak.Array:
    """Anti-kt jets of the energy-flow objects (fastjet's multi-event clustering), pT-ordered."""
    pt, eta, phi, mass = (eflow.columns[field] for field in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    inputs = FlatObjects(eflow.event, {"px": px, "py": py, "pz": pz, "E": energy}).to_jagged(n_events, with_name="Momentum4D")
    sequence = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    # Jets that cannot pass the cut after the energy scale need not come back from fastjet.
    jets = FlatObjects.from_jagged(sequence.inclusive_jets(min_pt=raw_jet_pt_min(pt_min_gev, extra_scale)), ("px", "py", "pz", "E"))
    jet_px, jet_py, jet_pz, jet_energy = (jets.columns[field] for field in ("px", "py", "pz", "E"))
    jet_pt = np.hypot(jet_px, jet_py)
    jet_eta = np.arcsinh(jet_pz / jet_pt)
    scale = jet_energy_scale(jet_pt, jet_eta) * extra_scale
    p = np.sqrt(jet_pt**2 + jet_pz**2) * scale
    jet_pt, jet_energy = jet_pt * scale, jet_energy * scale
    columns = {"PT": jet_pt, "Eta": jet_eta, "Phi": np.arctan2(jet_py, jet_px), "Mass": np.sqrt(np.maximum(jet_energy**2 - p**2, 0.0))}
    passing = np.flatnonzero(jet_pt > pt_min_gev)
    order = passing[np.lexsort((-jet_pt[passing], jets.event[passing]))]
    return FlatObjects(jets.event, columns)[order].to_jagged(n_events)


def simulate_chunk(particles_path, output, jet_radius: float, global_seed: int, jet_energy_scale: float = 1.0) -> dict:
    """Particles Parquet -> Delphes-schema ROOT file for one chunk."""
    events, metadata = files.read_awkward(particles_path)
    missing = [key for key in ("sample", "chunk") if key not in metadata]
    if missing:  # the detector seed and the event numbers follow from them
        raise ValueError(f"{particles_path} lacks metadata {missing}: write particle files with generation.pythia")
    seed = derive_seed(global_seed, "detector", metadata["sample"], metadata["chunk"])
    first_event_number = metadata["chunk"] * metadata.get("n_events", len(events))
    collections = simulate(events, seed, jet_radius, first_event_number=first_event_number, jet_energy_scale=jet_energy_scale)
    provenance = metadata | {"detector_seed": seed, "jet_radius": jet_radius, "detector": "embedded CMS-like"}
    if jet_energy_scale != 1.0:
        provenance["jet_energy_scale"] = jet_energy_scale
    delphes_io.write_delphes_root(collections, output, provenance)
    return provenance


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.detector.simulation", description=__doc__.split("\n")[0])
    parser.add_argument("particles", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--jet-radius", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True, help="global seed")
    parser.add_argument("--jet-energy-scale", type=float, default=1.0, help="a factor on the card's jet energy scale")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    print(simulate_chunk(args.particles, args.output, args.jet_radius, args.seed, args.jet_energy_scale), flush=True)


if __name__ == "__main__":
    main()
