"""Embedded event generation: Pythia 8 from a card, in chunks, to final-state particles in Parquet.

Events come from Pythia's batch interface (``nextBatch``, awkward output), so
no Python code loops over particles.  Each chunk is seeded from (global seed,
sample, chunk index), and the file's metadata records the seed, the cross
section and the versions used.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import sys
from pathlib import Path

import awkward as ak
import numpy as np

from workflow_scripts.core import files
from workflow_scripts.core.flat import FlatObjects
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.core.lhe import cross_section as lhe_cross_section
from workflow_scripts.generation import cards

# Per-particle columns of the particle files.
PARTICLE_FIELDS = ("pid", "charge", "px", "py", "pz", "e")
MB_TO_PB = 1e9


def pythia_version() -> str:
    from importlib.metadata import version

    return version("pythia8mc")


def configure_pythia(card_path, seed: int, skip_lhe_events: int = 0):
    """A Pythia instance initialised from a card; unknown settings are an error, not a warning."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    rejected = [line for line in cards.read_card(card_path) if not pythia.readString(line, False)]
    if rejected:
        raise ValueError(f"{card_path}: Pythia does not accept these settings: {rejected}")
    for line in ("Random:setSeed = on", f"Random:seed = {int(seed)}", f"Beams:nSkipLHEFatInit = {int(skip_lhe_events)}"):
        pythia.readString(line)
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise from {card_path} (see the log above for its reason)")
    return pythia


def les_houches_file(card_path) -> Path | None:
    """The LHE file a card showers (Beams:frameType = 4), or None for internal processes."""
    settings = dict(line.split("=", 1) for line in cards.read_card(card_path) if "=" in line)
    settings = {key.strip(): value.strip() for key, value in settings.items()}
    if settings.get("Beams:frameType") != "4":
        return None
    return Path(settings["Beams:LHEF"])


def les_houches_file_is_complete(path) -> bool:
    """True when the (possibly gzipped) file ends with the closing </LesHouchesEvents> tag."""
    opener = gzip.open if Path(path).suffix == ".gz" else open
    tail = b""
    try:
        with opener(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                tail = (tail + chunk)[-4096:]
    except (EOFError, OSError):
        return False  # a gzip stream cut short
    return b"</LesHouchesEvents>" in tail


class ChargeTable:
    """Electric charges of PDG codes from Pythia's particle data, looked up once per code."""

    def __init__(self, particle_data):
        self._charge_of = particle_data.charge
        self._codes = np.zeros(0, dtype=np.int64)
        self._charges = np.zeros(0, dtype=np.float32)

    def __call__(self, pid: np.ndarray) -> np.ndarray:
        new = np.setdiff1d(pid, self._codes)
        if len(new):
            codes = np.r_[self._codes, new]
            charges = np.r_[self._charges, [self._charge_of(int(code)) for code in new]].astype(np.float32)
            order = np.argsort(codes)
            self._codes, self._charges = codes[order], charges[order]
        return self._charges[np.searchsorted(self._codes, pid)]


def final_state(batch: ak.Array, charge_table: ChargeTable) -> ak.Array:
    """Final-state particles (status > 0) of a nextBatch result: pid, charge, four-momentum in GeV."""
    # On flat columns: masking the jagged record itself would carry all of its 14 fields along.
    record = batch["prt"]
    momentum = record["p"]
    particles = FlatObjects.from_jagged(ak.zip({"status": record["status"], "pid": record["id"], "px": momentum["px"],
                                                "py": momentum["py"], "pz": momentum["pz"], "e": momentum["e"]}))
    final = particles[particles.columns["status"] > 0]
    pid = final.columns["pid"]
    columns = {"pid": pid, "charge": charge_table(pid)} | {component: final.columns[component].astype(np.float32)
                                                            for component in ("px", "py", "pz", "e")}
    return FlatObjects(final.event, columns).to_jagged(len(record))


def generate(pythia, n_events: int, batch_size: int = 100, on_batch=None) -> ak.Array:
    """n_events events as a record array: particles (jagged), the hard process' pT-hat and m-hat and
    the incoming partons' momentum fractions x1, x2.  `on_batch`, when given, also receives every raw
    nextBatch result (the full event record), e.g. to write HepMC3."""
    charge_table = ChargeTable(pythia.particleData)
    pieces = []
    produced = 0
    while produced < n_events:
        # errorMode 'skip' drops events Pythia could not finish; ask again for the missing ones.
        batch = pythia.nextBatch(min(batch_size, n_events - produced), "skip")
        if len(batch) == 0:
            if pythia.infoPython().atEndOfFile():
                break  # the LHE file ran out: the caller decides whether a short chunk is an error
            raise RuntimeError("Pythia produced no event in a whole batch; check the card and the log")
        if on_batch is not None:
            on_batch(batch)
        pieces.append(
            ak.zip(
                {
                    "particles": final_state(batch, charge_table),
                    "pt_hat_gev": ak.values_astype(np.sqrt(batch["info"]["pT2Hat"]), np.float32),
                    "m_hat_gev": ak.values_astype(batch["info"]["mHat"], np.float32),
                    "x1": batch["info"]["x1"],
                    "x2": batch["info"]["x2"],
                },
                depth_limit=1,
            )
        )
        produced += len(batch)
    if not pieces:
        return ak.Array([])
    return ak.concatenate(pieces)


def generate_chunk(card_path, output, sample: str, chunk: int, n_events: int, global_seed: int, batch_size: int = 100,
                   hepmc_output=None, lhe_first_event: int | None = None, atomic: bool = True) -> dict:
    """Generate one chunk of a sample into a Parquet file (`output`) and/or the full event record into a
    HepMC3 file (`hepmc_output`); returns its metadata.  The same seed gives the same events in both.
    A Les Houches chunk starts at event `lhe_first_event` of its file: by default chunk * n_events, as
    when all chunks share one file; 0 for a file of the chunk's own (MadGraph generator).  `atomic=False`
    writes the HepMC3 text to `hepmc_output` as it comes (a pipe into Delphes)."""
    seed = derive_seed(global_seed, "generate", sample, chunk)
    lhe_file = les_houches_file(card_path)
    if lhe_file is not None and not lhe_file.is_file():
        raise FileNotFoundError(f"{card_path}: Les Houches file {lhe_file} does not exist")
    # Chunks of a Les Houches sample read consecutive, disjoint ranges of the file.
    skip = (chunk * n_events if lhe_first_event is None else lhe_first_event) if lhe_file else 0
    pythia = configure_pythia(card_path, seed, skip)
    if hepmc_output is not None:
        from workflow_scripts.generation.hepmc import AsciiWriter

        target = files.atomic_output(hepmc_output) if atomic else contextlib.nullcontext(hepmc_output)
        with target as path, AsciiWriter(path) as writer:
            events = generate(pythia, n_events, batch_size, on_batch=writer)
    else:
        events = generate(pythia, n_events, batch_size)
    if lhe_file is not None and len(events) < n_events:
        if not les_houches_file_is_complete(lhe_file):
            raise OSError(f"Les Houches file {lhe_file} is truncated: it ends without </LesHouchesEvents>")
        if len(events) == 0:
            raise ValueError(f"Les Houches file {lhe_file} has no events left for chunk {chunk} "
                             f"(it starts at event {skip})")
    info = pythia.infoPython()
    if lhe_file is not None:
        # The file's own statement (a MadGraph chunk's: its gridpack's survey), not this chunk's estimate from the
        # events' weights.
        cross_section_pb, cross_section_error_pb = lhe_cross_section(lhe_file)
    else:
        cross_section_pb, cross_section_error_pb = info.sigmaGen() * MB_TO_PB, info.sigmaErr() * MB_TO_PB
    metadata = {
        "sample": sample,
        "chunk": chunk,
        "seed": seed,
        "global_seed": global_seed,
        "n_events": len(events),
        "cross_section_pb": cross_section_pb,
        "cross_section_error_pb": cross_section_error_pb,
        "generator": f"pythia8mc {pythia_version()}",
        "card_sha256": hashlib.sha256(Path(card_path).read_bytes()).hexdigest(),
    }
    if output is not None:
        files.write_awkward(events, output, metadata)
    return metadata


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.generation.pythia", description=__doc__.split("\n")[0])
    parser.add_argument("--card", type=Path, required=True)
    parser.add_argument("--output", type=Path, nargs="+", required=True,
                        help="by extension: .parquet for the final-state particles, .hepmc3 for the full event record"
                             " as HepMC3 ASCII (both at once write the same events)")
    parser.add_argument("--sample", required=True)
    parser.add_argument("--chunk", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=100, help="events per Pythia nextBatch call")
    parser.add_argument("--seed", type=int, required=True, help="global seed")
    parser.add_argument("--lhe-first-event", type=int, help="first event of the card's Les Houches file to read "
                        "(default: chunk * events, for chunks sharing one file)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    by_kind = {}
    for path in args.output:
        kind = {".parquet": "particles", ".hepmc3": "hepmc"}.get(path.suffix)
        if kind is None or kind in by_kind:
            parser.error(f"--output takes at most one .parquet and one .hepmc3 file, got {[str(p) for p in args.output]}")
        by_kind[kind] = path
    metadata = generate_chunk(args.card, by_kind.get("particles"), args.sample, args.chunk, args.events, args.seed,
                              args.batch_size, by_kind.get("hepmc"), args.lhe_first_event)
    print(metadata, flush=True)


if __name__ == "__main__":
    main()
