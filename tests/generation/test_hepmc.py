"""HepMC3 output of the full Pythia record: readable by pyhepmc, same events as the Parquet, a sound graph,
and byte for byte the text that building each GenEvent particle by particle and writing it with pyhepmc gives."""

import awkward as ak
import numpy as np
import pytest

from workflow_scripts.core import files
from workflow_scripts.generation import cards, hepmc, pythia

SAMPLES = {"hv": {"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10},
           "qcd": {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000}}


# The reference: the graph built particle by particle with pyhepmc objects, written by HepMC3's WriterAscii.
# It is what the library did before it wrote the text from arrays; slow (tens of ms an event), so kept here.

def reference_mothers(mother1: int, mother2: int, status: int) -> tuple[int, ...]:
    if mother1 <= 0 and mother2 <= 0:
        return ()
    if mother2 <= 0 or mother2 == mother1:
        return (mother1,)
    if mother2 > mother1 and (81 <= abs(status) <= 86 or 101 <= abs(status) <= 106):
        return tuple(range(mother1, mother2 + 1))
    return (mother1, mother2)


def reference_status(pythia_status: int, pid: int) -> int:
    if pythia_status == -12:
        return 4
    if pythia_status > 0:
        return 1
    code = abs(pid)
    hadron = code >= 100 and (code // 10) % 10 != 0 and code < 1_000_000
    if 81 <= -pythia_status <= 99 and (hadron or code in (13, 15)):
        return 2
    return abs(pythia_status)


def reference_gen_event(record, event_number: int):
    import pyhepmc

    fields = {name: ak.to_numpy(record[name]) for name in ("id", "status", "mother1", "mother2", "m")}
    momentum = {name: ak.to_numpy(record["p"][name]) for name in ("px", "py", "pz", "e")}
    event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
    event.event_number = event_number
    particles = {}
    for index in range(1, len(fields["id"])):
        particle = pyhepmc.GenParticle(
            pyhepmc.FourVector(momentum["px"][index], momentum["py"][index], momentum["pz"][index], momentum["e"][index]),
            int(fields["id"][index]), reference_status(int(fields["status"][index]), int(fields["id"][index])))
        particle.generated_mass = float(fields["m"][index])
        particles[index] = particle
    # A particle is produced in the end vertex of the first of its mothers that already has one (or a new
    # vertex), which its mothers without an end vertex then enter.
    end_vertices, incoming, outgoing = {}, [], []
    for index in range(1, len(fields["id"])):
        mothers = reference_mothers(int(fields["mother1"][index]), int(fields["mother2"][index]),
                                    int(fields["status"][index]))
        if not mothers:
            continue
        vertex = next((end_vertices[mother] for mother in mothers if mother in end_vertices), None)
        if vertex is None:
            vertex = len(incoming)
            incoming.append([])
            outgoing.append([])
        for mother in mothers:
            if mother not in end_vertices:
                incoming[vertex].append(mother)
                end_vertices[mother] = vertex
        outgoing[vertex].append(index)
    # Vertices parents first: Kahn's algorithm with a stack.
    produced_in = {child: vertex for vertex, children in enumerate(outgoing) for child in children}
    waiting_on = [{produced_in[m] for m in mothers if m in produced_in} - {vertex} for vertex, mothers in enumerate(incoming)]
    feeds = [[] for _ in incoming]
    for vertex, parents in enumerate(waiting_on):
        for parent in parents:
            feeds[parent].append(vertex)
    ready = [vertex for vertex, parents in enumerate(waiting_on) if not parents]
    while ready:
        vertex = ready.pop()
        gen_vertex = pyhepmc.GenVertex()
        for mother in incoming[vertex]:
            gen_vertex.add_particle_in(particles[mother])
        for child in outgoing[vertex]:
            gen_vertex.add_particle_out(particles[child])
        event.add_vertex(gen_vertex)
        for child in feeds[vertex]:
            waiting_on[child].discard(vertex)
            if not waiting_on[child]:
                ready.append(child)
    assert len(event.vertices) == len(incoming)
    return event


def card_for(directory, name):
    card = directory / f"{name}.cmnd"
    card.write_text(cards.render_card(cards.sample_settings(SAMPLES[name], 13000.0), name))
    return card


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def batches(request, tmp_path_factory):
    """Real Pythia events of each sample, as nextBatch results of unequal sizes."""
    generator = pythia.configure_pythia(card_for(tmp_path_factory.mktemp("cards"), request.param), seed=7)
    return request.param, [generator.nextBatch(size, "skip") for size in (2, 1)]


def test_text_is_byte_identical_to_the_particle_by_particle_graph_written_by_pyhepmc(batches, tmp_path):
    import pyhepmc

    name, pieces = batches
    new, old = tmp_path / "arrays.hepmc3", tmp_path / "reference.hepmc3"
    with hepmc.AsciiWriter(new) as writer:
        for batch in pieces:
            writer(batch)
    records = [record for batch in pieces for record in batch["prt"]]
    with pyhepmc.open(old, "w") as writer:
        for number, record in enumerate(records):
            writer.write(reference_gen_event(record, number))
    assert new.read_bytes() == old.read_bytes(), f"{name}: the HepMC3 text differs from the reference"
    events = hepmc.read_events(new)
    assert len(events) == 3 and hepmc.count_events(new) == 3
    # Physics, not only bytes: every Pythia final-state particle once, in record order, with its momentum.
    for event, record in zip(events, records):
        final = ak.to_numpy(record["status"]) > 0
        expected = np.stack([ak.to_numpy(record["p"][c])[final] for c in ("px", "py", "pz", "e")], axis=1)
        written = hepmc.final_state_momenta(event)
        np.testing.assert_array_equal(written[np.lexsort(written.T)], expected[np.lexsort(expected.T)])
        assert sorted(p.pid for p in event.particles if p.status == 1) == sorted(ak.to_numpy(record["id"])[final])


def test_numbers_are_printed_as_printf_percent_16e_does():
    # Ties to even (2**-25 has 18 significant digits ending in 5), signed zeros, powers of ten, a rounding
    # that carries into the exponent, exponents of three digits, subnormals, and ordinary momenta.
    rng = np.random.default_rng(3)
    special = [0.0, -0.0, 2.0 ** -25, -(2.0 ** -25), 1.0, 10.0, 1e-5, 1e22, 1e23, 9.999999999999999e5,
               0.1, 6500.0, -6499.999932280723, 1e-300, -1e300, 5e-324, 2.2250738585072014e-308, 1.8e-15, 3e250]
    values = np.r_[special, rng.normal(0, 300, 2000), rng.normal(0, 1, 2000) * 10.0 ** rng.integers(-20, 20, 2000)]
    chars, mask = hepmc._float_text(values)
    assert [bytes(row[used]).decode() for row, used in zip(chars, mask)] == ["%.16e" % value for value in values]
    ints = np.array([0, -1, 7, -10, 123456789, -2**31, 2**40])
    chars, mask = hepmc._int_text(ints)
    assert [bytes(row[used]).decode() for row, used in zip(chars, mask)] == [str(value) for value in ints]


def test_vertex_order_is_parents_first_with_the_last_parent_deciding():
    # Vertex 0 feeds 1 and 2; vertex 3 waits for both 1 and 2; 4 hangs under 2.  A stack takes the largest
    # ready vertex first: 0, 2, 4, then 1 (which makes 3 ready), 3.
    parent, child = np.array([0, 0, 1, 2, 2]), np.array([1, 2, 3, 3, 4])
    position = hepmc._parents_first(5, np.zeros(5, dtype=np.int64), 1, parent, child)
    assert list(np.argsort(position)) == [0, 2, 4, 1, 3]
    with pytest.raises(ValueError, match="cycle"):
        hepmc._parents_first(3, np.zeros(3, dtype=np.int64), 1, np.array([0, 1, 2]), np.array([1, 2, 1]))


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
    mother1, mother2 = np.array([0, 5, 5, 7, 3, 12]), np.array([0, 0, 5, 10, 4, 9])
    status = np.array([23, 91, 44, 83, 23, 73])
    entry, mother = hepmc.mother_links(mother1, mother2, status)
    links = [tuple(int(m) for m in mother[entry == index]) for index in range(len(status))]
    assert links == [reference_mothers(a, b, c) for a, b, c in zip(mother1, mother2, status)]
    assert links == [(), (5,), (5,), (7, 8, 9, 10), (3, 4), (12, 9)]  # a string's hadron: a range; else two
    pythia_status, pid = np.array([-12, 1, -91, -91, -84, -62]), np.array([2212, 211, 111, 1, 13, 2101])
    assert list(hepmc.hepmc_status(pythia_status, pid)) == [4, 1, 2, 91, 2, 62]  # a decayed quark: no hadron


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
