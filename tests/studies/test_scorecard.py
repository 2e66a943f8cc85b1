"""The reproduction scorecard: the claims file, the verdict logic on hand-made values, and its errors."""

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from workflow_scripts.studies import scorecard
from workflow_scripts.studies.scorecard import AGREES, DEVIATES, INCONSISTENT, UNTESTABLE, Measured, verdict

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = ROOT / "papers" / "claims.yaml"
PAPERS = {"cohen2018": ROOT.parent / "shared" / "papers" / "weak-supervision-cohen-freytsis-ostdiek-jhep2018.txt",
          "cwola": ROOT.parent / "shared" / "papers" / "cwola-transfer-meta-beauchesne-chen-chiang.txt"}


# --- verdicts on hand-made values ----------------------------------------------------------------------------------

def test_a_value_within_two_combined_sigma_agrees_and_beyond_deviates_by_its_pull():
    assert verdict(0.977, 0.0, Measured(0.9751, 0.001), tolerance=0.0) == (AGREES, pytest.approx(-1.9))
    outcome, pull = verdict(0.977, 0.0, Measured(0.970, 0.001))
    assert outcome == DEVIATES and pull == pytest.approx(-7.0)
    # The paper's uncertainty and the tolerance add in quadrature to the run's.
    assert verdict(1.0, 3.0, Measured(11.0, 0.0), tolerance=4.0) == (AGREES, pytest.approx(2.0))
    assert verdict(1.0, 3.0, Measured(12.0, 0.0), tolerance=4.0) == (DEVIATES, pytest.approx(2.2))


def test_a_range_read_off_a_figure_agrees_inside_and_deviates_by_the_distance_outside():
    assert verdict([2.0, 5.0], 0.0, Measured(3.0, 0.5)) == (AGREES, 0.0)
    assert verdict([2.0, 5.0], 0.0, Measured(1.2, 0.5)) == (AGREES, pytest.approx(-1.6))
    outcome, pull = verdict([2.0, 5.0], 0.0, Measured(1.0, 0.25))
    assert outcome == DEVIATES and pull == pytest.approx(-4.0)
    outcome, pull = verdict([1.0, 1.5], 0.0, Measured(2.5, 0.1))
    assert outcome == DEVIATES and pull == pytest.approx(10.0)


def test_too_few_statistics_or_too_large_an_uncertainty_make_a_claim_untestable():
    # Below half the paper's training events: a deviation there says nothing about the paper.
    assert verdict(0.9999, 1e-6, Measured(0.99, 1e-4, statistics=2448), paper_statistics=531117)[0] == UNTESTABLE
    assert verdict(0.9999, 1e-6, Measured(0.99, 1e-4, statistics=400000), paper_statistics=531117)[0] == DEVIATES
    assert verdict(0.019, 0.0, Measured(0.02, 0.05), largest_uncertainty=0.01)[0] == UNTESTABLE
    # No background event passing the cut: its Monte Carlo error of zero is no error.
    assert verdict(0.019, 0.0, Measured(0.0, 0.0, statistics=0), minimum_run_statistics=10)[0] == UNTESTABLE
    assert verdict(0.019, 0.0, Measured(math.nan, math.inf))[0] == UNTESTABLE


# --- the claims file -----------------------------------------------------------------------------------------------

def claims():
    return yaml.safe_load(CLAIMS.read_text())["claims"]


def test_every_claim_names_its_place_in_the_paper_its_value_and_how_the_run_computes_it():
    ids = [claim["id"] for claim in claims()]
    assert len(ids) == len(set(ids)) and len(ids) >= 15
    for claim in claims():
        assert {"id", "study", "paper", "where", "quantity", "statement", "value"} <= set(claim), claim["id"]
        assert claim["paper"] in PAPERS and claim["study"] in {"cohen2018_toy", "cohen2018_lhc", "cwola"}
        assert re.search(r"(Sec|Table|Fig)\.? ?\d", claim["where"]), claim["id"]
        assert ("run" in claim) != ("finding" in claim), claim["id"]
        if "finding" in claim:
            assert re.search(r"\d+ [x/] \d|= \d", claim["finding"]), f"{claim['id']}: a finding carries its arithmetic"
        else:
            assert claim["run"]["measure"] in scorecard.MEASURES, claim["id"]
            assert "uncertainty_meaning" in claim and "setup" in claim, claim["id"]
            if claim.get("paper_statistics") or claim.get("largest_uncertainty") or claim.get("minimum_run_statistics"):
                assert (ROOT / claim["tested_by"]).is_file(), claim["id"]


def test_every_claim_quotes_its_paper():
    """The statement is the paper's own words (whitespace and the papers' text-extraction breaks aside)."""
    texts = {}
    for paper, path in PAPERS.items():
        if not path.is_file():
            pytest.skip(f"{path} is missing")
        texts[paper] = re.sub(r"\s+", " ", path.read_text())
    for claim in claims():
        quoted = re.findall(r'"([^"]{12,})"', claim["statement"]) or [claim["statement"]]
        for quote in quoted:
            words = re.sub(r"\[[^]]*\]", "", quote).replace("5 sigma", "").split()[:6]
            assert " ".join(words) in texts[claim["paper"]].replace("  ", " "), (claim["id"], quote)


def test_every_claim_reads_a_file_a_rule_writes(workflow_rules):
    """A claim that cannot be computed from the files the studies write fails here, not silently in a run."""
    patterns = [re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(output)) + "$")
                for rule in workflow_rules for output in rule.outputs]
    files = {claim["run"]["file"] for claim in claims() if "run" in claim}
    files |= {claim["run"]["statistics"]["file"] for claim in claims()
              if "run" in claim and "file" in claim["run"].get("statistics", {})}
    for path in files:
        assert any(pattern.match(path) for pattern in patterns), path
    # ... and the figures a claim names are figures a rule draws, so their captions can name the claim.
    for figure in {figure for claim in claims() for figure in claim.get("figures", [])}:
        assert any(pattern.match(f"results/figures/{figure}.pdf") for pattern in patterns), figure


# --- the scorecard on files ----------------------------------------------------------------------------------------

TRAININGS = pd.DataFrame({"mismodelling": ["none"] * 4, "supervision": ["full", "full", "weak", "weak"],
                          "auc": [0.9990, 0.9992, 0.9980, 0.9984], "n_train": [600000] * 4})


def claim(**run):
    return {"id": "test.auc_full", "study": "cohen2018_lhc", "paper": "cohen2018", "where": "Table 3",
            "quantity": "AUC", "value": 0.99992, "uncertainty": 0.00001, "paper_statistics": 531117,
            "run": {"measure": "mean_over_rows", "file": "trainings.csv", "select": {"supervision": "full"},
                    "column": "auc", "statistics": {"column": "n_train"}} | run}


def test_the_scorecard_computes_a_claim_from_its_file(tmp_path):
    TRAININGS.to_csv(tmp_path / "trainings.csv", index=False)
    row = scorecard.scorecard([claim()], tmp_path).iloc[0]
    assert row.run_value == pytest.approx(0.9991) and row.run_uncertainty == pytest.approx(0.0001)
    assert row.run_statistics == 600000 and row.verdict == DEVIATES and row.pull == pytest.approx(-(0.99992 - 0.9991) / np.hypot(1e-4, 1e-5))
    assert row.paper_text == "0.999920 +- 0.000010" and row.run_text == "0.99910 +- 0.00010"


@pytest.mark.parametrize("run, message", [
    ({"file": "missing.csv"}, "claim test.auc_full: missing.csv: file not found"),
    ({"statistics": {"file": "summary.csv", "column": "n"}}, "claim test.auc_full: summary.csv: file not found"),
    ({"column": "auroc"}, "claim test.auc_full: trainings.csv has no column 'auroc'"),
    ({"select": {"loss": "bce"}}, r"claim test.auc_full: trainings.csv has no column \['loss'\]"),
    ({"measure": "median"}, "claim test.auc_full: unknown measure 'median'"),
])
def test_a_claim_with_a_wrong_file_or_column_stops_the_scorecard_naming_it(tmp_path, run, message):
    TRAININGS.to_csv(tmp_path / "trainings.csv", index=False)
    with pytest.raises(scorecard.ClaimError, match=message):
        scorecard.scorecard([claim(**run)], tmp_path)


def test_a_study_point_the_run_does_not_have_makes_a_claim_untestable_and_says_why(tmp_path):
    TRAININGS.to_csv(tmp_path / "trainings.csv", index=False)
    row = scorecard.scorecard([claim(select={"supervision": "semi"}) | {"tested_by": "presets/x.yaml"}], tmp_path).iloc[0]
    assert row.verdict == UNTESTABLE
    assert row.detail == "this run has no rows of trainings.csv with {'supervision': 'semi'}. tested by presets/x.yaml."


def test_the_scorecard_command_writes_nothing_when_a_claim_fails(tmp_path):
    TRAININGS.to_csv(tmp_path / "trainings.csv", index=False)
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump({"claims": [claim(column="auroc")]}))
    result = subprocess.run([sys.executable, "-m", "workflow_scripts.studies.scorecard", "--claims", "claims.yaml",
                             "--output", "scorecard.csv"], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "claim test.auc_full" in result.stderr
    assert not (tmp_path / "scorecard.csv").exists()


def test_the_rule_waits_for_every_file_a_claim_reads():
    files = scorecard.claim_files(scorecard.load_claims(CLAIMS))
    assert "results/metrics/cwola/cwola_summary.csv" in files  # read only for the run's statistics
    assert "results/metrics/cohen2018_lhc/cut_flow.csv" in files


def test_findings_are_paper_inconsistent_and_a_missing_study_point_untestable(tmp_path):
    thresholds = pd.DataFrame({"method": ["cwola"] * 4 + ["transfer"] * 4, "resolution": [25] * 8,
                               "threshold_injection": [4.0, 4.4, 3.6, 4.0, 2.0, 2.2, 1.8, 2.0]})
    thresholds.to_csv(tmp_path / "thresholds.csv", index=False)
    transfer = {"id": "t", "study": "cwola", "paper": "cwola", "where": "Fig. 4", "quantity": "q", "value": [2.0, 5.0],
                "run": {"measure": "ratio_of_means", "file": "thresholds.csv", "column": "threshold_injection",
                        "numerator": {"method": "cwola"}, "denominator": {"method": "transfer"}, "groups": ["resolution"]}}
    resolution = transfer | {"id": "r", "value": [1.0, 1000.0],
                             "run": transfer["run"] | {"numerator": {"resolution": 75}, "denominator": {"resolution": 25}}}
    finding = {"id": "f", "study": "cwola", "paper": "cwola", "where": "Table 4", "quantity": "q", "value": 0.83,
               "finding": "0.6 x 473 359 / 336 876 = 0.843"}
    table = scorecard.scorecard([transfer, resolution, finding], tmp_path).set_index("claim")
    assert table.loc["t", "run_value"] == pytest.approx(2.0) and table.loc["t", "verdict"] == AGREES
    assert table.loc["r", "verdict"] == UNTESTABLE  # no 75x75 trainings in this run
    assert table.loc["f", "verdict"] == INCONSISTENT and "0.843" in table.loc["f", "detail"]
