"""Delphes' CMS card, patched per chunk: the analysis' jet radius and an explicit seed.

Real Delphes (``workflow_scripts.detector.delphes``) runs the CMS card shipped with the
install (``cards/delphes_card_CMS.tcl``) with ``ParameterR`` of the jet
finders set to the sample's jet radius and ``set RandomSeed`` to the chunk's
detector seed (Delphes' default 0 is time-based), derived from (global seed,
sample, chunk) exactly as in the embedded simulation.

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
    header = f"# Chunk seed set by workflow_scripts.external.delphes_card (0 would be time-based)\nset RandomSeed {int(seed)}\n\n"
    return header + "".join(kept)


def patch_cms_card(card: str, jet_radius: float, seed: int, source: str = "Delphes card") -> str:
    return set_random_seed(set_jet_radius(card, jet_radius, source=source), seed, source=source)


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
    parser.add_argument("--delphes-dir", type=Path, help="Delphes install (default: $DELPHES_DIR)")
    parser.add_argument("--output", type=Path, required=True, help="the patched card")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    cms_card = cms_card_path(args.delphes_dir)
    seed = derive_seed(args.seed, "detector", args.sample, args.chunk)
    args.output.write_text(patch_cms_card(cms_card.read_text(), args.jet_radius, seed, source=str(cms_card)))


if __name__ == "__main__":
    main()
