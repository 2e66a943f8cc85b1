"""The conda environments of the workflow (envs/<name>.yaml, for ``--sdm conda``), written from pyproject.toml.

pyproject.toml is the one list of dependencies: ``[project] dependencies`` and the optional-dependency groups hold the
pins, and ``[tool.weak-supervision-pipeline.environments.<name>]`` names what each environment holds::

    [tool.weak-supervision-pipeline.environments.generation]
    description = "What the environment is for (becomes the file's header comment)."
    pip = ["pythia8mc", "fastjet", "numpy"]       # distribution names only; the pins come from the project
    conda = ["make", "fortran-compiler"]          # optional: conda-forge packages besides python and pip

    python -m workflow_scripts.core.environments           # write envs/*.yaml
    python -m workflow_scripts.core.environments --check   # exit 1 and name every environment that differs

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import tomllib
from pathlib import Path

TOOL = "weak-supervision-pipeline"
TABLE = f"tool.{TOOL}.environments"
COMMAND = "python -m workflow_scripts.core.environments"
CHANNELS = ("conda-forge",)
ENV_DIR = "envs"
KEYS = {"description", "pip", "conda"}

# A PEP 508 requirement: its name, optional extras, then the rest (version specifiers, markers).
REQUIREMENT = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)")
# A YAML plain scalar that needs no quotes (requirement strings such as numpy>=2.4,<3).
PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._<>=!~,*+-]*")


def default_root() -> Path:
    """The checkout holding this file (workflow_scripts/core/environments.py -> the repository root)."""
    return Path(__file__).resolve().parents[2]


def canonical_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): PyYAML, pyyaml and py_yaml are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = REQUIREMENT.fullmatch(requirement)
    if match is None:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    return canonical_name(match.group(1))


def project_pins(pyproject: dict) -> dict[str, str]:
    """Each dependency of the project (``dependencies`` and every optional group) by canonical name -> the requirement
    string as written. The project's own extras (``weak-supervision-pipeline[stack]``) are skipped; a name pinned
    differently in two places is an error."""
    project = pyproject["project"]
    own = canonical_name(project["name"])
    pins: dict[str, str] = {}
    groups = [project.get("dependencies", []), *project.get("optional-dependencies", {}).values()]
    for requirement in (line.strip() for group in groups for line in group):
        name = requirement_name(requirement)
        if name == own:
            continue
        if pins.setdefault(name, requirement) != requirement:
            raise ValueError(f"pyproject.toml pins {name} twice, differently: {pins[name]!r} and {requirement!r}")
    return pins


def python_version(pyproject: dict) -> str:
    """The conda python spec from requires-python's lower bound (">=3.11,<3.12" -> "3.11")."""
    requires = pyproject["project"].get("requires-python", "")
    match = re.search(r">=\s*(\d+\.\d+)", requires)
    if match is None:
        raise ValueError(f"requires-python {requires!r} has no lower bound (>=X.Y) to give the environments")
    return match.group(1)


def environment_table(pyproject: dict) -> dict[str, dict]:
    table = pyproject.get("tool", {}).get(TOOL, {}).get("environments")
    if not table:
        raise ValueError(f"pyproject.toml has no [{TABLE}] table")
    for name, spec in table.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ValueError(f"[{TABLE}]: {name!r} is not a usable file name")
        unknown = set(spec) - KEYS
        if unknown:
            raise ValueError(f"[{TABLE}.{name}]: unknown keys {sorted(unknown)} (known: {sorted(KEYS)})")
        for key in ("pip", "conda"):
            if not isinstance(spec.get(key, []), list) or not all(isinstance(item, str) for item in spec.get(key, [])):
                raise ValueError(f"[{TABLE}.{name}]: {key} must be a list of strings")
    return table


def pip_requirements(name: str, spec: dict, pins: dict[str, str]) -> list[str]:
    """The environment's pip requirements with the project's pins, sorted by name."""
    requirements = {}
    for entry in spec.get("pip", []):
        match = REQUIREMENT.fullmatch(entry)
        if match is None or match.group(2) or match.group(3):
            raise ValueError(f"[{TABLE}.{name}]: {entry!r}: list distribution names only, the pins come from [project]")
        key = canonical_name(entry)
        if key not in pins:
            raise ValueError(f"[{TABLE}.{name}]: {entry} is not a dependency of the project ([project] dependencies "
                             f"or an optional-dependency group), so it has no pin")
        if key in requirements:
            raise ValueError(f"[{TABLE}.{name}]: {entry} is listed twice")
        requirements[key] = pins[key]
    return [requirements[key] for key in sorted(requirements)]


def yaml_scalar(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar.
    return text if PLAIN.fullmatch(text) else json.dumps(text)


def render(name: str, spec: dict, pins: dict[str, str], python: str) -> str:
    """The text of envs/<name>.yaml."""
    lines = [f"# Generated by `{COMMAND}` from pyproject.toml: do not edit. Edit its table",
             f"# [{TABLE}.{name}] (pins: [project] dependencies) and rerun; tests/test_envs.py checks."]
    description = " ".join(spec.get("description", "").split())
    if description:
        lines += ["#", *textwrap.wrap(description, width=118, initial_indent="# ", subsequent_indent="# ",
                                      break_long_words=False, break_on_hyphens=False)]
    lines += ["channels:", *(f"  - {channel}" for channel in CHANNELS), "dependencies:", f"  - python={python}"]
    conda = spec.get("conda", [])
    if len({canonical_name(entry) for entry in conda}) != len(conda):
        raise ValueError(f"[{TABLE}.{name}]: conda lists a package twice")
    lines += [f"  - {yaml_scalar(entry.strip())}" for entry in sorted(conda, key=canonical_name)]
    lines.append("  - pip")
    requirements = pip_requirements(name, spec, pins)
    if requirements:
        lines += ["  - pip:", *(f"      - {yaml_scalar(requirement)}" for requirement in requirements)]
    return "\n".join(lines) + "\n"


def load_pyproject(root: Path) -> dict:
    path = Path(root) / "pyproject.toml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (pass --root, the repository root)")
    return tomllib.loads(path.read_text())


def environments(root: Path | None = None) -> dict[Path, str]:
    """Each environment file of the checkout at `root` -> the text it must hold."""
    root = default_root() if root is None else Path(root)
    pyproject = load_pyproject(root)
    pins, python = project_pins(pyproject), python_version(pyproject)
    return {root / ENV_DIR / f"{name}.yaml": render(name, spec, pins, python)
            for name, spec in environment_table(pyproject).items()}


def differing(root: Path | None = None) -> list[str]:
    """Problems of envs/ against pyproject.toml, one line each: environments missing or differing, and files in envs/
    that no table entry generates. Empty when they agree."""
    root = default_root() if root is None else Path(root)
    expected = environments(root)
    problems = []
    for path, text in expected.items():
        if not path.is_file():
            problems.append(f"{path.relative_to(root)}: missing")
        elif path.read_text() != text:
            problems.append(f"{path.relative_to(root)}: differs from pyproject.toml")
    for path in sorted((root / ENV_DIR).glob("*.yaml")):
        if path not in expected:
            problems.append(f"{path.relative_to(root)}: not in [{TABLE}] (add it there or delete the file)")
    return problems


def write(root: Path | None = None) -> list[Path]:
    """Write every environment file whose text changed; returns those written."""
    written = []
    for path, text in environments(root).items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Write envs/<name>.yaml from pyproject.toml.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming every environment that differs")
    parser.add_argument("--root", type=Path, default=default_root(),
                        help="the repository root holding pyproject.toml and envs/ (default: this checkout)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.check:
        problems = differing(args.root)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"run `{COMMAND}` to regenerate", file=sys.stderr)
        return 1 if problems else 0
    for path in write(args.root):
        print(f"wrote {path.relative_to(args.root)}")
    for problem in differing(args.root):  # only files that no entry generates can remain
        print(problem, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
