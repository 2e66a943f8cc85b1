"""Delphes in the generator container: the image's CMS card and the Pythia card, patched per chunk.

The container backends run ``DelphesPythia8`` (Pythia 8 + Delphes in one
program) on the sample's rendered ``.cmnd`` card.  Per chunk, the Delphes card
shipped with the install (``cards/delphes_card_CMS.tcl``) gets the analysis'
jet radius (``ParameterR`` of the jet finders) and ``set RandomSeed`` (Delphes'
default 0 is time-based), and the Pythia card gets ``Main:numberOfEvents``,
``Random:seed`` and, for MadGraph events, the chunk's LHE file.  Seeds derive
from (global seed, sample, chunk) exactly as in the embedded backend, and the
ROOT file gets the same provenance record the embedded simulation writes, so
the converter and the cross-section weights treat both backends alike.

Runs inside the container with Python's standard library (and PyROOT for the
provenance record): no numpy, awkward or pandas.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from workflow_scripts.seeding import derive_seed

# Must equal delphes_io.PROVENANCE_KEY (a test checks); delphes_io needs awkward, which the container lacks.
PROVENANCE_KEY = "pipeline_provenance"
CMS_CARD = Path("cards") / "delphes_card_CMS.tcl"
# Reconstructed jets (the Jet branch, through UniqueObjectFinder) and generator jets (GenJet). The card's
# FatJetFinder keeps its own R = 0.8 and substructure settings.
JET_FINDERS = ("FastJetFinder", "GenJetFinder")
MB_TO_PB = 1e9
MODULE_START = re.compile(r"^\s*module\s+(\S+)\s+(\S+)\s*\{")
PARAMETER_R = re.compile(r"^(\s*set\s+ParameterR\s+)(\S+)")
RANDOM_SEED = re.compile(r"^\s*set\s+RandomSeed\b")
# The `sum` row of Pythia's cross-section statistics: tried, selected, accepted; sigma and its error in mb.
STATISTICS_SUM = re.compile(r"^\s*\|\s*sum\s+\|\s*(\d+)\s+(\d+)\s+(\d+)\s*\|\s*(\S+)\s+(\S+)\s*\|", re.MULTILINE)


def set_jet_radius(card: str, radius: float, modules=JET_FINDERS, source: str = "Delphes card") -> str:
    """The card with `set ParameterR` of the named jet-finder modules replaced by `radius`."""
    lines = card.splitlines(keepends=True)
    replaced = {}
    current, depth = None, 0
    for index, line in enumerate(lines):
        code = line.split("#", 1)[0]
        if current is None:
            match = MODULE_START.match(code)
            if match and match[2] in modules:
                current, depth = match[2], 0
        if current is not None:
            if PARAMETER_R.match(code):
                lines[index] = PARAMETER_R.sub(lambda found: f"{found[1]}{radius:g}", line, count=1)
                replaced[current] = replaced.get(current, 0) + 1
            depth += code.count("{") - code.count("}")
            if depth <= 0:
                current = None
    missing = [name for name in modules if replaced.get(name) != 1]
    if missing:
        raise ValueError(f"{source}: expected one `set ParameterR` in each of the modules {missing}; "
                         "is this Delphes' CMS card (cards/delphes_card_CMS.tcl)?")
    return "".join(lines)


def set_random_seed(card: str, seed: int, source: str = "Delphes card") -> str:
    """The card with one `set RandomSeed <seed>` at the top (Delphes reads it as the global ::RandomSeed)."""
    if not 0 < int(seed) < 2**32:
        raise ValueError(f"{source}: Delphes' RandomSeed must be in [1, 2^32); 0 means a time-based seed")
    kept = [line for line in card.splitlines(keepends=True) if not RANDOM_SEED.match(line.split("#", 1)[0])]
    header = f"# Chunk seed set by workflow_scripts.delphes_card (0 would be time-based)\nset RandomSeed {int(seed)}\n\n"
    return header + "".join(kept)


def patch_cms_card(card: str, jet_radius: float, seed: int, source: str = "Delphes card") -> str:
    return set_random_seed(set_jet_radius(card, jet_radius, source=source), seed, source=source)


def _setting_key(line: str) -> str | None:
    """The lower-case key of a Pythia card line, or None for comments (lines not starting with a letter or digit)."""
    stripped = line.strip()
    if not stripped or not stripped[0].isalnum() or "=" not in stripped:
        return None
    return stripped.split("=", 1)[0].strip().lower()


def delphes_pythia8_card(card: str, n_events: int, seed: int, lhe_file=None) -> str:
    """A sample's Pythia card made into one chunk's DelphesPythia8 card.

    DelphesPythia8 generates `Main:numberOfEvents` events; the seed is the embedded backend's
    chunk seed.  With `lhe_file` Pythia showers that file from its first event: DelphesPythia8 also
    reads the file itself, event by event beside Pythia, so no event may be skipped.
    """
    chunk_settings = {"Main:numberOfEvents": int(n_events), "Random:setSeed": "on", "Random:seed": int(seed)}
    if lhe_file is not None:
        chunk_settings |= {"Beams:frameType": 4, "Beams:LHEF": str(lhe_file), "Beams:nSkipLHEFatInit": 0}
    replaced = {key.lower() for key in chunk_settings}
    kept = [line for line in card.splitlines() if _setting_key(line) not in replaced]
    block = ["", "! Chunk settings (workflow_scripts.delphes_card)"]
    block += [f"{key} = {value}" for key, value in chunk_settings.items()]
    return "\n".join(kept + block) + "\n"


def pythia_statistics(log: str) -> dict:
    """Accepted events and cross section from the statistics table Pythia prints at the end of a run."""
    rows = STATISTICS_SUM.findall(log)
    if not rows:
        raise ValueError("no Pythia cross-section statistics (`| sum | ...` row) in the DelphesPythia8 output")
    _, _, accepted, sigma_mb, error_mb = rows[-1]
    return {"n_events": int(accepted), "cross_section_pb": float(sigma_mb) * MB_TO_PB,
            "cross_section_error_pb": float(error_mb) * MB_TO_PB}


def write_provenance(root_path, provenance: dict) -> None:
    """Store the provenance record in a Delphes ROOT file as the embedded simulation does (a TObjString),
    after checking that its tree holds the events Pythia reports."""
    import ROOT  # the container's PyROOT

    handle = ROOT.TFile.Open(str(root_path), "UPDATE")
    if not handle or handle.IsZombie():
        raise OSError(f"cannot open {root_path} to add its provenance record")
    try:
        tree = handle.Get("Delphes")
        entries = int(tree.GetEntries()) if tree else -1
        if entries != provenance["n_events"]:
            raise RuntimeError(f"{root_path}: tree 'Delphes' has {entries} events, Pythia reports {provenance['n_events']}")
        handle.cd()
        ROOT.TObjString(json.dumps(provenance, sort_keys=True)).Write(PROVENANCE_KEY)
    finally:
        handle.Close()


def _decompress(lhe, destination: Path) -> None:
    """DelphesPythia8 reads the LHE file with plain fopen, so a gzipped file is unpacked first."""
    opener = gzip.open if Path(lhe).suffix == ".gz" else open
    try:
        with opener(lhe, "rb") as source, open(destination, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
    except (OSError, EOFError) as error:
        raise OSError(f"cannot read Les Houches file {lhe} (truncated?): {error}") from error


def cms_card_path(delphes_dir=None) -> Path:
    directory = delphes_dir or os.environ.get("DELPHES_DIR")
    if not directory:
        raise FileNotFoundError("no Delphes install: run inside the generator container (it sets DELPHES_DIR) "
                                "or pass --delphes-dir")
    path = Path(directory) / CMS_CARD
    if not path.is_file():
        raise FileNotFoundError(f"Delphes CMS card {path} not found")
    return path


def chunk_cards(card_path, sample: str, chunk: int, n_events: int, global_seed: int, jet_radius: float, cms_card: Path,
                lhe_file=None) -> tuple[str, str, dict]:
    """The chunk's DelphesPythia8 card, patched Delphes card and their seeds."""
    seeds = {"seed": derive_seed(global_seed, "generate", sample, chunk),
             "detector_seed": derive_seed(global_seed, "detector", sample, chunk)}
    pythia_card = delphes_pythia8_card(Path(card_path).read_text(), n_events, seeds["seed"], lhe_file)
    delphes_card = patch_cms_card(cms_card.read_text(), jet_radius, seeds["detector_seed"], source=str(cms_card))
    return pythia_card, delphes_card, seeds


def simulate_chunk(card_path, output, sample: str, chunk: int, n_events: int, global_seed: int, jet_radius: float,
                   lhe=None, delphes_dir=None, scratch_root=None, executable: str = "DelphesPythia8") -> dict:
    """Generate, shower and simulate one chunk with DelphesPythia8 into `output` (Delphes ROOT)."""
    output = Path(output)
    cms_card = cms_card_path(delphes_dir)
    with tempfile.TemporaryDirectory(prefix=f"delphes-{sample}-chunk{chunk}-", dir=scratch_root) as scratch:
        scratch = Path(scratch)
        lhe_plain = None
        if lhe is not None:
            lhe_plain = scratch / "events.lhe"
            _decompress(lhe, lhe_plain)
        pythia_card, delphes_card, seeds = chunk_cards(card_path, sample, chunk, n_events, global_seed, jet_radius, cms_card,
                                                       lhe_plain)
        (scratch / "pythia8.cmnd").write_text(pythia_card)
        (scratch / "delphes_card.tcl").write_text(delphes_card)
        print(pythia_card, flush=True)
        output.parent.mkdir(parents=True, exist_ok=True)
        # Delphes refuses to overwrite a file: write under a fresh name beside the output, rename at the end.
        partial = output.with_name(f".{output.name}.{os.getpid()}.part")
        partial.unlink(missing_ok=True)
        try:
            # Run from the working directory, where relative paths in the card (SLHA files) point.
            result = subprocess.run([executable, str(scratch / "delphes_card.tcl"), str(scratch / "pythia8.cmnd"), str(partial)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
            print(result.stdout, flush=True)
            if result.returncode != 0 or not partial.is_file():
                raise RuntimeError(f"DelphesPythia8 failed for sample {sample} chunk {chunk} "
                                   f"(exit code {result.returncode}); see the log")
            provenance = {"sample": sample, "chunk": chunk, "global_seed": global_seed, **seeds,
                          **pythia_statistics(result.stdout),
                          "jet_radius": jet_radius, "card_sha256": hashlib.sha256(Path(card_path).read_bytes()).hexdigest(),
                          "generator": f"Pythia {os.environ.get('PYTHIA_VERSION', 'unknown')} (DelphesPythia8)",
                          "detector": f"Delphes {os.environ.get('DELPHES_VERSION', 'unknown')}, {CMS_CARD.name}"}
            if lhe is not None:
                provenance["lhe_file"] = Path(lhe).name
            write_provenance(partial, provenance)
            os.replace(partial, output)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return provenance


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.delphes_card", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("cards", "write one chunk's patched Pythia and Delphes cards to a directory"),
                            ("run", "run DelphesPythia8 for one chunk (inside the generator container)")):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--card", type=Path, required=True, help="the sample's Pythia card (.cmnd)")
        command.add_argument("--lhe", type=Path, help="the chunk's Les Houches events (MadGraph backends)")
        command.add_argument("--sample", required=True)
        command.add_argument("--chunk", type=int, required=True)
        command.add_argument("--events", type=int, required=True)
        command.add_argument("--seed", type=int, required=True, help="global seed")
        command.add_argument("--jet-radius", type=float, required=True)
        command.add_argument("--delphes-dir", type=Path, help="Delphes install (default: $DELPHES_DIR)")
    sub.choices["cards"].add_argument("--directory", type=Path, required=True)
    sub.choices["run"].add_argument("--output", type=Path, required=True)
    sub.choices["run"].add_argument("--scratch", type=Path, help="where the chunk's cards and unpacked LHE file go")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "cards":
        pythia_card, delphes_card, _ = chunk_cards(args.card, args.sample, args.chunk, args.events, args.seed, args.jet_radius,
                                                   cms_card_path(args.delphes_dir), args.lhe)
        args.directory.mkdir(parents=True, exist_ok=True)
        (args.directory / "pythia8.cmnd").write_text(pythia_card)
        (args.directory / "delphes_card.tcl").write_text(delphes_card)
        return
    print(simulate_chunk(args.card, args.output, args.sample, args.chunk, args.events, args.seed, args.jet_radius, args.lhe,
                         args.delphes_dir, args.scratch), flush=True)


if __name__ == "__main__":
    main()
