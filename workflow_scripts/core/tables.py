"""Small operations on the tidy metrics tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from workflow_scripts.core.files import write_csv


def concat_csv(paths, output) -> pd.DataFrame:
    """Stack tidy CSVs with the same meaning (one row per training) into one file."""
    if not paths:
        raise ValueError("no CSV files to concatenate")
    table = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    write_csv(table, output)
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.core.tables")
    sub = parser.add_subparsers(dest="command", required=True)
    concat = sub.add_parser("concat", help="stack CSV files into one")
    concat.add_argument("inputs", nargs="+", type=Path)
    concat.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    concat_csv(args.inputs, args.output)


if __name__ == "__main__":
    main()
