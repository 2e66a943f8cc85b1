"""Embedded generation: real Pythia events, chunk seeds, LHE showering and bad input."""

import gzip
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from workflow_scripts.core import files
from workflow_scripts.generation import cards, pythia

TEST_LHE = Path(__file__).resolve().parents[1] / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"


def write_card(path, sample):
    path.write_text(cards.render_card(cards.sample_settings(sample, 13000.0), path.stem))
    return path


@pytest.fixture(scope="module")
def qcd_card(tmp_path_factory):
    return write_card(tmp_path_factory.mktemp("qcd") / "qcd.cmnd",
                      {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000})


def test_same_seed_same_bytes_other_chunk_other_events(qcd_card, tmp_path):
    paths = [tmp_path / name for name in ("a.parquet", "b.parquet", "c.parquet")]
    for path, chunk in zip(paths, (0, 0, 1)):
        pythia.generate_chunk(qcd_card, path, "qcd_dijet", chunk, 5, global_seed=3, batch_size=5)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    first, metadata = files.read_awkward(paths[0])
    other, other_metadata = files.read_awkward(paths[2])
    assert metadata["seed"] != other_metadata["seed"]
    assert not np.array_equal(ak.to_numpy(first.pt_hat_gev), ak.to_numpy(other.pt_hat_gev))


def test_qcd_events_respect_phase_space_cuts_and_conserve_momentum(qcd_card, tmp_path):
    metadata = pythia.generate_chunk(qcd_card, tmp_path / "qcd.parquet", "qcd_dijet", 0, 20, global_seed=1, batch_size=10)
    events, _ = files.read_awkward(tmp_path / "qcd.parquet")
    assert len(events) == 20 and metadata["n_events"] == 20
    assert ak.all(events.pt_hat_gev >= 700) and ak.all(events.m_hat_gev >= 3000)
    particles = events.particles
    # Final state only, complete: transverse momenta balance and the energy is the collision energy.
    assert ak.all(abs(ak.sum(particles.px, axis=1)) < 1.0) and ak.all(abs(ak.sum(particles.py, axis=1)) < 1.0)
    assert ak.all(abs(ak.sum(particles.e, axis=1) - 13000.0) < 2.0)
    charged = particles[abs(particles.pid) == 211]
    assert ak.all(abs(charged.charge) == 1)
    assert 1e-1 < metadata["cross_section_pb"] < 1e4  # sigma(pT-hat > 700 GeV, m-hat > 3 TeV) is O(100) pb


def test_final_state_is_the_event_record_particle_by_particle(qcd_card):
    # The vectorised extraction against a plain loop over nextBatch's records, with Pythia's own charges.
    generator = pythia.configure_pythia(qcd_card, seed=8)
    charge_table = pythia.ChargeTable(generator.particleData)
    # Codes met earlier in a chunk: the table then grows by codes on either side of them.
    np.testing.assert_array_equal(charge_table(np.array([2212, -3122], dtype=np.int32)), [1.0, 0.0])
    for batch in (generator.nextBatch(2, "skip"), generator.nextBatch(3, "skip")):
        extracted = pythia.final_state(batch, charge_table).to_list()
        for record, particles in zip(batch["prt"].to_list(), extracted, strict=True):
            expected = [(p["id"], generator.particleData.charge(p["id"]), p["p"]["px"], p["p"]["py"], p["p"]["pz"], p["p"]["e"])
                        for p in record if p["status"] > 0]
            assert len(expected) == len(particles) > 100
            assert {pid for pid, *_ in expected} >= {22, 211, -211}
            for (pid, charge, *momentum), particle in zip(expected, particles):
                assert (particle["pid"], particle["charge"]) == (pid, charge)
                np.testing.assert_allclose([particle[c] for c in ("px", "py", "pz", "e")], momentum, rtol=1e-6, atol=1e-6)


def test_dark_shower_decays_fully_into_visible_hadrons(tmp_path):
    card = write_card(tmp_path / "hv.cmnd", {"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10})
    pythia.generate_chunk(card, tmp_path / "hv.parquet", "hv_id_lambda10", 0, 10, global_seed=1, batch_size=10)
    events, _ = files.read_awkward(tmp_path / "hv.parquet")
    # The hard process is the 5.5 TeV Z' (width 10 GeV).
    assert ak.all(abs(events.m_hat_gev - 5500) < 500)
    pid = abs(ak.flatten(events.particles.pid))
    assert not ak.any((pid > 4_900_000) & (pid < 4_910_000)), "dark hadrons must all decay"
    assert ak.mean(ak.num(events.particles)) > 200


def test_les_houches_events_are_showered_in_disjoint_chunks(tmp_path):
    card = write_card(tmp_path / "lhe.cmnd", {"process": "lhe", "lhe_file": str(TEST_LHE)})
    for chunk in (0, 1):
        metadata = pythia.generate_chunk(card, tmp_path / f"c{chunk}.parquet", "mg_jj", chunk, 4, 1, batch_size=4)
        assert metadata["n_events"] == 4
        assert metadata["cross_section_pb"] > 1e6  # p p > j j with ptj > 20 GeV
    first, _ = files.read_awkward(tmp_path / "c0.parquet")
    second, _ = files.read_awkward(tmp_path / "c1.parquet")
    # m-hat comes from the LHE record: chunk 1 starts at event 5 of the file.
    lhe_mhat = _lhe_parton_masses(TEST_LHE, 8)
    np.testing.assert_allclose(np.r_[ak.to_numpy(first.m_hat_gev), ak.to_numpy(second.m_hat_gev)], lhe_mhat, rtol=1e-3)


def _lhe_parton_masses(path, n_events):
    """Invariant mass of the outgoing partons of the first events, read straight from the LHE text."""
    masses, block = [], None
    for line in gzip.open(path, "rt"):
        if line.startswith("<event"):
            block = []
        elif line.startswith("</event>"):
            rows = [row.split() for row in block[1:]]
            outgoing = np.array([[float(v) for v in row[6:10]] for row in rows if row[1] == "1"])
            px, py, pz, e = outgoing.sum(axis=0)
            masses.append(np.sqrt(max(e**2 - px**2 - py**2 - pz**2, 0.0)))
            block = None
            if len(masses) == n_events:
                return np.array(masses)
        elif block is not None and not line.startswith("<"):
            block.append(line)
    raise AssertionError("not enough events in the LHE file")


def test_truncated_and_missing_les_houches_files_are_reported(tmp_path):
    truncated = tmp_path / "truncated.lhe.gz"
    truncated.write_bytes(TEST_LHE.read_bytes()[: TEST_LHE.stat().st_size // 2])
    card = write_card(tmp_path / "trunc.cmnd", {"process": "lhe", "lhe_file": str(truncated)})
    with pytest.raises(OSError, match="truncated.lhe.gz is truncated"):
        pythia.generate_chunk(card, tmp_path / "t.parquet", "t", 0, 2000, 1, batch_size=500)
    assert not (tmp_path / "t.parquet").exists()
    card = write_card(tmp_path / "missing.cmnd", {"process": "lhe", "lhe_file": str(tmp_path / "nowhere.lhe")})
    with pytest.raises(FileNotFoundError, match="nowhere.lhe does not exist"):
        pythia.generate_chunk(card, tmp_path / "m.parquet", "m", 0, 2, 1)
