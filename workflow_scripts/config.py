"""Validating the workflow configuration with messages that name the offending key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    pass


def validate_config(config: dict, schema_path) -> None:
    """Raise ConfigError listing every violation as `key.path: problem`."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda error: list(error.absolute_path))
    if errors:
        lines = []
        for error in errors:
            key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
            lines.append(f"  config key {key}: {error.message}")
        raise ConfigError("invalid configuration (see workflow_scripts/schemas/config.schema.yaml):\n" + "\n".join(lines))
