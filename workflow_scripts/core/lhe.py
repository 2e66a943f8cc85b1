"""Les Houches event files: their text, and the cross section their <init> block states.

Standard library only: MadGraph jobs (workflow_scripts.external.madgraph) use it in the generator image too.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path


def open_text(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Les Houches file {path} does not exist")
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def cross_section(path) -> tuple[float, float]:
    """The cross section (pb) and its uncertainty that an LHE file's <init> block states: the sum of its processes'
    XSECUP, their XERRUP added in quadrature."""
    init = init_block(read_text(path), path)
    processes = [line.split() for line in init.strip().splitlines()[1:] if line.strip() and not line.lstrip().startswith("<")]
    try:
        values = [(float(fields[0]), float(fields[1])) for fields in processes]
    except (IndexError, ValueError) as error:
        raise ValueError(f"Les Houches file {path}: cannot read the <init> block's process lines") from error
    if not values:
        raise ValueError(f"Les Houches file {path}: the <init> block lists no process")
    return sum(x for x, _ in values), sum(e * e for _, e in values) ** 0.5


def read_text(path) -> str:
    stream = open_text(path)
    try:
        with stream:
            return stream.read()
    except (OSError, EOFError) as error:
        raise OSError(f"cannot read Les Houches file {path} (truncated?): {error}") from error


INIT_BLOCK = re.compile(r"<init>\n(.*?)</init>", re.DOTALL)


def init_block(text: str, path) -> str:
    match = INIT_BLOCK.search(text)
    if match is None:
        raise ValueError(f"Les Houches file {path} has no <init> block")
    return match[1]


def with_cross_section(text: str, cross_section_pb: float, error_pb: float, path="LHE file") -> str:
    """The LHE text with its <init> cross sections scaled to sum to `cross_section_pb` (each process keeps its share)
    and their uncertainties to add up to `error_pb` in quadrature."""
    lines = init_block(text, path).splitlines(keepends=True)
    n_processes = int(lines[0].split()[-1])
    process_lines = lines[1:1 + n_processes]
    fields = [line.split() for line in process_lines]
    total = sum(float(f[0]) for f in fields)
    errors = sum(float(f[1]) ** 2 for f in fields) ** 0.5
    rewritten = []
    for f in fields:
        share = float(f[0]) / total if total > 0 else 1.0 / n_processes
        error_share = float(f[1]) / errors if errors > 0 else n_processes ** -0.5
        rewritten.append(f"{share * cross_section_pb:.6e} {error_share * error_pb:.6e} {float(f[2]):.6e} {f[3]}\n")
    block = "".join([lines[0], *rewritten, *lines[1 + n_processes:]])
    return INIT_BLOCK.sub(lambda _: f"<init>\n{block}</init>", text, count=1)
