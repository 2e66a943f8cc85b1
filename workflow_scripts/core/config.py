"""Validating the workflow configuration with messages that name the offending key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    pass


# The combined backend names of earlier versions, as the two choices that replaced them.
LEGACY_BACKENDS = {
    "embedded": {"generator": "pythia", "detector": "embedded"},
    "pythia-delphes": {"generator": "pythia", "detector": "delphes"},
    "madgraph-pythia-delphes": {"generator": "madgraph", "detector": "delphes"},
    "madgraph-embedded": {"generator": "madgraph", "detector": "embedded"},
}


def legacy_backend_errors(config: dict) -> list[str]:
    """A message per sample that still names a combined `backend`, saying what to write instead."""
    lines = []
    samples = config.get("generation", {}).get("samples", {})
    for name, sample in samples.items() if isinstance(samples, dict) else ():
        if isinstance(sample, dict) and "backend" in sample:
            key = f"config key generation.samples.{name}.backend"
            replacement = LEGACY_BACKENDS.get(sample["backend"])
            if replacement is None:
                lines.append(f"  {key}: `backend` was replaced by `generator: pythia | madgraph` and "
                             "`detector: embedded | delphes`")
            else:
                lines.append(f"  {key}: `backend: {sample['backend']}` was replaced by two choices; write "
                             f"`generator: {replacement['generator']}` and `detector: {replacement['detector']}`")
    return lines


def missing_image_errors(config: dict) -> list[str]:
    """A SIF file named in containers.generators must exist (relative paths from the working directory)."""
    image = config.get("containers", {}).get("generators") if isinstance(config.get("containers"), dict) else None
    if isinstance(image, str) and image.endswith(".sif") and not image.startswith("docker://") and not Path(image).is_file():
        return [f"  config key containers.generators: the SIF file {image} does not exist (make it from the image "
                "archive of rule generator_image: apptainer build generators.sif docker-archive:results/images/"
                "generators.tar; see docs/containers.md)"]
    return []


def validate_config(config: dict, schema_path) -> None:
    """Raise ConfigError listing every violation as `key.path: problem`."""
    # What the schema cannot say: a replaced key, a file that must exist.
    problems = legacy_backend_errors(config) + missing_image_errors(config)
    if problems:
        raise ConfigError("invalid configuration (see workflow_scripts/core/schemas/config.schema.yaml):\n" + "\n".join(problems))
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda error: list(error.absolute_path))
    if errors:
        lines = []
        for error in errors:
            key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
            lines.append(f"  config key {key}: {error.message}")
        raise ConfigError("invalid configuration (see workflow_scripts/core/schemas/config.schema.yaml):\n" + "\n".join(lines))
