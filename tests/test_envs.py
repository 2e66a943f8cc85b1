"""The conda environments pin the same versions as pyproject.toml."""

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PINS = {Requirement(line).name: Requirement(line).specifier
        for line in [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["stack"]]}


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_match_pyproject(env):
    dependencies = yaml.safe_load(env.read_text())["dependencies"]
    assert "python=3.11" in dependencies
    pip_section = next(item["pip"] for item in dependencies if isinstance(item, dict))
    for line in pip_section:
        requirement = Requirement(line)
        assert requirement.name in PINS, f"{env.name}: {requirement.name} is not a project dependency"
        assert requirement.specifier == PINS[requirement.name], f"{env.name}: {line} differs from pyproject.toml"


def test_every_rule_names_an_existing_env():
    for rules in (ROOT / "rules").glob("*.smk"):
        for line in rules.read_text().splitlines():
            if line.strip().startswith('"../envs/'):
                assert (rules.parent / line.strip().strip('",')).exists(), f"{rules.name}: {line.strip()}"
