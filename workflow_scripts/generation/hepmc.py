"""HepMC3 output of Pythia's full event record, for detector simulations outside this pipeline.

Pythia stores each particle's mothers as two indices with several meanings
(none; one mother; a contiguous range mother1..mother2 for hadrons from a
string; or two separate mothers, as for the products of a hard 2 -> n process
or partons joined in a ministring).  A HEPEVT range cannot express the last
case, so the graph is built directly, the way Pythia's own HepMC interface
does it.  This loops over particles in Python and is meant
for the optional HepMC3 files (tens of events per second), not the Parquet
hot path.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

BEAM_STATUS_HEPMC = 4
FINAL_STATUS_HEPMC = 1
DECAYED_STATUS_HEPMC = 2


def mother_indices(mother1: int, mother2: int, status: int) -> tuple[int, ...]:
    """Pythia's mother convention (its Particle:motherList) as an explicit tuple of record indices.

    Only primary hadrons (|status| 81-86) and R-hadrons (101-106) have a range
    of mothers; any other pair of distinct indices means exactly two mothers.
    """
    if mother1 <= 0 and mother2 <= 0:
        return ()
    if mother2 <= 0 or mother2 == mother1:
        return (mother1,)
    if mother2 > mother1 and (81 <= abs(status) <= 86 or 101 <= abs(status) <= 106):
        return tuple(range(mother1, mother2 + 1))
    return (mother1, mother2)


def hepmc_status(pythia_status: int, pid: int) -> int:
    """HepMC3 convention (as Pythia's statusHepMC): 4 beam, 1 final state, 2 a hadron or tau/mu that decayed
    normally; every other entry keeps Pythia's own |status| (11-199, generator-specific in HepMC3)."""
    if pythia_status == -12:
        return BEAM_STATUS_HEPMC
    if pythia_status > 0:
        return FINAL_STATUS_HEPMC
    code = abs(pid)
    # Hadrons have |pid| >= 100 with a nonzero quark digit before the spin digit; diquarks (e.g. 2101) have not.
    hadron = code >= 100 and (code // 10) % 10 != 0 and code < 1_000_000
    if 81 <= -pythia_status <= 99 and (hadron or code in (13, 15)):
        return DECAYED_STATUS_HEPMC
    return abs(pythia_status)


def to_gen_event(record, event_number: int):
    """One event of a nextBatch result (its `prt` list) as a pyhepmc.GenEvent; entry 0 (the system) dropped."""
    import pyhepmc

    fields = {name: ak.to_numpy(record[name]) for name in ("id", "status", "mother1", "mother2", "m")}
    momentum = {name: ak.to_numpy(record["p"][name]) for name in ("px", "py", "pz", "e")}
    event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
    event.event_number = event_number
    particles = {}
    for index in range(1, len(fields["id"])):
        particle = pyhepmc.GenParticle(
            pyhepmc.FourVector(momentum["px"][index], momentum["py"][index], momentum["pz"][index], momentum["e"][index]),
            int(fields["id"][index]), hepmc_status(int(fields["status"][index]), int(fields["id"][index])))
        particle.generated_mass = float(fields["m"][index])
        particles[index] = particle
    # As Pythia's own HepMC interface: a particle is produced in the end vertex of the first of its mothers
    # that already has one (or a new vertex), which its mothers without an end vertex then enter.
    end_vertices = {}  # record index -> vertex position
    incoming, outgoing = [], []
    for index in range(1, len(fields["id"])):
        mothers = mother_indices(int(fields["mother1"][index]), int(fields["mother2"][index]), int(fields["status"][index]))
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
    # Readers need every particle's production vertex before the vertex it enters: add them parents first.
    for vertex in _parents_first(incoming, outgoing):
        gen_vertex = pyhepmc.GenVertex()
        for mother in incoming[vertex]:
            gen_vertex.add_particle_in(particles[mother])
        for child in outgoing[vertex]:
            gen_vertex.add_particle_out(particles[child])
        event.add_vertex(gen_vertex)
    return event


def _parents_first(incoming, outgoing) -> list[int]:
    """Vertex positions ordered so that each vertex comes after the vertices producing its incoming particles."""
    produced_in = {child: vertex for vertex, children in enumerate(outgoing) for child in children}
    waiting_on = [{produced_in[m] for m in mothers if m in produced_in} - {vertex} for vertex, mothers in enumerate(incoming)]
    feeds = [[] for _ in incoming]
    for vertex, parents in enumerate(waiting_on):
        for parent in parents:
            feeds[parent].append(vertex)
    ready = [vertex for vertex, parents in enumerate(waiting_on) if not parents]
    order = []
    while ready:
        vertex = ready.pop()
        order.append(vertex)
        for child in feeds[vertex]:
            waiting_on[child].discard(vertex)
            if not waiting_on[child]:
                ready.append(child)
    if len(order) != len(incoming):
        raise ValueError("the event record's mother links form a cycle; cannot write it as HepMC3")
    return order


class BatchWriter:
    """Receives nextBatch results and appends their events to an open pyhepmc writer, numbered from 0."""

    def __init__(self, writer):
        self.writer = writer
        self.count = 0

    def __call__(self, batch) -> None:
        for record in batch["prt"]:
            self.writer.write(to_gen_event(record, self.count))
            self.count += 1


def count_events(path) -> int:
    """Events of a HepMC3 ASCII file, in one pass; a file cut short (no END_EVENT_LISTING) is an error naming it."""
    declared, last_line = 0, b""
    try:
        with open(path, "rb") as stream:
            for line in stream:
                declared += line.startswith(b"E ")
                last_line = line if line.strip() else last_line
    except OSError as error:
        raise OSError(f"cannot read HepMC3 file {path}: {error}") from error
    if b"END_EVENT_LISTING" not in last_line:
        raise OSError(f"HepMC3 file {path} is truncated: it ends without its END_EVENT_LISTING line")
    return declared


def read_events(path) -> list:
    """Every event of a HepMC3 ASCII file; a damaged or truncated file is an error naming it."""
    import pyhepmc

    path = str(path)
    declared = count_events(path)
    with pyhepmc.open(path) as reader:
        events = list(reader)
    # pyhepmc reports a parse failure as an empty or missing event rather than an exception.
    parsed = [event for event in events if len(event.particles) > 0]
    if len(parsed) != declared:
        raise OSError(f"cannot parse event {len(parsed)} of HepMC3 file {path} ({declared} events in the file)")
    return events


def final_state_momenta(event) -> np.ndarray:
    """(n, 4) px, py, pz, e of the status-1 particles of a GenEvent, in record order."""
    return np.array([[p.momentum.px, p.momentum.py, p.momentum.pz, p.momentum.e]
                     for p in event.particles if p.status == FINAL_STATUS_HEPMC]).reshape(-1, 4)
