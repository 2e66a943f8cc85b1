"""Real Delphes on one chunk: pythia8mc's full event record streamed as HepMC3 into DelphesHepMC3.

The chunk's events come from the same card, seed and generator as the
embedded chain (``pythia.generate_chunk``), so both detectors see the
same events.  The HepMC3 text goes through a pipe into ``DelphesHepMC3``
(it reads standard input for the file name ``-``) instead of a file of
~300 kB per event on disk.  Delphes' ``RandomSeed`` is the chunk's detector
seed, the one the embedded simulation uses.  Delphes writes into the job's
scratch directory (it refuses to overwrite a file, and a killed job must
leave nothing in the results); only a file whose tree holds every generated
event, with the provenance record the embedded simulation also writes, is
moved into place.  ROOT's ``reproducible`` option and fixed dates for the
provenance key make the same events give the same bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

from workflow_scripts.core import files
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.detector import delphes_io
from workflow_scripts.external import delphes_card, install_tools
from workflow_scripts.generation import hepmc, pythia

PROGRAM = "DelphesHepMC3"


def delphes_program(record) -> tuple[str, Path, dict]:
    """DelphesHepMC3, the CMS card and the environment, from an install record (rule install_delphes, or the image's)."""
    tool = install_tools.record_or_default(record, "delphes")
    # The patched reader then writes no wall-clock times (install_tools.patch_delphes_reproducible): same events, same bytes.
    environment = install_tools.tool_environment(tool) | {install_tools.REPRODUCIBLE_VARIABLE: "0"}
    return tool["programs"][PROGRAM], Path(tool["cms_card"]), environment


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
        # The HepMC3 writer opens a path; /dev/fd/N is the pipe's write end on Linux.
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
    """The provenance record as the embedded simulation stores it (a TObjString under PROVENANCE_KEY); then the file's
    process UUIDs are made the provenance's (fix_process_uuids)."""
    import uproot

    with delphes_io.fixed_root_dates(), uproot.update(path) as handle:
        handle[delphes_io.PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True)
    fix_process_uuids(path, provenance)


# A TProcessID's key: class name, then its name ProcessID<n> and its title, a UUID, as ROOT's length-prefixed strings.
PROCESS_ID_KEY = re.compile(rb"\nTProcessID\nProcessID(\d)\$([0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12})")


def fix_process_uuids(path, provenance: dict) -> None:
    """A file with TRefs (Delphes' jet constituents) holds a TProcessID titled with the writing process's own UUID,
    made from the clock, which ROOT's `reproducible` option leaves in place. Each such UUID is replaced, wherever it
    appears, by one derived from the provenance: the same length, so no offset in the file moves (the object is small
    and stored uncompressed; an occurrence that is not found in plain text is left, and the tests would see it)."""
    path = Path(path)
    data = path.read_bytes()
    found = {match.group(2): int(match.group(1)) for match in PROCESS_ID_KEY.finditer(data)}
    if not found:
        return
    digest = delphes_io.provenance_digest(provenance)
    for process_uuid, number in found.items():
        fixed = str(uuid.uuid5(uuid.NAMESPACE_URL, f"delphes-process:{digest}/{number}")).encode()
        data = data.replace(process_uuid, fixed)
    partial = path.with_name(f".{path.name}.uuid")
    partial.write_bytes(data)
    os.replace(partial, path)


@contextlib.contextmanager
def delphes_output(output: Path, scratch):
    """Where Delphes writes (it refuses to overwrite): a file of the final name in the job's scratch directory, so that
    a killed job leaves nothing in the results; installed as `output` atomically when the block succeeds."""
    written = Path(scratch) / output.name
    yield written
    with files.atomic_output(output) as temporary:
        shutil.copyfile(written, temporary)  # scratch may be on another file system


def reproducible_root_name(path: Path) -> str:
    """The output name to give Delphes: ROOT's `reproducible` option stores the file's name, a zero UUID and fixed
    dates instead of the time of writing, so that the same events give the same bytes."""
    return f"{path}?reproducible={path.name}"


def patched_card(cms_card: Path, jet_radius: float, detector_seed: int, directory, tree: str = "analysis") -> Path:
    card = delphes_card.patch_cms_card(cms_card.read_text(), jet_radius, detector_seed, tree, source=str(cms_card))
    path = Path(directory) / "delphes_card.tcl"
    path.write_text(card)
    return path


def check_run(process, partial: Path, expected_events: int, what: str) -> None:
    if process.returncode != 0 or not partial.is_file():
        raise RuntimeError(f"{PROGRAM} failed for {what} (exit code {process.returncode}); see its output above")
    entries = tree_entries(partial)
    if entries != expected_events:
        raise RuntimeError(f"{PROGRAM} wrote {entries} events for {what}, expected {expected_events}")


def detector_provenance(card: Path, cms_card: Path, detector_seed: int, jet_radius: float, tree: str) -> dict:
    return {"detector_seed": detector_seed, "jet_radius": jet_radius, "delphes_tree": tree,
            "detector": f"Delphes {install_tools.VERSIONS['delphes']}, {cms_card.name}",
            "detector_card_sha256": hashlib.sha256(card.read_bytes()).hexdigest()}


def simulate_chunk(card_path, output, sample: str, chunk: int, n_events: int, global_seed: int, jet_radius: float,
                   batch_size: int = 100, lhe_first_event: int | None = None, tool_record=None, scratch_root=None,
                   tree: str = "analysis") -> dict:
    """Generate one chunk with pythia8mc and simulate it with Delphes' CMS card into `output` (Delphes ROOT); `tree`
    as in workflow_scripts.external.delphes_card."""
    program, cms_card, env = delphes_program(tool_record)
    detector_seed = derive_seed(global_seed, "detector", sample, chunk)
    what = f"sample {sample} chunk {chunk}"
    with tempfile.TemporaryDirectory(prefix=f"delphes-{sample}-chunk{chunk}-", dir=scratch_root) as scratch, \
            delphes_output(Path(output), scratch) as partial:
        card = patched_card(cms_card, jet_radius, detector_seed, scratch, tree)
        with delphes_process(program, card, reproducible_root_name(partial), env) as (pipe, process):
            metadata = pythia.generate_chunk(card_path, None, sample, chunk, n_events, global_seed, batch_size,
                                                 hepmc_output=pipe, lhe_first_event=lhe_first_event, atomic=False)
        check_run(process, partial, metadata["n_events"], what)
        provenance = metadata | detector_provenance(card, cms_card, detector_seed, jet_radius, tree)
        write_provenance(partial, provenance)
    return provenance


def simulate_hepmc_file(hepmc_path, output, sample: str, chunk: int, global_seed: int, jet_radius: float,
                        tool_record=None, scratch_root=None, tree: str = "analysis") -> dict:
    """Delphes on an existing HepMC3 file (target `hepmc`); a file cut short is refused before Delphes runs."""
    hepmc_path = Path(hepmc_path)
    n_events = hepmc.count_events(hepmc_path)
    program, cms_card, env = delphes_program(tool_record)
    detector_seed = derive_seed(global_seed, "detector", sample, chunk)
    with tempfile.TemporaryDirectory(prefix=f"delphes-{sample}-chunk{chunk}-", dir=scratch_root) as scratch, \
            delphes_output(Path(output), scratch) as partial:
        card = patched_card(cms_card, jet_radius, detector_seed, scratch, tree)
        process = subprocess.run([program, str(card), reproducible_root_name(partial), str(hepmc_path)], env=env,
                                 stdin=subprocess.DEVNULL)
        check_run(process, partial, n_events, str(hepmc_path))
        provenance = {"sample": sample, "chunk": chunk, "global_seed": global_seed, "n_events": n_events,
                      "hepmc_file": hepmc_path.name} | detector_provenance(card, cms_card, detector_seed, jet_radius, tree)
        write_provenance(partial, provenance)
    return provenance


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.detector.delphes", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--card", type=Path, help="the sample's (or chunk's) Pythia card: generate and simulate")
    source.add_argument("--hepmc", type=Path, help="simulate the events of this HepMC3 file instead")
    parser.add_argument("--output", type=Path, required=True, help="the chunk's Delphes ROOT file")
    parser.add_argument("--sample", required=True)
    parser.add_argument("--chunk", type=int, required=True)
    parser.add_argument("--events", type=int, help="events to generate (with --card)")
    parser.add_argument("--seed", type=int, required=True, help="global seed")
    parser.add_argument("--jet-radius", type=float, required=True)
    parser.add_argument("--tree", choices=delphes_card.TREES, default="analysis",
                        help="analysis: only the branches the pipeline reads (default); full: the CMS card's own tree")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lhe-first-event", type=int, help="as for workflow_scripts.generation.pythia")
    parser.add_argument("--tool", type=Path, help="Delphes' install record (rule install_delphes); "
                        f"default: the generator image's, under ${install_tools.RECORDS_VARIABLE}")
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.card is not None and args.events is None:
        parser.error("--card needs --events")
    try:
        if args.card is not None:
            provenance = simulate_chunk(args.card, args.output, args.sample, args.chunk, args.events, args.seed,
                                        args.jet_radius, args.batch_size, args.lhe_first_event, args.tool, args.scratch, args.tree)
        else:
            provenance = simulate_hepmc_file(args.hepmc, args.output, args.sample, args.chunk, args.seed, args.jet_radius,
                                             args.tool, args.scratch, args.tree)
    except (install_tools.ToolError, OSError) as error:
        sys.exit(f"error: {error}")
    print(provenance, flush=True)


if __name__ == "__main__":
    main()
