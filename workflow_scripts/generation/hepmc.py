"""HepMC3 output of Pythia's full event record, for detector simulations outside this pipeline.

Pythia stores each particle's mothers as two indices with several meanings
(none; one mother; a contiguous range mother1..mother2 for hadrons from a
string; or two separate mothers, as for the products of a hard 2 -> n process
or partons joined in a ministring).  A HEPEVT range cannot express the last
case, so the graph is built from the explicit mother links, the way Pythia's
own HepMC interface does it: a particle is produced in the end vertex of its
mothers, which all enter that one vertex.  (Mothers that already ended in two
different vertices would make those one vertex; the particle-by-particle
construction this replaced left them apart and dropped a mother link.  Pythia
records have not shown the case.)

Everything works on whole nextBatch results with numpy and scipy's compiled graph
searches (no loop over particles or vertices in Python) and writes the HepMC3 ASCII text itself, byte for byte
what HepMC3's WriterAscii (through pyhepmc) writes for the same graph: the same
particle and vertex numbering, implicit single-mother vertices, sorted incoming
lists and ``%.16e`` numbers.  That is the format DelphesHepMC3 reads.
"""

from __future__ import annotations

from fractions import Fraction

import awkward as ak
import numpy as np

BEAM_STATUS_HEPMC = 4
FINAL_STATUS_HEPMC = 1
DECAYED_STATUS_HEPMC = 2

# The version line WriterAscii (pyhepmc's HepMC3) puts first; readers only check the listing lines.
HEADER = b"HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\n"
FOOTER = b"HepMC::Asciiv3-END_EVENT_LISTING\n\n"


def hepmc_status(pythia_status: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """HepMC3 convention (as Pythia's statusHepMC): 4 beam, 1 final state, 2 a hadron or tau/mu that decayed
    normally; every other entry keeps Pythia's own |status| (11-199, generator-specific in HepMC3)."""
    code = np.abs(pid)
    # Hadrons have |pid| >= 100 with a nonzero quark digit before the spin digit; diquarks (e.g. 2101) have not.
    hadron = (code >= 100) & ((code // 10) % 10 != 0) & (code < 1_000_000)
    decayed = (-pythia_status >= 81) & (-pythia_status <= 99) & (hadron | (code == 13) | (code == 15))
    return np.select([pythia_status == -12, pythia_status > 0, decayed],
                     [BEAM_STATUS_HEPMC, FINAL_STATUS_HEPMC, DECAYED_STATUS_HEPMC], np.abs(pythia_status))


def mother_links(mother1: np.ndarray, mother2: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pythia's mother convention (its Particle:motherList) as explicit links: (entry, mother), ordered by entry
    and, within an entry, in motherList order.  Only primary hadrons (|status| 81-86) and R-hadrons (101-106)
    have a range of mothers; any other pair of distinct indices means exactly two mothers."""
    code = np.abs(status)
    none = (mother1 <= 0) & (mother2 <= 0)
    one = ~none & ((mother2 <= 0) | (mother2 == mother1))
    ranged = ~none & ~one & (mother2 > mother1) & (((code >= 81) & (code <= 86)) | ((code >= 101) & (code <= 106)))
    count = np.select([none, one, ranged], [0, 1, mother2 - mother1 + 1], 2)
    entry = np.repeat(np.arange(len(status)), count)
    rank = np.arange(len(entry)) - np.repeat(np.cumsum(count) - count, count)
    mother = np.where(ranged[entry] | (rank == 0), mother1[entry] + rank * ranged[entry], mother2[entry])
    return entry, mother


def _components(n_particles: int, child: np.ndarray, mother: np.ndarray) -> np.ndarray:
    """Vertex of each link: a child's production vertex is its mothers' end vertex, so links sharing a child
    or a mother share a vertex (connected components over production and end slots of the particles)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    size = 2 * n_particles
    graph = coo_matrix((np.ones(len(child), dtype=np.int8), (child, n_particles + mother)), shape=(size, size))
    return connected_components(graph, directed=False)[1][child]


def _parents_first(n_vertices: int, vertex_event: np.ndarray, n_events: int, parent: np.ndarray,
                   child: np.ndarray) -> np.ndarray:
    """Position of each vertex in a parents-first order of each event's vertices, events one after another.

    The order is that of Kahn's algorithm with a stack (roots and the children a vertex makes ready taken
    largest creation index first), which is a depth-first preorder of the tree that hangs each vertex under
    its parent that comes last.  Starting from any choice of parents, recomputing the preorder and the
    choice reaches that order (each round fixes at least the next position), with scipy's compiled
    depth-first search doing the work of each round.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import depth_first_order

    # Node labels: vertex v is n_vertices-1-v, so that ascending labels visit children largest index first;
    # then one node per event (its roots hang under it) and one top node over the events, in event order.
    top = n_vertices + n_events
    by_child = np.lexsort((parent, child))
    child, parent = child[by_child], parent[by_child]
    has_parent = np.zeros(n_vertices, dtype=bool)
    has_parent[child] = True
    last_of_child = np.r_[child[1:] != child[:-1], True] if len(child) else np.zeros(0, dtype=bool)
    tree_parent = np.where(has_parent, 0, n_vertices + vertex_event)
    tree_parent[child[last_of_child]] = n_vertices - 1 - parent[last_of_child]
    vertex_nodes = n_vertices - 1 - np.arange(n_vertices)
    position = np.empty(top + 1, dtype=np.int64)
    for _ in range(n_vertices + 1):
        rows = np.r_[tree_parent, np.full(n_events, top)]
        columns = np.r_[vertex_nodes, n_vertices + np.arange(n_events)]
        order = np.lexsort((columns, rows))
        indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=top + 1))]
        graph = csr_matrix((np.ones(len(rows), dtype=np.int8), columns[order], indptr), shape=(top + 1, top + 1))
        visited = depth_first_order(graph, top, directed=True, return_predecessors=False)
        if len(visited) != top + 1:
            break  # a vertex that no root reaches lies on a cycle
        position[visited] = np.arange(top + 1)
        # Each vertex under whichever of its parents comes last in this order.
        parent_position = position[n_vertices - 1 - parent]
        latest = np.lexsort((parent_position, child))
        chosen = np.r_[child[latest][1:] != child[latest][:-1], True] if len(child) else np.zeros(0, dtype=bool)
        new_parent = tree_parent.copy()
        new_parent[child[latest][chosen]] = n_vertices - 1 - parent[latest][chosen]
        if np.array_equal(new_parent, tree_parent):
            return position[vertex_nodes]
        tree_parent = new_parent
    raise ValueError("the event record's mother links form a cycle; cannot write it as HepMC3")


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """ASCII codes of the `width` lowest decimal digits of non-negative integers, most significant first."""
    chars = np.empty((len(values), width), dtype=np.uint8)
    for column in range(width - 1, -1, -1):  # one pass per digit; numpy divides by a scalar quickly
        quotient = values // 10
        chars[:, column] = values - quotient * 10 + ord("0")
        values = quotient
    return chars


def _int_text(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """printf %i of integers: a (n, w) character block and the mask of its characters in use."""
    values = np.asarray(values, dtype=np.int64)
    magnitude = np.abs(values)
    width = len(str(int(magnitude.max(initial=0))))
    n_digits = np.ones(len(values), dtype=np.int64)
    for power in range(1, width):
        n_digits += magnitude >= 10 ** power
    chars = np.concatenate([np.full((len(values), 1), ord("-"), dtype=np.uint8), _digits(magnitude, width)], axis=1)
    mask = np.concatenate([(values < 0)[:, None], np.arange(width) >= width - n_digits[:, None]], axis=1)
    return chars, mask


def _powers_of_ten(low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """10**s for s in [low, high] as unevaluated sums hi + lo of two doubles (exact to about 2**-106)."""
    exact = [Fraction(10) ** s for s in range(low, high + 1)]
    high_part = np.array([float(value) for value in exact])
    return high_part, np.array([float(value - Fraction(part)) for value, part in zip(exact, high_part)])


_SCALE_LOW, _SCALE_HIGH = -300, 300
_SCALE_HI, _SCALE_LO = _powers_of_ten(_SCALE_LOW, _SCALE_HIGH)
_FLOAT_WIDTH = 24  # "-d.<16 digits>e-ddd"


def _split(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scaled = 134217729.0 * value  # 2**27 + 1: Dekker's split into two 26-bit halves
    high = scaled - (scaled - value)
    return high, value - high


def _float_text(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """printf %.16e of doubles (correctly rounded, as C and Python both do): a character block and its mask.

    The 17 significant digits come from |x| * 10**(16-k) as an exact product of two doubles (Dekker) plus a
    correction far below one unit; a value whose rounding this cannot decide (within 1e-7 of a tie, an
    exponent guess off by one) or that lies outside 1e-280..1e280 is formatted by Python instead.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    magnitude = np.abs(values)
    fast = np.isfinite(magnitude) & (magnitude >= 1e-280) & (magnitude < 1e280)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.where(fast, np.floor(np.log10(np.where(fast, magnitude, 1.0))), 0).astype(np.int64)
    scale = np.clip(16 - exponent, _SCALE_LOW, _SCALE_HIGH) - _SCALE_LOW
    scale_hi, scale_lo = _SCALE_HI[scale], _SCALE_LO[scale]
    x = np.where(fast, magnitude, 0.0)
    product = x * scale_hi
    (x_high, x_low), (s_high, s_low) = _split(x), _split(scale_hi)
    error = ((x_high * s_high - product) + x_high * s_low + x_low * s_high) + x_low * s_low
    whole = np.floor(product)
    remainder = (product - whole) + (error + x * scale_lo)
    fraction = remainder - np.floor(remainder)
    significand = whole.astype(np.int64) + np.floor(remainder + 0.5).astype(np.int64)
    fast &= (np.abs(fraction - 0.5) > 1e-7) & (significand >= 10 ** 16) & (significand < 10 ** 17)
    zero = magnitude == 0
    significand = np.where(fast, significand, 0)
    exponent = np.where(fast, exponent, 0)
    digits = _digits(significand, 17)
    exponent_digits = _digits(np.abs(exponent), 3)
    wide_exponent = np.abs(exponent) >= 100
    chars = np.empty((n, _FLOAT_WIDTH), dtype=np.uint8)
    chars[:, 0] = ord("-")
    chars[:, 1] = digits[:, 0]
    chars[:, 2] = ord(".")
    chars[:, 3:19] = digits[:, 1:]
    chars[:, 19] = ord("e")
    chars[:, 20] = np.where(exponent < 0, ord("-"), ord("+"))
    chars[:, 21:24] = np.where(wide_exponent[:, None], exponent_digits, np.roll(exponent_digits, -1, axis=1))
    mask = np.ones((n, _FLOAT_WIDTH), dtype=bool)
    mask[:, 0] = np.signbit(values)
    mask[:, 23] = wide_exponent
    slow = np.flatnonzero(~fast & ~zero)
    if len(slow):
        texts = [b"%.16e" % value for value in values[slow].tolist()]
        chars[slow] = np.frombuffer(b"".join(text.ljust(_FLOAT_WIDTH) for text in texts),
                                    dtype=np.uint8).reshape(-1, _FLOAT_WIDTH)
        mask[slow] = np.arange(_FLOAT_WIDTH) < np.array([len(text) for text in texts])[:, None]
    return chars, mask


def _literal(text: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    chars = np.frombuffer(text, dtype=np.uint8)
    return np.broadcast_to(chars, (n, len(chars))), np.ones((n, len(chars)), dtype=bool)


def _lines(*fields) -> tuple[np.ndarray, np.ndarray]:
    """Rows of text from blocks of (characters, mask): the characters in use, row after row, and each row's length."""
    chars = np.concatenate([block for block, _ in fields], axis=1)
    mask = np.concatenate([used for _, used in fields], axis=1)
    return chars[mask], mask.sum(axis=1)


def _gather(pieces: list[tuple[np.ndarray, np.ndarray]], order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of all pieces (each the result of _lines), put in `order` (indices into their concatenation):
    their characters and the length of each row."""
    text = np.concatenate([chars for chars, _ in pieces])
    lengths = np.concatenate([row_lengths for _, row_lengths in pieces])
    starts = np.cumsum(lengths) - lengths
    lengths = lengths[order]
    shift = np.repeat(starts[order] - (np.cumsum(lengths) - lengths), lengths)
    return text[np.arange(len(shift)) + shift], lengths


def events_text(record, first_event_number: int = 0) -> bytes:
    """HepMC3 ASCII text (E lines onward) of the events of a nextBatch result's full record (its `prt` list),
    numbered from `first_event_number`; entry 0 of each event (the system) is left out."""
    n_events = len(record)
    entries = ak.to_numpy(ak.num(record)).astype(np.int64)
    offsets = np.cumsum(entries) - entries
    column = {name: ak.to_numpy(ak.flatten(record[name])).astype(np.int64)
              for name in ("id", "status", "mother1", "mother2")}
    momentum = {name: ak.to_numpy(ak.flatten(record["p"][name])) for name in ("px", "py", "pz", "e")}
    mass = ak.to_numpy(ak.flatten(record["m"]))
    n = len(column["id"])
    event = np.repeat(np.arange(n_events), entries)
    local = np.arange(n) - offsets[event]

    # Links child -> mother in (child, motherList) order, over the batch's global indices.
    child, mother = mother_links(column["mother1"], column["mother2"], column["status"])
    inside = local[child] > 0
    child, mother = child[inside], mother[inside]
    bad = (mother < 1) | (mother >= entries[event[child]])
    if bad.any():
        first = np.flatnonzero(bad)[0]
        raise ValueError(f"event {first_event_number + event[child[first]]}: entry {local[child[first]]} "
                         f"has mother {mother[first]} outside the record")
    mother = mother + offsets[event[child]]

    # Vertices numbered in order of creation: by their first produced particle (links are in child order).
    component = _components(n, child, mother)
    _, first_link, link_vertex = np.unique(component, return_index=True, return_inverse=True)
    creation = np.argsort(np.argsort(first_link))
    link_vertex = creation[link_vertex]
    n_vertices = len(first_link)
    vertex_event = event[child[np.sort(first_link)]]
    production = np.full(n, -1)
    production[child] = link_vertex
    # A mother enters the vertex at its first link; incoming particles keep that order.
    incoming, first_as_mother = np.unique(mother, return_index=True)
    incoming_vertex = link_vertex[first_as_mother]
    incoming_order = np.lexsort((first_as_mother, incoming_vertex))
    incoming, incoming_vertex = incoming[incoming_order], incoming_vertex[incoming_order]

    # Vertex graph: a vertex waits for the vertices producing its incoming particles (other than itself).
    parent_vertex = production[incoming]
    edge = (parent_vertex >= 0) & (parent_vertex != incoming_vertex)
    edges = np.unique(np.stack([incoming_vertex[edge], parent_vertex[edge]], axis=1), axis=0).reshape(-1, 2)
    vertex_position = _parents_first(n_vertices, vertex_event, n_events, edges[:, 1], edges[:, 0])
    vertex_rank = np.empty(n_vertices, dtype=np.int64)
    by_position = np.argsort(vertex_position)
    vertex_start = np.searchsorted(vertex_event[by_position], np.arange(n_events))
    vertex_rank[by_position] = np.arange(n_vertices) - vertex_start[vertex_event[by_position]]

    # Particles numbered as HepMC3's GenEvent::add_vertex does, vertex after vertex: incoming particles not yet
    # in the event, then the outgoing ones.
    produced = np.flatnonzero(production >= 0)
    candidates = np.r_[incoming, produced]
    keys = (np.r_[vertex_position[incoming_vertex], vertex_position[production[produced]]],
            np.r_[np.zeros(len(incoming), dtype=np.int64), np.ones(len(produced), dtype=np.int64)],
            np.r_[np.arange(len(incoming)), produced])
    appearance = candidates[np.lexsort(keys[::-1])]
    _, first_seen = np.unique(appearance, return_index=True)
    particles = appearance[np.sort(first_seen)]  # global indices in HepMC3 id order, event after event
    particle_event = event[particles]
    particle_start = np.searchsorted(particle_event, np.arange(n_events))
    particle_id = np.zeros(n, dtype=np.int64)
    particle_id[particles] = np.arange(len(particles)) - particle_start[particle_event] + 1

    # A particle names its production vertex, or its single mother for a vertex with one incoming particle;
    # a vertex with several incoming particles gets a V line before its first particle.
    n_incoming = np.bincount(incoming_vertex, minlength=n_vertices)
    single_mother = np.zeros(n_vertices, dtype=np.int64)
    single_mother[incoming_vertex] = particle_id[incoming]
    vertex_of = production[particles]
    parent_field = np.select([vertex_of < 0, n_incoming[vertex_of] == 1], [0, single_mother[vertex_of]],
                             -(vertex_rank[vertex_of] + 1))
    listed = np.flatnonzero((vertex_of >= 0) & (n_incoming[vertex_of] > 1))
    listed = listed[np.unique(vertex_of[listed], return_index=True)[1]]  # the first particle of each
    listed_vertex = vertex_of[listed]

    count = len(particles)
    # The five numbers of a P line in one block: " %.16e" each.
    numbers = np.stack([momentum["px"][particles], momentum["py"][particles], momentum["pz"][particles],
                        momentum["e"][particles], mass[particles]], axis=1).ravel()
    number_chars, number_mask = _float_text(numbers)
    number_block = (np.concatenate([np.full((len(numbers), 1), ord(" "), dtype=np.uint8), number_chars], axis=1)
                    .reshape(count, -1),
                    np.concatenate([np.ones((len(numbers), 1), dtype=bool), number_mask], axis=1).reshape(count, -1))
    p_text, p_lengths = _lines(_literal(b"P ", count), _int_text(particle_id[particles]), _literal(b" ", count),
                               _int_text(parent_field), _literal(b" ", count), _int_text(column["id"][particles]),
                               number_block, _literal(b" ", count),
                               _int_text(hepmc_status(column["status"][particles], column["id"][particles])),
                               _literal(b"\n", count))
    # V lines: "V id 0 [" then the incoming ids in ascending order, comma-separated, then "]".
    v_heads = _lines(_literal(b"V ", len(listed)), _int_text(-(vertex_rank[listed_vertex] + 1)),
                     _literal(b" 0 [", len(listed)))
    listed_index = np.full(n_vertices, -1)
    listed_index[listed_vertex] = np.arange(len(listed))
    member = np.flatnonzero(listed_index[incoming_vertex] >= 0)
    member = member[np.lexsort((particle_id[incoming[member]], listed_index[incoming_vertex[member]]))]
    member_line = listed_index[incoming_vertex[member]]
    last_member = np.r_[member_line[1:] != member_line[:-1], True] if len(member) else np.zeros(0, dtype=bool)
    separator = np.where(last_member, ord("]"), ord(","))[:, None].astype(np.uint8)
    newline = np.where(last_member, ord("\n"), 0)[:, None].astype(np.uint8)
    v_members = _lines(_int_text(particle_id[incoming[member]]), (separator, np.ones_like(separator, dtype=bool)),
                       (newline, last_member[:, None]))
    e_lines = _lines(_literal(b"E ", n_events), _int_text(first_event_number + np.arange(n_events)),
                     _literal(b" ", n_events), _int_text(np.bincount(vertex_event, minlength=n_events)),
                     _literal(b" ", n_events), _int_text(np.bincount(particle_event, minlength=n_events)),
                     _literal(b"\nU GEV MM\n", n_events))

    # The E lines and V lines go into the P lines' text before the line of a particle: an event's first one,
    # or a listed vertex's first one.
    particle_offset = np.cumsum(p_lengths) - p_lengths
    rows = np.r_[np.arange(n_events), n_events + np.arange(len(listed)), n_events + len(listed) + np.arange(len(member))]
    row_place = np.r_[particle_start, listed, listed[member_line]]
    # At one place: the E line, then the V line's head, then its members in order.
    row_part = np.r_[np.zeros(n_events, dtype=np.int64), np.ones(len(listed), dtype=np.int64),
                     2 + np.arange(len(member))]
    row_order = np.lexsort((row_part, row_place))
    inserted, inserted_lengths = _gather([e_lines, v_heads, v_members], rows[row_order])
    at = np.repeat(particle_offset[row_place[row_order]], inserted_lengths)
    return np.insert(p_text, at, inserted).tobytes()


class AsciiWriter:
    """Appends the events of nextBatch results to a HepMC3 ASCII file (or pipe), numbered from 0.

    As pyhepmc's writer: the header comes with the first event and the closing line when the writer is
    closed after one; a run that failed leaves no closing line, so the file reads as truncated.
    """

    def __init__(self, path):
        self.stream = open(path, "wb")
        self.count = 0

    def __call__(self, batch) -> None:
        text = events_text(batch["prt"], self.count)
        if self.count == 0 and len(batch):
            self.stream.write(HEADER)
        self.stream.write(text)
        self.count += len(batch)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None and self.count:
                self.stream.write(FOOTER)
        finally:
            self.stream.close()


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
