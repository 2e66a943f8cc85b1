"""Building the plan: formatted rule files, and no training stack needed where the plan is built."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def test_rule_files_are_formatted():
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "--diff", "Snakefile", "rules"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_dry_run_does_not_import_torch(tmp_path):
    """A cluster's submit host builds the plan: it must not need torch (nor pay for importing it)."""
    blocker = tmp_path / "blocked" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("torch imported while planning")\n')
    environment = os.environ | {"PYTHONPATH": str(blocker.parent)}
    command = [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path / "run"),
               "--configfile", str(TINY), "--cores", "1", "all"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_cwola" in result.stdout + result.stderr  # the plan reached the trainings
    # and the blocker works: importing torch through it fails
    check = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, env=environment)
    assert "torch imported while planning" in check.stderr
