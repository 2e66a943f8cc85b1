"""Embedded fast simulation and the Delphes ROOT contract: physics of hand-made and generated events."""

import time

import awkward as ak
import numpy as np
import pytest
import uproot

from workflow_scripts.core import files
from workflow_scripts.core.kinematics import delta_r
from workflow_scripts.detector import delphes_io, simulation
from workflow_scripts.generation import cards, pythia


def particle(pid, charge, pt, eta, phi, mass=0.0):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return {"pid": pid, "charge": float(charge), "px": px, "py": py, "pz": pz, "e": float(np.sqrt(px**2 + py**2 + pz**2 + mass**2))}


def events_of(*event_lists):
    return ak.Array([{"particles": list(event), "pt_hat_gev": 0.0, "m_hat_gev": 0.0} for event in event_lists])


def test_tracking_efficiency_and_resolution_follow_the_cms_card():
    pions = events_of(*[[particle(211, 1, 1000.0, 0.3, 1.0, 0.1396)]] * 2000)
    tracks = simulation.simulate(pions, seed=1, jet_radius=0.4)["EFlowTrack"]
    assert ak.mean(ak.num(tracks)) == pytest.approx(0.95, abs=0.015)
    # Delphes 3.5.1's card: charged hadrons sqrt(0.06^2 + (pT * 1.3e-3)^2) for |eta| <= 0.5, capped at 1.
    assert simulation.track_resolution(211, 10.0, 0.3) == pytest.approx(np.hypot(0.06, 0.013))
    assert simulation.track_resolution(211, 10.0, 2.0) == pytest.approx(np.hypot(0.25, 0.031))
    assert simulation.track_resolution(211, 1000.0, 0.3) == 1.0
    # Muons leave nothing in the calorimeters, so their tracks are never rescaled: the smearing shows as it is,
    # sqrt(0.01^2 + (pT * 1e-4)^2) = 0.0141 at 100 GeV in the central barrel.
    muons = events_of(*[[particle(13, -1, 100.0, 0.3, 1.0, 0.1057)]] * 2000)
    ratio = ak.to_numpy(ak.flatten(simulation.simulate(muons, seed=1, jet_radius=0.4)["EFlowTrack"].PT)) / 100.0
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.002)
    assert np.std(ratio) == pytest.approx(np.hypot(0.01, 0.01), rel=0.1)


def test_soft_charged_particles_bend_and_loopers_leave_through_the_endcap():
    # 3.8 T, R = 1.29 m: a 10 GeV track turns by 2 asin(R / 2r) with r = pT / (0.3 B) = 8.77 m, and its exit
    # point lies half of that behind its direction (clockwise for positive charge).
    eta, phi = simulation.calorimeter_entry(np.array([10.0, 10.0, 0.2, 10.0]), np.array([0.0, 0.0, 0.04, 0.0]), np.zeros(4),
                                          np.zeros(4), np.array([1.0, -1.0, 1.0, 0.0]))
    turn = 2 * np.arcsin(1.29 / (2 * 10.0 / (0.299792458 * 3.8)))
    assert phi[:2] == pytest.approx([-turn / 2, turn / 2])
    assert eta[:2] == pytest.approx([0.0, 0.0]) and phi[3] == 0.0 and eta[3] == 0.0
    # A 0.2 GeV track (2r = 0.35 m < R) cannot reach the barrel: it loops to the endcap and leaves it at
    # |eta| > asinh(3 m / 2r) = 2.84, where the card's tracking efficiency is zero, so it is never a track.
    assert abs(eta[2]) > 2.84
    loopers = events_of(*[[particle(211, 1, 0.2, 0.2, 1.0, 0.1396)]] * 300)
    assert ak.sum(ak.num(simulation.simulate(loopers, seed=5, jet_radius=0.4)["EFlowTrack"])) == 0
    straight = events_of(*[[particle(211, 1, 5.0, 0.2, 1.0, 0.1396)]] * 300)
    assert ak.mean(ak.num(simulation.simulate(straight, seed=5, jet_radius=0.4)["EFlowTrack"])) == pytest.approx(0.95, abs=0.04)


def test_tracks_are_rescaled_to_the_calorimeter_where_no_neutral_excess_is_significant():
    # A lone 200 GeV pion: the card's track resolution (26.7 %) is worse than the HCAL's (11.6 %). Where the tower
    # shows no significant excess over the track, Delphes replaces the track's pT by the resolution-weighted mean
    # of both, so the tracks measure the pion better than the tracker alone; where the excess is significant (a
    # track fluctuating low), a neutral hadron carries it, so tracks plus neutrals measure the pion without bias.
    pions = events_of(*[[particle(211, 1, 200.0, 0.3, 1.0, 0.1396)]] * 3000)
    result = simulation.simulate(pions, seed=6, jet_radius=0.4)
    tracked = ak.to_numpy(ak.num(result["EFlowTrack"]) == 1)
    ratio = ak.to_numpy(ak.flatten(result["EFlowTrack"].PT[tracked])) / 200.0
    own_resolution = simulation.track_resolution(211, 200.0, 0.3)
    assert own_resolution == pytest.approx(0.267, abs=0.001)
    assert np.std(ratio) < 0.8 * own_resolution
    total = ratio + ak.to_numpy(ak.sum(result["EFlowNeutralHadron"].ET[tracked], axis=1)) / 200.0
    assert np.median(total) == pytest.approx(1.0, abs=0.02)
    assert np.median(ratio) < 0.97  # the tracks alone are biased low: a low fluctuation leaves the tower significant


def test_missing_et_balances_an_invisible_neutrino():
    event = [particle(12, 0, 300.0, 0.5, 0.0), particle(22, 0, 300.0, -0.2, np.pi)]
    met = simulation.simulate(events_of(*[event] * 200), seed=2, jet_radius=0.4)["MissingET"]
    values = ak.to_numpy(ak.flatten(met.MET))
    assert np.median(values) == pytest.approx(300.0, rel=0.02)
    assert np.all(np.abs(np.cos(ak.to_numpy(ak.flatten(met.Phi)))) > 0.99)


def test_isolated_electron_is_found_and_one_inside_a_jet_is_not():
    lone = [particle(11, -1, 100.0, 0.2, 0.5, 0.000511)]
    in_jet = lone + [particle(211, 1, 30.0, 0.25, 0.55, 0.1396), particle(130, 0, 30.0, 0.15, 0.45, 0.4976)]
    result = simulation.simulate(events_of(*[lone] * 300, *[in_jet] * 300), seed=3, jet_radius=0.4)
    found = ak.to_numpy(ak.num(result["Electron"]))
    # tracking (0.99 above 100 GeV... 0.95 below) times identification (0.95)
    assert found[:300].mean() == pytest.approx(0.95 * 0.95, abs=0.05)
    assert found[300:].sum() == 0
    electron = result["Electron"][found.astype(bool)]
    assert ak.all(electron.Charge == -1) and ak.all(electron.IsolationVar < 0.12)


def test_calorimeter_only_jet_energy_is_calibrated():
    # A 500 GeV neutral hadron: HCAL resolution sqrt(0.05^2 + 1.5^2 / E) ~ 8.3 %, jet energy scale on top.
    jets = simulation.simulate(events_of(*[[particle(2112, 0, 500.0, 0.1, 0.0, 0.9396)]] * 400), seed=4, jet_radius=0.4)["Jet"]
    leading = ak.to_numpy(ak.fill_none(ak.firsts(jets.PT), 0.0))
    assert np.median(leading / 500.0) == pytest.approx(1.0, abs=0.03)
    assert 0.05 < np.std(leading / 500.0) < 0.13


def test_jets_soft_before_the_energy_scale_still_pass_the_cut_after_it():
    # fastjet hands back only jets above raw_jet_pt_min: nothing it drops may reach the cut once scaled.
    raw = simulation.raw_jet_pt_min(20.0)
    eta = np.linspace(-5, 5, 201)
    assert raw * simulation.jet_energy_scale(raw, 0.0) == pytest.approx(20.0, rel=1e-6) and raw < 18.0
    just_below = np.nextafter(raw, 0.0) * (1 - 1e-6)
    assert np.all(just_below * simulation.jet_energy_scale(just_below, eta) < 20.0)
    # An 18.5 GeV neutral hadron at eta = 0, smeared by the HCAL: about half its jets pass 20 GeV after the
    # scale (51 % here); cutting at 20 GeV before the scale would keep 31 %.
    jets = simulation.simulate(events_of(*[[particle(2112, 0, 18.5, 0.0, 0.0, 0.9396)]] * 400), seed=2, jet_radius=0.4)["Jet"]
    kept = ak.to_numpy(ak.num(jets) > 0)
    assert 0.42 < kept.mean() < 0.65 and ak.min(jets.PT) > 20.0


@pytest.fixture(scope="module")
def qcd_chunk(tmp_path_factory):
    directory = tmp_path_factory.mktemp("qcd")
    card = directory / "qcd.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000}, 13000.0), "qcd"))
    pythia.generate_chunk(card, directory / "particles.parquet", "qcd_dijet", 0, 40, global_seed=5, batch_size=20)
    simulation.simulate_chunk(directory / "particles.parquet", directory / "delphes.root", jet_radius=0.8, global_seed=5)
    return directory


def test_jet_response_is_close_to_one_at_high_pt(qcd_chunk):
    import fastjet

    events, _ = files.read_awkward(qcd_chunk / "particles.parquet")
    pid = abs(events.particles.pid)
    visible = events.particles[(pid != 12) & (pid != 14) & (pid != 16)]
    truth = fastjet.ClusterSequence(ak.zip({"px": visible.px, "py": visible.py, "pz": visible.pz, "E": visible.e}, with_name="Momentum4D"),
                                    fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8)).inclusive_jets(min_pt=500.0)
    truth_pt, truth_eta = np.hypot(truth.px, truth.py), np.arcsinh(truth.pz / np.hypot(truth.px, truth.py))
    truth_phi = np.arctan2(truth.py, truth.px)
    reco = delphes_io.read_collections(qcd_chunk / "delphes.root", {"Jet": ["PT", "Eta", "Phi"]})["Jet"]
    truth_jets = ak.zip({"pt": truth_pt, "eta": truth_eta, "phi": truth_phi})
    pairs = ak.cartesian({"truth": truth_jets, "reco": reco}, nested=True)
    distance = delta_r(pairs.truth.eta, pairs.truth.phi, pairs.reco.Eta, pairs.reco.Phi)
    nearest = ak.fill_none(ak.min(distance, axis=2), np.inf)
    reco_pt = ak.fill_none(ak.max(ak.where(distance == ak.min(distance, axis=2), pairs.reco.PT, -1.0), axis=2), -1.0)
    close = ak.to_numpy(ak.flatten(nearest < 0.3))
    response = (ak.to_numpy(ak.flatten(reco_pt)) / ak.to_numpy(ak.flatten(truth_jets.pt)))[close]
    assert len(response) > 40
    assert np.median(response) == pytest.approx(1.0, abs=0.03)


def test_written_file_has_delphes_structure(qcd_chunk):
    tree = uproot.open(qcd_chunk / "delphes.root")["Delphes"]
    for name in ("Jet_size", "Jet.PT", "Jet.Eta", "Jet.Phi", "Jet.Mass", "MissingET_size", "MissingET.MET", "EFlowTrack.PT",
                 "EFlowPhoton.ET", "EFlowNeutralHadron.ET", "Electron.PT", "Muon.PT"):
        assert name in tree, name
    assert ak.all(tree["MissingET_size"].array() == 1)
    assert ak.all(tree["Jet_size"].array() == ak.num(tree["Jet.PT"].array()))
    provenance = delphes_io.read_provenance(qcd_chunk / "delphes.root")
    assert provenance["sample"] == "qcd_dijet" and provenance["jet_radius"] == 0.8


def test_same_chunk_and_seed_give_a_byte_identical_root_file(qcd_chunk, tmp_path):
    """The file stores its final name (not atomic_output's temporary one), UUIDs derived from its content and fixed
    dates (not the time of writing), so a rerun writes the same bytes, as it does for Parquet and CSV."""
    outputs = [tmp_path / run / "delphes.root" for run in ("first", "second")]
    simulation.simulate_chunk(qcd_chunk / "particles.parquet", outputs[0], jet_radius=0.8, global_seed=5)
    time.sleep(1.01 - time.time() % 1)  # the second write in another second: ROOT's dates count seconds
    simulation.simulate_chunk(qcd_chunk / "particles.parquet", outputs[1], jet_radius=0.8, global_seed=5)
    content = outputs[0].read_bytes()
    assert content == outputs[1].read_bytes() == (qcd_chunk / "delphes.root").read_bytes()
    assert b"delphes.root" in content and b".part" not in content
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["delphes.root", "delphes.root", "first", "second"]
    with uproot.open(outputs[0]) as root_file:
        dates = {root_file.created_on, root_file.modified_on} | {root_file.key(name).created_on for name in root_file.iterkeys()}
        file_uuid = root_file.file.uuid
    assert dates == {delphes_io.ROOT_FILE_DATE}
    # Another seed, other content: another UUID.
    simulation.simulate_chunk(qcd_chunk / "particles.parquet", tmp_path / "other" / "delphes.root", jet_radius=0.8, global_seed=6)
    with uproot.open(tmp_path / "other" / "delphes.root") as root_file:
        assert root_file.file.uuid != file_uuid


def test_conversion_selects_and_keeps_leading_jet_constituents(qcd_chunk, tmp_path):
    selection = {"min_jets": 2, "n_leading_jets": 2, "leading_jet_pt_min_gev": 750, "leading_jet_abs_eta_max": 2.0}
    metadata = delphes_io.convert_file(qcd_chunk / "delphes.root", tmp_path / "events.parquet", selection, 0.8, "cwola_dijet")
    events, stored = files.read_awkward(tmp_path / "events.parquet")
    assert 0 < len(events) == metadata["n_selected"] == stored["n_selected"] < 40
    assert ak.all(events.jet_pt[:, 1] > 750) and ak.all(abs(events.jet_eta[:, :2]) < 2.0)
    assert ak.all(ak.num(events.jet_pt) <= 10) and ak.all(events.mjj_gev > 1500)
    # The constituents carry the jet: their scalar pT sum is the jet pT up to the jet energy scale.
    ratio = ak.sum(events.jet1_constituents.pt, axis=1) / events.jet_pt[:, 0]
    assert np.median(ak.to_numpy(ratio)) == pytest.approx(1.0, abs=0.03)
    assert set(np.unique(ak.to_numpy(ak.flatten(events.jet1_constituents["type"])))) <= {0, 1, 2}
    # The hard process travels through the Delphes Event branch: pT-hat and m-hat respect the generator cuts.
    assert ak.all(events.pt_hat_gev >= 700) and ak.all(events.m_hat_gev >= 2999)
    particles, _ = files.read_awkward(qcd_chunk / "particles.parquet")
    numbers = ak.to_numpy(events.event_number)
    np.testing.assert_allclose(ak.to_numpy(events.m_hat_gev), ak.to_numpy(particles.m_hat_gev)[numbers], rtol=1e-3)
    np.testing.assert_allclose(ak.to_numpy(events.pt_hat_gev), ak.to_numpy(particles.pt_hat_gev)[numbers], rtol=1e-5)


def test_constituents_of_events_with_one_jet_and_with_none(tmp_path):
    # Event 1: one hard neutral hadron and a soft one near it; event 2: two back-to-back ones; event 3: no jet.
    one_jet = [particle(2112, 0, 300.0, 0.2, 0.5, 0.9396), particle(2112, 0, 30.0, 0.4, 0.6, 0.9396)]
    two_jets = [particle(2112, 0, 300.0, 0.2, 0.5, 0.9396), particle(2112, 0, 300.0, -0.2, 0.5 - np.pi, 0.9396)]
    no_jet = [particle(12, 0, 300.0, 0.2, 0.5)]
    collections = simulation.simulate(events_of(one_jet, two_jets, no_jet), seed=3, jet_radius=0.8)
    delphes_io.write_delphes_root(collections, tmp_path / "few.root", {})
    events = delphes_io.convert(tmp_path / "few.root", {}, 0.8)
    assert ak.to_list(ak.num(events.jet_pt)) == [1, 2, 0]
    # Both deposits of the one-jet event belong to its jet; there is no second jet to give any to.
    assert ak.to_list(ak.num(events.jet1_constituents)) == [2, 1, 0]
    assert ak.to_list(ak.num(events.jet2_constituents)) == [0, 1, 0]
    assert ak.sum(events.jet1_constituents.pt[0]) == pytest.approx(events.jet_pt[0, 0], rel=0.1)


def test_no_event_passing_gives_an_empty_valid_file(qcd_chunk, tmp_path):
    metadata = delphes_io.convert_file(qcd_chunk / "delphes.root", tmp_path / "none.parquet", {"min_jets": 50}, 0.8, "impossible")
    events, _ = files.read_awkward(tmp_path / "none.parquet")
    assert len(events) == 0 and metadata["n_selected"] == 0


def test_empty_chunk_passes_detector_and_converter(tmp_path):
    empty = events_of([particle(2112, 0, 300.0, 0.2, 0.5, 0.9396)])[:0]
    files.write_awkward(empty, tmp_path / "particles.parquet", {"sample": "empty", "chunk": 0, "n_events": 0})
    simulation.simulate_chunk(tmp_path / "particles.parquet", tmp_path / "delphes.root", jet_radius=0.4, global_seed=1)
    metadata = delphes_io.convert_file(tmp_path / "delphes.root", tmp_path / "events.parquet", {}, 0.4, "any")
    events, _ = files.read_awkward(tmp_path / "events.parquet")
    assert metadata["n_selected"] == len(events) == 0


def test_lepton_veto_removes_events_with_an_isolated_lepton(tmp_path):
    muon_event = [particle(13, -1, 200.0, 0.3, 0.0, 0.1057), particle(2112, 0, 400.0, -0.5, 3.0, 0.9396)]
    quiet_event = [particle(2112, 0, 200.0, 0.3, 0.0, 0.9396), particle(2112, 0, 400.0, -0.5, 3.0, 0.9396)]
    collections = simulation.simulate(events_of(*[muon_event] * 50, *[quiet_event] * 50), seed=6, jet_radius=0.4)
    delphes_io.write_delphes_root(collections, tmp_path / "leptons.root", {})
    kept = delphes_io.convert(tmp_path / "leptons.root", {"lepton_veto": True}, 0.4)
    has_muon = ak.to_numpy(ak.num(collections["Muon"]) > 0)
    assert has_muon[:50].mean() > 0.85 and not has_muon[50:].any()
    assert len(kept) == 100 - has_muon.sum()


def test_truncated_root_file_is_reported(qcd_chunk, tmp_path):
    damaged = tmp_path / "damaged.root"
    data = (qcd_chunk / "delphes.root").read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match="damaged.root"):
        delphes_io.convert(damaged, {}, 0.8)


def test_missing_et_of_z_to_neutrinos_tracks_the_z_pt(tmp_path):
    card = tmp_path / "z.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "z_nunu_jet", "pt_hat_min_gev": 300}, 13000.0), "z"))
    pythia.generate_chunk(card, tmp_path / "z.parquet", "z_nunu_jet", 0, 60, global_seed=7, batch_size=30)
    events, metadata = files.read_awkward(tmp_path / "z.parquet")
    neutrinos = events.particles[(abs(events.particles.pid) == 12) | (abs(events.particles.pid) == 14) | (abs(events.particles.pid) == 16)]
    z_pt = np.hypot(ak.to_numpy(ak.sum(neutrinos.px, axis=1)), ak.to_numpy(ak.sum(neutrinos.py, axis=1)))
    met = ak.to_numpy(ak.flatten(simulation.simulate(events, seed=7, jet_radius=0.4)["MissingET"].MET))
    assert np.median(z_pt) > 300  # neutrinos of the Z recoil against the pT-hat > 300 GeV parton
    assert np.median(met / z_pt) == pytest.approx(1.0, abs=0.05)
    assert np.corrcoef(met, z_pt)[0, 1] > 0.9
    assert 0.1 < metadata["cross_section_pb"] < 100  # sigma(Z -> nu nu + jet, pT-hat > 300 GeV) is a few pb


def test_jet_definition_of_the_lhc_study_filters_stored_jets(qcd_chunk):
    events = delphes_io.convert(qcd_chunk / "delphes.root", {"jet_pt_min_gev": 40, "jet_abs_eta_max": 2.5, "min_jets": 1,
                                                              "met_min_gev": 0.0, "lepton_veto": True}, 0.8)
    jet_pt, jet_eta = ak.flatten(events.jet_pt), ak.flatten(events.jet_eta)
    assert len(jet_pt) > 0 and ak.all(jet_pt > 40) and ak.all(abs(jet_eta) < 2.5)
    assert ak.all(ak.num(events.jet_pt) <= 10) and ak.all(events.n_electrons + events.n_muons == 0)


def test_particle_file_without_sample_and_chunk_is_refused_naming_it(tmp_path):
    events = events_of([particle(2112, 0, 300.0, 0.2, 0.5, 0.9396)])
    files.write_awkward(events, tmp_path / "particles.parquet", {"n_events": 1})
    with pytest.raises(ValueError, match=r"particles.parquet lacks metadata \['sample', 'chunk'\]"):
        simulation.simulate_chunk(tmp_path / "particles.parquet", tmp_path / "delphes.root", jet_radius=0.4, global_seed=1)
    assert not (tmp_path / "delphes.root").exists()
