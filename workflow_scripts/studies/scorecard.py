"""The reproduction scorecard: every claim of papers/claims.yaml against this run's value, with a verdict.

A claim names the paper's value (a number with its uncertainty, or a range read off a figure), the setup the paper
used, and how the run computes the same quantity: a measure of this module (``MEASURES``) on files the studies write.
The verdict is one of

- ``agrees``: the run's value lies within two combined standard deviations of the paper's (its uncertainty, the run's
  and the claim's tolerance for what the two setups are allowed to differ in), or inside the paper's range;
- ``deviates``: outside that, with the pull in standard deviations;
- ``not testable at this run's statistics``: the run's statistics (the setup quantity the claim names) are below the
  claim's share of the paper's, or its uncertainty is too large to decide; the claim names the preset that tests it;
- ``paper inconsistent``: a finding, where the paper's own numbers contradict each other or its stated procedure;
  the claim carries the arithmetic.

A claim whose file, column or selection is missing stops the scorecard with an error naming the claim.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from workflow_scripts.core.files import atomic_output, read_table, write_csv

AGREES, DEVIATES, UNTESTABLE, INCONSISTENT = ("agrees", "deviates", "not testable at this run's statistics",
                                              "paper inconsistent")
AGREEMENT_SIGMA = 2.0
COLUMNS = ["claim", "paper", "where", "figures", "quantity", "paper_value", "paper_uncertainty", "run_value", "run_uncertainty",
           "tolerance", "verdict", "pull", "run_statistics", "paper_statistics", "detail", "paper_text", "run_text"]


class ClaimError(ValueError):
    """A claim the run cannot compute: names the claim and what is missing."""


@dataclass(frozen=True)
class Measured:
    value: float
    uncertainty: float
    statistics: float | None = None  # the run's setup quantity the claim's testability compares (events, trials)
    reason: str = ""  # why there is no value, when there is none
    detail: str = ""  # how the value and its uncertainty were made up, for the scorecard's detail column


def _absent(path, select: dict) -> Measured:
    """No value: this run's configuration has no such study point (a label, a resolution)."""
    return Measured(math.nan, math.inf, None, f"this run has no rows of {path} with {select}")


# --- verdicts ---------------------------------------------------------------------------------------------------

def verdict(paper_value, paper_uncertainty: float, run: Measured, tolerance: float = 0.0,
            paper_statistics: float | None = None, minimum_share: float = 0.5,
            largest_uncertainty: float | None = None, minimum_run_statistics: float | None = None) -> tuple[str, float]:
    """(verdict, pull) of a run's value against the paper's: a number, or a [low, high] range read off a figure.

    Not testable when the run's statistics are below `minimum_share` of the paper's or below
    `minimum_run_statistics` (e.g. too few events pass a cut for their weights' spread to be its error), or its
    uncertainty exceeds `largest_uncertainty` (a value that could not tell agreement from deviation)."""
    if not np.isfinite(run.value):
        return UNTESTABLE, math.nan
    if run.statistics is not None and (
            (paper_statistics and run.statistics < minimum_share * paper_statistics)
            or (minimum_run_statistics and run.statistics < minimum_run_statistics)):
        return UNTESTABLE, math.nan
    if largest_uncertainty is not None and not run.uncertainty <= largest_uncertainty:
        return UNTESTABLE, math.nan
    sigma = math.sqrt(run.uncertainty ** 2 + (paper_uncertainty or 0.0) ** 2 + tolerance ** 2)
    if isinstance(paper_value, (list, tuple)):
        low, high = paper_value
        distance = low - run.value if run.value < low else run.value - high if run.value > high else 0.0
        pull = math.copysign(distance / sigma, run.value - low) if sigma > 0 else (math.inf if distance else 0.0)
    else:
        difference = run.value - paper_value
        pull = difference / sigma if sigma > 0 else (0.0 if difference == 0 else math.copysign(math.inf, difference))
    return (AGREES if abs(pull) <= AGREEMENT_SIGMA else DEVIATES), pull


# --- measures: how the run computes a claim's quantity ------------------------------------------------------------

def _rows(claim_id: str, table: pd.DataFrame, path, select: dict, required: bool = True) -> pd.DataFrame:
    """The rows with the selected values; a missing column is an error naming the claim, and so are no rows where
    `required` (elsewhere a study point this run's configuration does not have, which makes the claim untestable
    rather than wrong; the tiny workflow test checks that every claim finds its rows)."""
    missing = sorted(set(select) - set(table.columns))
    if missing:
        raise ClaimError(f"claim {claim_id}: {path} has no column {missing}")
    mask = np.ones(len(table), dtype=bool)
    for column, wanted in select.items():
        mask &= table[column].isin(wanted if isinstance(wanted, list) else [wanted]).to_numpy()
    if required and not mask.any():
        raise ClaimError(f"claim {claim_id}: no row of {path} has {select}")
    return table[mask]


def _column(claim_id: str, rows: pd.DataFrame, path, column: str) -> np.ndarray:
    if column not in rows.columns:
        raise ClaimError(f"claim {claim_id}: {path} has no column '{column}'")
    return rows[column].to_numpy(dtype=float)


def _statistics(claim_id: str, spec: dict, rows: pd.DataFrame, path, read) -> float | None:
    """The run's setup number a claim's testability compares with the paper's: the mean over the measured rows (or
    over a file of its own) of a column, or of the sum of several."""
    if not spec:
        return None
    if "file" in spec:
        path, rows = read(spec["file"])
    columns = spec.get("columns", [spec.get("column")])
    return float(np.mean(sum(_column(claim_id, rows, path, column) for column in columns)))


def mean_over_rows(claim_id: str, spec: dict, read) -> Measured:
    """The mean of a column over the selected rows (trainings, trials), with its standard error."""
    path, table = read(spec["file"])
    rows = _rows(claim_id, table, path, spec.get("select", {}), required=False)
    if rows.empty:
        return _absent(path, spec.get("select", {}))
    values = _column(claim_id, rows, path, spec["column"])
    error = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else math.inf
    return Measured(float(np.mean(values)), error, _statistics(claim_id, spec.get("statistics"), rows, path, read))


def ratio_of_means(claim_id: str, spec: dict, read) -> Measured:
    """mean(column | numerator) / mean(column | denominator) over the selected rows, averaged over `groups` (e.g.
    resolutions) with equal weight, with the standard errors propagated. Rows with a missing value (an injection
    that never reached the target) are left out."""
    path, table = read(spec["file"])
    rows = _rows(claim_id, table, path, spec.get("select", {}), required=False)
    groups = spec.get("groups", [])
    missing = sorted(set(groups) - set(rows.columns))
    if missing:
        raise ClaimError(f"claim {claim_id}: {path} has no column {missing}")
    _column(claim_id, rows, path, spec["column"])
    statistics = _statistics(claim_id, spec.get("statistics"), rows, path, read)
    ratios, errors = [], []
    for _, group in (rows.groupby(groups) if groups else [(None, rows)]):
        parts = []
        for side in ("numerator", "denominator"):
            values = _column(claim_id, _rows(claim_id, group, path, spec[side], required=False), path, spec["column"])
            values = values[np.isfinite(values)]
            if len(values) < 2:
                parts = None
                break
            parts.append((values.mean(), values.std(ddof=1) / np.sqrt(len(values))))
        if parts is None:
            continue
        (top, top_error), (bottom, bottom_error) = parts
        ratio = top / bottom
        ratios.append(ratio)
        errors.append(abs(ratio) * math.hypot(top_error / top, bottom_error / bottom))
    if not ratios:
        return Measured(math.nan, math.inf, statistics, f"no study point of {path} has both {spec['numerator']} and "
                        f"{spec['denominator']} with at least two values")
    return Measured(float(np.mean(ratios)), float(np.sqrt(np.sum(np.square(errors))) / len(errors)), statistics)


def table_value(claim_id: str, spec: dict, read) -> Measured:
    """One row's value of a column, with the uncertainty column the claim names (none: exact)."""
    path, table = read(spec["file"])
    rows = _rows(claim_id, table, path, spec.get("select", {}), required=False)
    if rows.empty:
        return _absent(path, spec.get("select", {}))
    if len(rows) != 1:
        raise ClaimError(f"claim {claim_id}: {len(rows)} rows of {path} have {spec.get('select', {})}, expected one")
    error = float(_column(claim_id, rows, path, spec["uncertainty_column"])[0]) if "uncertainty_column" in spec else 0.0
    return Measured(float(_column(claim_id, rows, path, spec["column"])[0]), error,
                    _statistics(claim_id, spec.get("statistics"), rows, path, read))


def set_fraction(claim_id: str, spec: dict, read) -> Measured:
    """The signal fraction of a weak-supervision set holding `signal_share` of the selected signal and
    `background_share` of the selected background, at the paper's generated events (`generated`) and this run's
    selection efficiencies (a cut-flow table: rows `signal` and `background`, columns efficiency and its error)."""
    path, table = read(spec["file"])
    parts = {}
    for name in ("signal", "background"):
        row = _rows(claim_id, table, path, {"sample": name})
        share = spec[f"{name}_share"] * spec["generated"][name]
        parts[name] = (share * _column(claim_id, row, path, "efficiency")[0],
                       share * _column(claim_id, row, path, "efficiency_error")[0])
    (signal, signal_error), (background, background_error) = parts["signal"], parts["background"]
    total = signal + background
    # d f / d s = b / (s + b)^2, d f / d b = -s / (s + b)^2
    error = math.hypot(background * signal_error, signal * background_error) / total ** 2
    return Measured(signal / total, error)


def _gluino_measure(name: str):
    """A measure of studies.cohen2018_lhc.combination, imported when a claim uses it: the rules import this module to
    plan, and the combination imports torch. It returns Measured's fields as a dict."""
    def measure(claim_id: str, spec: dict, read) -> Measured:
        from workflow_scripts.studies.cohen2018_lhc import combination

        return Measured(**getattr(combination, name)(claim_id, spec, read))
    return measure


MEASURES = {"mean_over_rows": mean_over_rows, "ratio_of_means": ratio_of_means, "table_value": table_value,
            "set_fraction": set_fraction,
            "working_point_background": _gluino_measure("background_at_signal_measure"),
            "combination_reduction": _gluino_measure("reduction_measure")}


# --- the scorecard ----------------------------------------------------------------------------------------------

def load_claims(path, papers=None, studies=None) -> list[dict]:
    """The claims of `papers` whose study is one of `studies` (None: all)."""
    try:
        claims = yaml.safe_load(Path(path).read_text())["claims"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise ClaimError(f"cannot read the claims file {path}: {error}") from error
    return [claim for claim in claims if (papers is None or claim["paper"] in papers)
            and (studies is None or claim["study"] in studies)]


def claim_files(claims) -> list[str]:
    """Every file the claims read (their measures' and their statistics'), for the rule's inputs."""
    return sorted({path for claim in claims if "run" in claim
                   for path in (claim["run"]["file"], claim["run"].get("statistics", {}).get("file")) if path})


def score(claim: dict, read) -> dict:
    row = {"claim": claim["id"], "paper": claim["paper"], "where": claim["where"],
           "figures": " ".join(claim.get("figures", [])), "quantity": claim["quantity"],
           "paper_value": claim.get("value"), "paper_uncertainty": claim.get("uncertainty"),
           "tolerance": claim.get("tolerance", 0.0), "paper_statistics": claim.get("paper_statistics"),
           "run_value": math.nan, "run_uncertainty": math.nan, "run_statistics": math.nan, "pull": math.nan}
    if "finding" in claim:
        return row | {"verdict": INCONSISTENT, "detail": " ".join(claim["finding"].split())}
    spec = claim["run"]
    if spec["measure"] not in MEASURES:
        raise ClaimError(f"claim {claim['id']}: unknown measure '{spec['measure']}' (known: {sorted(MEASURES)})")
    try:
        measured = MEASURES[spec["measure"]](claim["id"], spec, read)
    except FileNotFoundError as error:
        raise ClaimError(f"claim {claim['id']}: {error}") from error
    outcome, pull = verdict(claim["value"], claim.get("uncertainty") or 0.0, measured, claim.get("tolerance", 0.0),
                            claim.get("paper_statistics"), claim.get("minimum_share", 0.5),
                            claim.get("largest_uncertainty"), claim.get("minimum_run_statistics"))
    detail = " ".join(part for part in (measured.detail, " ".join(claim.get("note", "").split())) if part)
    if outcome == UNTESTABLE:
        detail = " ".join(part for part in (measured.reason + "." if measured.reason else "",
                                            f"tested by {claim['tested_by']}." if claim.get("tested_by") else "",
                                            detail) if part)
    elif outcome == DEVIATES:
        detail = f"{pull:+.1f} sigma. " + detail
    return row | {"run_value": measured.value, "run_uncertainty": measured.uncertainty,
                  "run_statistics": measured.statistics if measured.statistics is not None else math.nan,
                  "verdict": outcome, "pull": pull, "detail": detail.strip()}


def scorecard(claims: list[dict], workdir=".") -> pd.DataFrame:
    cache = {}

    def read(name):
        path = Path(workdir) / name
        if path not in cache:
            if not path.is_file():
                raise FileNotFoundError(f"{name}: file not found")
            cache[path] = read_table(path)[0] if path.suffix == ".parquet" else pd.read_csv(path)
        return name, cache[path]

    rows = [score(claim, read) for claim in claims]
    for row in rows:
        row["paper_text"] = _with_uncertainty(row["paper_value"], row["paper_uncertainty"])
        row["run_text"] = _with_uncertainty(row["run_value"], row["run_uncertainty"])
    return pd.DataFrame(rows, columns=COLUMNS)


def _number(value) -> str:
    if isinstance(value, list):
        return f"{value[0]:g} to {value[1]:g}"
    return "" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.6g}"


def _with_uncertainty(value, uncertainty) -> str:
    """The value to its uncertainty's second significant digit, and the uncertainty (none when zero or not finite)."""
    if isinstance(value, list) or value is None or not np.isfinite(value):
        return _number(value)
    if not uncertainty or not np.isfinite(uncertainty) or uncertainty < 1e-12 * abs(value):
        return _number(value)
    decimals = max(0, 1 - math.floor(math.log10(float(f"{uncertainty:.1e}"))))  # as rounded to two digits
    return f"{value:.{decimals}f} +- {uncertainty:.{decimals}f}"


def render_markdown(table: pd.DataFrame) -> str:
    """The scorecard as a Markdown table, for the README and the docs."""
    lines = ["| claim | where | paper | this run | verdict |", "| --- | --- | --- | --- | --- |"]
    for row in table.itertuples():
        lines.append(f"| {row.claim} | {row.where} | {row.paper_text} | {row.run_text} | {row.verdict}"
                     + (f": {row.detail}" if row.detail else "") + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.studies.scorecard", description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=Path, required=True, help="papers/claims.yaml")
    parser.add_argument("--papers", nargs="+", help="only these papers' claims (default: all)")
    parser.add_argument("--studies", nargs="+", help="only claims of these configured studies (default: all)")
    parser.add_argument("--output", type=Path, required=True, help="the scorecard (CSV)")
    parser.add_argument("--markdown", type=Path, help="the same as a Markdown table")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        table = scorecard(load_claims(args.claims, args.papers, args.studies))
    except ClaimError as error:
        sys.exit(f"error: {error}")
    write_csv(table, args.output)
    if args.markdown:
        with atomic_output(args.markdown) as temporary:
            Path(temporary).write_text(render_markdown(table))
    print(table[["claim", "verdict"]].to_string(index=False))


if __name__ == "__main__":
    main()
