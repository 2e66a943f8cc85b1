"""The config schema: the shipped configs pass, mistakes are reported by key."""

from pathlib import Path

import pytest
import yaml

from workflow_scripts.core.config import ConfigError, validate_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow_scripts" / "core" / "schemas" / "config.schema.yaml"


def load(path):
    return yaml.safe_load(Path(path).read_text())


def merged(base, update):
    out = dict(base)
    for key, value in update.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and key in base else value
    return out


@pytest.mark.parametrize("path", [ROOT / "config.yaml", ROOT / "tests" / "configs" / "tiny.yaml"])
def test_shipped_configs_are_valid(path):
    validate_config(load(path), SCHEMA)


@pytest.mark.parametrize("preset", sorted((ROOT / "presets").glob("*.yaml")), ids=lambda p: p.name)
def test_presets_merged_onto_default_are_valid(preset):
    validate_config(merged(load(ROOT / "config.yaml"), load(preset)), SCHEMA)


def test_unknown_key_is_named():
    config = load(ROOT / "config.yaml")
    config["cohen2018_toy"]["n_per_sett"] = 5
    with pytest.raises(ConfigError, match=r"cohen2018_toy: Additional properties .*'n_per_sett'"):
        validate_config(config, SCHEMA)


def test_wrong_type_is_named_with_its_path():
    config = load(ROOT / "config.yaml")
    config["cohen2018_toy"]["network"]["epochs"] = "many"
    with pytest.raises(ConfigError, match=r"config key cohen2018_toy\.network\.epochs: 'many' is not of type 'integer'"):
        validate_config(config, SCHEMA)


def test_bad_choice_is_named():
    config = load(ROOT / "config.yaml")
    config["training"]["device"] = "tpu"
    with pytest.raises(ConfigError, match=r"config key training\.device"):
        validate_config(config, SCHEMA)
