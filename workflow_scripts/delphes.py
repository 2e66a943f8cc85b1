"""Real Delphes on one chunk: pythia8mc's full event record streamed as HepMC3 into DelphesHepMC3.

The chunk's events come from the same card, seed and generator as the
embedded chain (``generation.generate_chunk``), so both detectors see the
same events.  The HepMC3 text goes through a pipe into ``DelphesHepMC3``
(it reads standard input for the file name ``-``) instead of a file of
~300 kB per event on disk.  Delphes' ``RandomSeed`` is the chunk's detector
seed, the one the embedded simulation uses.  Delphes writes under a
temporary name beside the output (it refuses to overwrite a file); only a
file whose tree holds every generated event, with the provenance record the
embedded simulation also writes, is renamed into place.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from workflow_scripts import delphes_card, delphes_io, generation, install_tools
from workflow_scripts.seeding import derive_seed

PROGRAM = "DelphesHepMC3"


def delphes_program(record) -> tuple[str, Path, dict]:
    """DelphesHepMC3, the CMS card and the environment, from an install record or (in the image) from PATH."""
    if record is not None:
        tool = install_tools.load_record(record, "delphes")
        return tool["programs"][PROGRAM], Path(tool["cms_card"]), install_tools.tool_environment(tool)
    return PROGRAM, delphes_card.cms_card_path(), dict(os.environ)


def _relay(stream, sink) -> None:
    for line in stream:
        sink.write(line)
    sink.flush()


@contextlib.contextmanager
def delphes_process(program: str, card: Path, output: Path, env: dict):
    """A running DelphesHepMC3 reading HepMC3 from a pipe; yields the pipe's path for the writer."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen([program, str(card), str(output), "-"], stdin=read_end, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    os.close(read_end)
    relay = threading.Thread(target=_relay, args=(process.stdout, sys.stdout), daemon=True)
    relay.start()
    try:
        # pyhepmc opens a path; /dev/fd/N is the pipe's write end on Linux.
        yield f"/dev/fd/{write_end}", process
    finally:
        os.close(write_end)  # end of input: Delphes finishes its events and writes the file
        process.wait()
        relay.join()


def tree_entries(path) -> int:
    import uproot

    with uproot.open(path) as handle:
        return int(handle["Delphes"].num_entries)


def write_provenance(path, provenance: dict) -> None:
    """The provenance record as the embedded simulation stores it (a TObjString under PROVENANCE_KEY)."""
    import uproot

    with uproot.update(path) as handle:
        handle[delphes_io.PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True)


def simulate_chunk(card_path, output, sample: str, chunk: int, n_events: int, global_seed: int, jet_radius: float,
                   batch_size: int = 100, lhe_first_event: int | None = None, tool_record=None, scratch_root=None) -> dict:
    """Generate one chunk with pythia8mc and simulate it with Delphes' CMS card into `output` (Delphes ROOT)."""
    output = Path(output)
    program, cms_card, env = delphes_program(tool_record)
    detector_seed = derive_seed(global_seed, "detector", sample, chunk)
    card = delphes_card.patch_cms_card(cms_card.read_text(), jet_radius, detector_seed, source=str(cms_card))
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.part")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"delphes-{sample}-chunk{chunk}-", dir=scratch_root) as scratch:
        card_file = Path(scratch) / "delphes_card.tcl"
        card_file.write_text(card)
        try:
            with delphes_process(program, card_file, partial, env) as (pipe, process):
                try:
                    metadata = generation.generate_chunk(card_path, None, sample, chunk, n_events, global_seed, batch_size,
                                                         hepmc_output=pipe, lhe_first_event=lhe_first_event, atomic=False)
                except BrokenPipeError as error:
                    raise RuntimeError(f"{PROGRAM} stopped reading events of sample {sample} chunk {chunk}; see its "
                                       "output above") from error
            if process.returncode != 0 or not partial.is_file():
                raise RuntimeError(f"{PROGRAM} failed for sample {sample} chunk {chunk} (exit code {process.returncode}); "
                                   "see its output above")
            entries = tree_entries(partial)
            if entries != metadata["n_events"]:
                raise RuntimeError(f"{PROGRAM} wrote {entries} events for sample {sample} chunk {chunk}, "
                                   f"Pythia generated {metadata['n_events']}")
            provenance = metadata | {"detector_seed": detector_seed, "jet_radius": jet_radius,
                                     "detector": f"Delphes {install_tools.VERSIONS['delphes']}, {cms_card.name}",
                                     "detector_card_sha256": hashlib.sha256(card.encode()).hexdigest()}
            write_provenance(partial, provenance)
            os.replace(partial, output)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return provenance


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.delphes", description=__doc__.split("\n")[0])
    parser.add_argument("--card", type=Path, required=True, help="the sample's (or chunk's) Pythia card")
    parser.add_argument("--output", type=Path, required=True, help="the chunk's Delphes ROOT file")
    parser.add_argument("--sample", required=True)
    parser.add_argument("--chunk", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True, help="global seed")
    parser.add_argument("--jet-radius", type=float, required=True)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lhe-first-event", type=int, help="as for workflow_scripts.generation")
    parser.add_argument("--tool", type=Path, help="Delphes' install record (rule install_delphes); "
                        "without it DelphesHepMC3 from PATH and the card under $DELPHES_DIR (the image)")
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        provenance = simulate_chunk(args.card, args.output, args.sample, args.chunk, args.events, args.seed,
                                    args.jet_radius, args.batch_size, args.lhe_first_event, args.tool, args.scratch)
    except install_tools.ToolError as error:
        sys.exit(f"error: {error}")
    print(provenance, flush=True)


if __name__ == "__main__":
    main()
