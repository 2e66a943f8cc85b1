"""Shared test inputs: toy jet images that a small CNN can tell apart, and the workflow's rules as Snakemake reads them."""

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def make_prong_images(n, two_prong, rng, npix=16):
    """Toy jets: one hard pixel (background) or two separated hard pixels (signal), with noise."""
    images = rng.exponential(0.2, size=(n, 2, npix, npix)).astype(np.float32)
    images[:, :, npix // 2, npix // 2] += 50.0
    if two_prong:
        images[:, :, npix // 2, npix // 2 + 4] += 30.0
    return images


def make_toy_data(rng, n=400):
    x = np.concatenate([make_prong_images(n, False, rng), make_prong_images(n, True, rng)])
    y = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


@pytest.fixture
def prong_images():
    return make_prong_images


@pytest.fixture
def toy_data():
    return make_toy_data


@dataclass(frozen=True)
class WorkflowRule:
    name: str
    env: Path | None  # the conda environment file, resolved
    env_spec: object  # the conda: directive as given (a function when it cannot be resolved statically)
    shellcmd: str | None
    outputs: tuple[str, ...]  # the output patterns, wildcards unexpanded (relative to the working directory)


def load_rules(snakefile: Path, configfile: Path, workdir: Path) -> list[WorkflowRule]:
    """Every rule of the workflow, parsed by Snakemake itself (includes, `use rule ... with:`, config-dependent
    rules as this config defines them)."""
    cwd, path = os.getcwd(), list(sys.path)  # the API changes directory; the Snakefile extends sys.path
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*CONDOR_CONFIG.*")  # the HTCondor plugin, imported on loading
            from snakemake.api import SnakemakeApi
            from snakemake.settings.enums import Quietness
            from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

            with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
                workflow = api.workflow(resource_settings=ResourceSettings(),
                                        config_settings=ConfigSettings(configfiles=[configfile]),
                                        storage_settings=StorageSettings(), snakefile=snakefile, workdir=workdir)._workflow
                rules = []
                for rule in workflow.rules:
                    env = None
                    if isinstance(rule.conda_env, (str, Path)):  # a path relative to the file that defines the rule
                        env = (Path(str(rule.basedir)) / str(rule.conda_env)).resolve()
                    outputs = tuple(str(output) for output in rule.output)
                    rules.append(WorkflowRule(rule.name, env, rule.conda_env, rule.shellcmd, outputs))
                return rules
    finally:
        os.chdir(cwd)
        sys.path[:] = path


@pytest.fixture(scope="session")
def workflow_rules(tmp_path_factory):
    """The rules of the workflow on the tiny config."""
    return load_rules(ROOT / "Snakefile", TINY, tmp_path_factory.mktemp("workflow"))


def repository_files() -> list[str]:
    """The files a fresh clone has (tracked, or new and not ignored), relative to the repository."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    return [name for name in listed if name and (ROOT / name).is_file()]


@pytest.fixture(scope="session")
def fresh_checkout():
    """A function copying the repository's files, as a fresh clone has them, into a directory; returns it."""
    def copy(destination: Path) -> Path:
        for name in repository_files():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
        return destination
    return copy
