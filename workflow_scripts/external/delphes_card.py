"""Delphes' CMS card, patched per chunk: the analysis' jet radius, an explicit seed and the tree to write.

Real Delphes (``workflow_scripts.detector.delphes``) runs the CMS card shipped with the
install (``cards/delphes_card_CMS.tcl``) with ``ParameterR`` of the jet
finders set to the sample's jet radius and ``set RandomSeed`` to the chunk's
detector seed (Delphes' default 0 is time-based), derived from (global seed,
sample, chunk) exactly as in the embedded simulation.

With the ``analysis`` tree (the default), the card's TreeWriter writes only the
branches the pipeline reads (``ANALYSIS_BRANCHES``), and the modules that fed
nothing else are left out of the execution path, but only modules of classes
that draw no random numbers and change no object they read
(``SIDE_EFFECT_FREE_CLASSES``): every other module still runs, so gRandom's
sequence, and with it every value in the kept branches, is the full card's.
That halves Delphes' time an event for QCD dijets (a quarter less for the
Hidden-Valley signals): FatJetFinder's substructure and the compression of
the ~2 000-entry Particle branch were most of what it saves.

Standard library only, so that the card can be patched anywhere.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from workflow_scripts.core.seeding import derive_seed

CMS_CARD = Path("cards") / "delphes_card_CMS.tcl"
# Reconstructed jets (the Jet branch, through UniqueObjectFinder) and generator jets (GenJet). The card's
# FatJetFinder keeps its own R = 0.8 and substructure settings.
JET_FINDERS = ("FastJetFinder", "GenJetFinder")
MODULE_START = re.compile(r"^\s*module\s+(\S+)\s+(\S+)\s*\{")
PARAMETER_R = re.compile(r"^(\s*set\s+ParameterR\s+)(\S+)")
RANDOM_SEED = re.compile(r"^\s*set\s+RandomSeed\b")
EXECUTION_PATH = re.compile(r"(^\s*set\s+ExecutionPath\s*\{)([^}]*)(\})", re.MULTILINE)
TREE_BRANCH = re.compile(r"^\s*add\s+Branch\s+(\S+)\s+(\S+)\s+\S+")
ARRAY_REFERENCE = re.compile(r"\b([A-Za-z_]\w*)/\w+")

# The trees a chunk's Delphes file can hold: `analysis` (what the pipeline reads) or `full` (the card's own).
TREES = ("analysis", "full")
# What the pipeline reads of a Delphes file: jets, MET, leptons and energy-flow constituents (the converter,
# detector.delphes_io.CONVERTER_FIELDS) and generator jets (validation.closure). Delphes' reader adds its Event and
# Weight branches itself.
ANALYSIS_BRANCHES = ("Jet", "GenJet", "MissingET", "Electron", "Muon", "EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")
# Delphes 3.5 module classes that draw no random numbers and change none of their input objects (checked in the
# sources): leaving one out changes no other module's output. BTagging, TauTagging, JetFlavorAssociation and the
# isolation modules set fields of objects that kept branches hold, and smearing modules draw from gRandom: they stay.
SIDE_EFFECT_FREE_CLASSES = ("FastJetFinder", "Merger", "PdgCodeFilter")


def _modules(lines: list[str]) -> dict[str, tuple[str, range]]:
    """Each module of a card's lines: name -> (class, the indices of its lines, braces balanced, comments aside)."""
    modules, current, depth = {}, None, 0
    for index, line in enumerate(lines):
        code = line.split("#", 1)[0]
        if current is None:
            match = MODULE_START.match(code)
            if match:
                current, depth = (match[1], match[2], index), 0
        if current is not None:
            depth += code.count("{") - code.count("}")
            if depth <= 0:
                kind, name, start = current
                modules[name] = (kind, range(start, index + 1))
                current = None
    return modules


def set_jet_radius(card: str, radius: float, modules=JET_FINDERS, source: str = "Delphes card") -> str:
    """The card with `set ParameterR` of the named jet-finder modules replaced by `radius`."""
    lines = card.splitlines(keepends=True)
    blocks = _modules(lines)
    replaced = {}
    for name in modules:
        for index in blocks.get(name, ("", range(0)))[1]:
            if PARAMETER_R.match(lines[index].split("#", 1)[0]):
                lines[index] = PARAMETER_R.sub(lambda found: f"{found[1]}{radius:g}", lines[index], count=1)
                replaced[name] = replaced.get(name, 0) + 1
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
    header = f"# Chunk seed set by workflow_scripts.external.delphes_card (0 would be time-based)\nset RandomSeed {int(seed)}\n\n"
    return header + "".join(kept)


def keep_branches(card: str, branches=ANALYSIS_BRANCHES, source: str = "Delphes card") -> str:
    """The card with its TreeWriter writing only `branches`, and without the side-effect-free modules (see
    SIDE_EFFECT_FREE_CLASSES) whose output neither a kept branch nor a kept module reads."""
    lines = card.splitlines(keepends=True)
    blocks = {name: (kind, "".join(line.split("#", 1)[0] for line in lines[indices.start:indices.stop]))
              for name, (kind, indices) in _modules(lines).items()}
    path_match = EXECUTION_PATH.search(card)
    writers = [name for name, (kind, _) in blocks.items() if kind == "TreeWriter"]
    if path_match is None or len(writers) != 1:
        raise ValueError(f"{source}: expected one `set ExecutionPath {{...}}` and one TreeWriter module")

    def dropped_branch(line: str) -> bool:  # only TreeWriter blocks have `add Branch` lines
        match = TREE_BRANCH.match(line.split("#", 1)[0])
        return bool(match) and match[2] not in branches

    kept_writer = "".join(line for line in blocks[writers[0]][1].splitlines(keepends=True) if not dropped_branch(line))
    missing = sorted(set(branches) - {match[2] for match in map(TREE_BRANCH.match, kept_writer.splitlines()) if match})
    if missing:
        raise ValueError(f"{source}: its TreeWriter writes no branch {missing}")
    # Walk back from the writer through every module a needed module reads from.
    needed, pending = set(), [writers[0]]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            body = kept_writer if name == writers[0] else blocks[name][1]
            pending.extend(module for module in ARRAY_REFERENCE.findall(body) if module in blocks)
    path = [name for name in path_match[2].split()
            if name in needed or blocks.get(name, ("",))[0] not in SIDE_EFFECT_FREE_CLASSES]
    card = card[:path_match.start(2)] + "".join(f"\n  {name}" for name in path) + "\n" + card[path_match.end(2):]
    return "".join(line for line in card.splitlines(keepends=True) if not dropped_branch(line))


def patch_cms_card(card: str, jet_radius: float, seed: int, tree: str = "analysis", source: str = "Delphes card") -> str:
    """The CMS card with the jet radius, the chunk's seed and, for the `analysis` tree, only the branches the
    pipeline reads (`full`: the card's own tree)."""
    if tree not in TREES:
        raise ValueError(f"{source}: unknown Delphes tree {tree!r}; expected one of {TREES}")
    card = set_jet_radius(card, jet_radius, source=source)
    if tree == "analysis":
        card = keep_branches(card, source=source)
    return set_random_seed(card, seed, source=source)


def cms_card_path(delphes_dir=None) -> Path:
    directory = delphes_dir or os.environ.get("DELPHES_DIR")
    if not directory:
        raise FileNotFoundError("no Delphes install: run inside the generator image (it sets DELPHES_DIR), "
                                "pass --delphes-dir or use the install record of rule install_delphes")
    path = Path(directory) / CMS_CARD
    if not path.is_file():
        raise FileNotFoundError(f"Delphes CMS card {path} not found")
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.external.delphes_card", description=__doc__.split("\n")[0])
    parser.add_argument("--sample", required=True)
    parser.add_argument("--chunk", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True, help="global seed")
    parser.add_argument("--jet-radius", type=float, required=True)
    parser.add_argument("--tree", choices=TREES, default="analysis",
                        help="analysis: only the branches the pipeline reads (default); full: the card's own tree")
    parser.add_argument("--delphes-dir", type=Path, help="Delphes install (default: $DELPHES_DIR)")
    parser.add_argument("--output", type=Path, required=True, help="the patched card")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    cms_card = cms_card_path(args.delphes_dir)
    seed = derive_seed(args.seed, "detector", args.sample, args.chunk)
    args.output.write_text(patch_cms_card(cms_card.read_text(), args.jet_radius, seed, args.tree, source=str(cms_card)))


if __name__ == "__main__":
    main()
