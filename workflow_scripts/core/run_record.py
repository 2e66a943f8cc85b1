"""What a run is: its config files, seed, samples with their generator and detector, and the versions of the programs
that make its events. The report's front page (report/workflow.rst) shows it."""

from __future__ import annotations

import csv
import importlib.metadata
import os
from pathlib import Path

# The key under which the Snakefile hands the record to the report's template, which sees only the config. Not a
# config key a user writes: the schema has validated the config before it is set.
CONFIG_KEY = "_run"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe_run(config: dict, samples: dict[str, dict], configfiles, base_dir, tool_versions: dict[str, str]) -> dict:
    """The run as plain data. `samples` are the configured samples (the benchmark grid expanded); `tool_versions` the
    MadGraph and Delphes versions the workflow builds, listed only when a sample uses the tool."""
    base_dir = Path(base_dir)
    events_per_chunk = config["generation"]["events_per_chunk"]
    rows = []
    for name, sample in samples.items():
        rows.append({"name": name, "process": sample["process"], "generator": sample.get("generator", "pythia"),
                     "detector": sample.get("detector", "embedded"),
                     "events": sample["chunks"] * sample.get("events_per_chunk", events_per_chunk)})
    used = {row["generator"] for row in rows} | {row["detector"] for row in rows}
    versions = {"Snakemake": _version("snakemake"), "Pythia 8 (pythia8mc)": _version("pythia8mc")}
    if "madgraph" in used:
        versions["MadGraph5_aMC"] = tool_versions["madgraph"]
    if "delphes" in used:
        versions["Delphes"] = tool_versions["delphes"]

    def shown(path) -> str:  # relative to the workflow where it lies inside it, as the user wrote it otherwise
        path = Path(path)
        return os.path.relpath(path, base_dir) if path.is_absolute() and path.is_relative_to(base_dir) else str(path)

    return {"configfiles": [shown(path) for path in configfiles], "seed": config["seed"],
            "device": config["training"]["device"], "samples": rows, "versions": versions,
            "total_events": sum(row["events"] for row in rows)}


def scorecard_rows(whole, parts) -> list[dict]:
    """The scorecard's rows for the front page: the whole scorecard's file if it exists, else the papers' files that
    exist (an earlier run of a paper's target); empty before any."""
    paths = [path for path in whole if Path(path).is_file()] or [path for path in parts if Path(path).is_file()]
    rows = []
    for path in paths:
        with open(path, newline="") as stream:
            rows.extend(csv.DictReader(stream))
    return rows


def figure_claims(rows) -> dict[str, str]:
    """Per figure (its path under results/figures without the suffix, e.g. cohen2018/fig11_combination), a sentence
    naming the scorecard's claims the figure carries with their verdicts, for its caption."""
    carried: dict[str, list[str]] = {}
    for row in rows:
        for figure in (row.get("figures") or "").split():
            carried.setdefault(figure, []).append(f"``{row['claim']}`` ({row['verdict']})")
    return {figure: "Scorecard claims this figure carries: " + "; ".join(claims) + "."
            for figure, claims in carried.items()}
