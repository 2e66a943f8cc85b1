"""HepMC3 output of the full Pythia record: readable by pyhepmc, same events as the Parquet, a sound graph."""

import numpy as np
import pytest

from workflow_scripts.core import files
from workflow_scripts.generation import cards, hepmc, pythia


def momentum(particle):
    return np.array([particle.momentum.px, particle.momentum.py, particle.momentum.pz, particle.momentum.e])


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hepmc")
    card = directory / "hv.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10},
                                                            13000.0), "hv"))
    pythia.generate_chunk(card, directory / "events.parquet", "hv", 0, 6, global_seed=2, batch_size=3,
                              hepmc_output=directory / "events.hepmc3")
    return hepmc.read_events(directory / "events.hepmc3"), files.read_awkward(directory / "events.parquet")[0]


def test_hepmc_holds_the_same_events_as_the_parquet(written):
    events, particles = written
    assert [event.event_number for event in events] == list(range(6))
    for event, record in zip(events, particles.particles):
        from_hepmc = hepmc.final_state_momenta(event)
        from_parquet = np.stack([np.asarray(record[name], dtype=float) for name in ("px", "py", "pz", "e")], axis=1)
        sort = lambda rows: rows[np.lexsort(rows.T)]  # noqa: E731
        np.testing.assert_allclose(sort(from_hepmc), sort(from_parquet), rtol=1e-5, atol=1e-3)


def test_graph_starts_at_two_beams_and_hadron_decays_conserve_momentum(written):
    events, _ = written
    for event in events:
        beams = [particle for particle in event.particles if particle.status == hepmc.BEAM_STATUS_HEPMC]
        assert len(beams) == 2 and all(momentum(beam)[3] == pytest.approx(6500.0) for beam in beams)
        # Every other particle descends from a vertex; the beams are the only roots.
        orphans = [p for p in event.particles if p.production_vertex is None or p.production_vertex.id == 0]
        assert {id(p) for p in orphans} == {id(p) for p in beams}
        final = sum(momentum(p) for p in event.particles if p.status == hepmc.FINAL_STATUS_HEPMC)
        np.testing.assert_allclose(final, [0, 0, 0, 13000.0], atol=1e-3)
        decays = [p for p in event.particles if p.status == hepmc.DECAYED_STATUS_HEPMC]
        assert decays
        for particle in decays:
            vertex = particle.end_vertex
            assert [incoming.id for incoming in vertex.particles_in] == [particle.id]
            np.testing.assert_allclose(sum(momentum(p) for p in vertex.particles_out), momentum(particle),
                                       atol=1e-3 * max(1.0, momentum(particle)[3]))


def test_pythia_mother_conventions():
    assert hepmc.mother_indices(0, 0, 23) == ()
    assert hepmc.mother_indices(5, 0, 91) == (5,) == hepmc.mother_indices(5, 5, 44)
    assert hepmc.mother_indices(7, 10, 83) == (7, 8, 9, 10)  # a string's primary hadron: the whole range
    assert hepmc.mother_indices(3, 4, 23) == (3, 4)  # a hard 2 -> n product: two mothers, not a range
    assert hepmc.mother_indices(12, 9, 73) == (12, 9)  # partons joined into one: two mothers
    assert hepmc.hepmc_status(-12, 2212) == 4 and hepmc.hepmc_status(1, 211) == 1
    assert hepmc.hepmc_status(-91, 111) == 2 and hepmc.hepmc_status(-91, 1) == 91  # a decayed quark is no hadron decay


def test_damaged_or_truncated_hepmc_file_is_named(tmp_path, written):
    broken = tmp_path / "broken.hepmc3"
    broken.write_text("HepMC::Version 3.02.06\nHepMC::Asciiv3-START_EVENT_LISTING\nE 0 nonsense\n"
                      "HepMC::Asciiv3-END_EVENT_LISTING\n")
    with pytest.raises(OSError, match="cannot parse event 0 of HepMC3 file .*broken.hepmc3"):
        hepmc.read_events(broken)
    truncated = tmp_path / "truncated.hepmc3"
    truncated.write_text("HepMC::Version 3.02.06\nHepMC::Asciiv3-START_EVENT_LISTING\nE 0 2 5\n")
    with pytest.raises(OSError, match="truncated.hepmc3 is truncated"):
        hepmc.read_events(truncated)
