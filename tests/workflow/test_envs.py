"""The conda environments (envs/*.yaml, for --sdm conda) are generated from pyproject.toml, and each rule's environment
holds every third-party distribution that the rule's Python modules import.

The rules come from the workflow itself, loaded with Snakemake's API on the tiny config; for every rule with a
``conda:`` environment, each ``python -m <module>`` of its shell command is read with ``ast`` (imports inside functions
too), following the ``workflow_scripts`` modules it imports, transitively.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import os
import re
import shlex
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from workflow_scripts.core import environments

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "workflow_scripts"
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


# ---------------------------------------------------------------- static import analysis


@dataclass(frozen=True)
class Import:
    name: str  # the top-level import name (yaml, ROOT, numpy)
    where: str  # file:line that imports it


def canonical(name: str) -> str:
    return environments.canonical_name(name)


def module_file(module: str, source_root: Path) -> Path | None:
    """The file that defines a module of the package: x/y.py, else x/y/__init__.py; None if neither exists."""
    path = source_root.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def is_package(module: str, source_root: Path) -> bool:
    return (source_root.joinpath(*module.split(".")) / "__init__.py").is_file()


def with_parents(module: str) -> list[str]:
    """a.b.c -> [a, a.b, a.b.c]: importing a module first runs each package __init__ on its path."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def runtime_nodes(tree: ast.AST):
    """Every node of a module, as ast.walk, except the bodies of ``if TYPE_CHECKING:`` blocks (never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, module: str, source_root: Path) -> tuple[set[str], list[Import], list[str]]:
    """What one file imports, anywhere in it (module level, functions, methods; not under ``if TYPE_CHECKING:``):
    the package's own modules (each with its parent packages), the top-level names of every other import, and the
    imports that name a module of the package that does not exist."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    internal: set[str] = set()
    external: list[Import] = []
    broken: list[str] = []

    def where(node):
        return f"{path.relative_to(source_root)}:{node.lineno}"

    def add_internal(name, node, imported_names=()):
        if module_file(name, source_root) is None:
            broken.append(f"{where(node)} imports {name}, which does not exist")
            return
        internal.update(with_parents(name))
        for sub in imported_names:  # from workflow_scripts.x import y: module y if it exists, else a name in x
            if module_file(f"{name}.{sub}", source_root) is not None:
                internal.add(f"{name}.{sub}")

    for node in runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    add_internal(alias.name, node)
                else:
                    external.append(Import(alias.name.split(".")[0], where(node)))
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names if alias.name != "*"]
            if node.level:  # relative: from . import y, from ..x import y
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                add_internal(target, node, names)
            elif node.module.split(".")[0] == PACKAGE:
                add_internal(node.module, node, names)
            else:
                external.append(Import(node.module.split(".")[0], where(node)))
    return internal, external, broken


def third_party_imports(module: str, source_root: Path, main: bool = False) -> tuple[list[Import], list[str]]:
    """Every third-party import that running `module` (``python -m module`` with main=True) can reach: the module,
    its parent packages' __init__s and, transitively, every module of the package they import. Standard-library
    names and the package itself are left out. Also returns the problems met (modules that do not exist)."""
    if module.split(".")[0] != PACKAGE:
        return [], []  # not the package's own code (python -m pip, ...): nothing to follow
    if module_file(module, source_root) is None:
        return [], [f"module {module} does not exist under {source_root}"]
    todo = set(with_parents(module))
    if main and is_package(module, source_root):
        if module_file(f"{module}.__main__", source_root) is None:
            return [], [f"{module} is a package without __main__.py: python -m cannot run it"]
        todo.add(f"{module}.__main__")
    seen: set[str] = set()
    found: list[Import] = []
    problems: list[str] = []
    while todo:
        name = todo.pop()
        seen.add(name)
        internal, external, broken = imports_of(module_file(name, source_root), name, source_root)
        found += [item for item in external if item.name not in sys.stdlib_module_names and item.name != PACKAGE]
        problems += broken
        todo |= internal - seen
    return found, problems


@functools.cache
def installed_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # reads every installed distribution's metadata: slow


def distributions_of(import_name: str) -> set[str]:
    """The installed distributions that provide a top-level import name (yaml -> pyyaml, ROOT -> root), canonical.
    A name that nothing installed provides stands for a distribution of its own name."""
    provided = installed_distributions().get(import_name)
    return {canonical(name) for name in provided} if provided else {canonical(import_name)}


def missing_distributions(imports: list[Import], available: set[str]) -> dict[str, list[Import]]:
    """Distribution (canonical name) -> the imports of it, for each import that no listed distribution provides.
    `available` holds canonical names; an import counts only when its own distribution is listed directly (matplotlib
    must be listed even if mplhep would pull it in)."""
    missing: dict[str, list[Import]] = {}
    for item in imports:
        candidates = distributions_of(item.name)
        if not candidates & available:
            missing.setdefault(" or ".join(sorted(candidates)), []).append(item)
    return missing


def python_modules(shellcmd: str) -> list[str]:
    """The modules that a shell command runs with ``python -m`` (python, python3, /path/python3.11; any number of
    commands chained with ; && || | or newlines)."""
    try:
        lexer = shlex.shlex(shellcmd, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes in a placeholder-heavy command: fall back to whitespace
        tokens = shellcmd.split()
    modules = []
    for index, token in enumerate(tokens):
        if not _is_python(token):
            continue
        position = index + 1
        while position < len(tokens) and tokens[position].startswith("-"):
            option = tokens[position]
            module = tokens[position + 1] if option == "-m" and position + 1 < len(tokens) else option[2:]
            if option.startswith("-m"):
                if all(part.isidentifier() for part in module.split(".")):
                    modules.append(module)
                break
            if option == "-c":
                break
            position += 2 if option in ("-W", "-X") else 1
    return modules


def _is_python(token: str) -> bool:
    name = token.rsplit("/", 1)[-1]
    return name == "python" or (name.startswith("python") and name[6:].replace(".", "").isdigit())


def env_distributions(env_file: Path) -> set[str]:
    """Canonical names of what a conda environment file installs: its pip requirements and its conda packages."""
    provided = set()
    for item in yaml.safe_load(env_file.read_text())["dependencies"]:
        if isinstance(item, dict):
            provided |= {canonical(Requirement(line).name) for line in item.get("pip", [])}
        else:
            provided.add(canonical(re.split(r"[\s=<>!~]", item.strip())[0]))  # conda spec: name, then version
    return provided


# ---------------------------------------------------------------- the workflow's rules


@pytest.fixture(scope="module")
def conda_rules(workflow_rules):
    rules = [rule for rule in workflow_rules if rule.env_spec is not None]
    assert rules, "the workflow has no rule with a conda environment: is the loading broken?"
    return rules


# ---------------------------------------------------------------- tests: generated environments


def test_envs_on_disk_are_generated_from_pyproject():
    expected = environments.environments(ROOT)
    assert sorted(path.name for path in expected) == sorted(path.name for path in (ROOT / "envs").glob("*.yaml")), \
        "every envs/*.yaml is an entry of [tool.weak-supervision-pipeline.environments]"
    for path, text in expected.items():
        assert path.read_text() == text, f"{path.name} differs from pyproject.toml: run `{environments.COMMAND}`"
    assert environments.main(["--check", "--root", str(ROOT)]) == 0


def test_envs_pin_exactly_what_pyproject_pins():
    pyproject = environments.load_pyproject(ROOT)
    pins = {name: Requirement(line) for name, line in environments.project_pins(pyproject).items()}
    for path in (ROOT / "envs").glob("*.yaml"):
        dependencies = yaml.safe_load(path.read_text())["dependencies"]
        assert "python=3.11" in dependencies and "pip" in dependencies
        pip_section = next(item["pip"] for item in dependencies if isinstance(item, dict))
        assert pip_section == sorted(pip_section, key=lambda line: canonical(Requirement(line).name))
        for line in pip_section:
            assert Requirement(line).specifier == pins[canonical(Requirement(line).name)].specifier, (path.name, line)


def test_pip_install_of_the_project_installs_every_environment_package():
    """Every pip package of an environment comes from a group that ``pip install -e .[test]`` installs, so the
    tests run against what the jobs run with."""
    pyproject = environments.load_pyproject(ROOT)
    project = pyproject["project"]
    groups = [*project["dependencies"], *project["optional-dependencies"]["stack"]]
    installed = {canonical(Requirement(line).name) for line in groups}
    for name, spec in environments.environment_table(pyproject).items():
        assert {canonical(entry) for entry in spec.get("pip", [])} <= installed, name


def test_check_names_an_environment_that_differs(tmp_path, capsys):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert environments.main(["--root", str(tmp_path)]) == 0
    assert environments.main(["--check", "--root", str(tmp_path)]) == 0
    target = min((tmp_path / "envs").glob("*.yaml"))
    target.write_text(target.read_text().replace("  - pip:\n", "  - pip:\n      - left-over==1\n"))
    (tmp_path / "envs" / "stale.yaml").write_text("channels: []\n")
    capsys.readouterr()
    assert environments.main(["--check", "--root", str(tmp_path)]) == 1
    report = capsys.readouterr().err
    assert f"envs/{target.name}: differs" in report and "envs/stale.yaml: not in" in report
    environments.main(["--root", str(tmp_path)])
    assert f"envs/{target.name}" not in capsys.readouterr().err


def test_generator_takes_pins_from_the_project_and_rejects_unpinned_names():
    pyproject = {"project": {"name": "demo", "requires-python": ">=3.11,<3.12",
                             "dependencies": ["numpy>=2,<3", "PyYAML>=6"], "optional-dependencies": {"x": ["demo[y]"]}},
                 "tool": {environments.TOOL: {"environments": {"a": {"pip": ["pyyaml", "numpy"], "conda": ["make"]}}}}}
    pins = environments.project_pins(pyproject)
    text = environments.render("a", pyproject["tool"][environments.TOOL]["environments"]["a"], pins, "3.11")
    assert text.startswith("# Generated") and environments.COMMAND in text
    assert yaml.safe_load(text) == {"channels": ["conda-forge"],
                                    "dependencies": ["python=3.11", "make", "pip", {"pip": ["numpy>=2,<3", "PyYAML>=6"]}]}
    with pytest.raises(ValueError, match="scipy is not a dependency"):
        environments.pip_requirements("a", {"pip": ["scipy"]}, pins)
    with pytest.raises(ValueError, match="names only"):
        environments.pip_requirements("a", {"pip": ["numpy>=2"]}, pins)


# ---------------------------------------------------------------- tests: each rule's imports


def test_every_conda_env_of_the_workflow_is_generated(conda_rules):
    generated = set(environments.environments(ROOT))
    for rule in conda_rules:
        assert rule.env is not None, f"rule {rule.name}: conda env {rule.env_spec!r} cannot be checked statically"
        assert rule.env in generated, f"rule {rule.name}: {rule.env} is not generated from pyproject.toml"


def test_every_rule_env_holds_what_its_modules_import(conda_rules):
    analysed, problems = 0, []
    for rule in conda_rules:
        if rule.env is None or not rule.shellcmd:
            continue
        available = env_distributions(rule.env)
        for module in python_modules(rule.shellcmd):
            analysed += 1
            imports, broken = third_party_imports(module, ROOT, main=True)
            problems += [f"rule {rule.name} ({module}): {problem}" for problem in broken]
            for distribution, found in sorted(missing_distributions(imports, available).items()):
                names = ", ".join(sorted({item.name for item in found}))
                places = ", ".join(sorted({item.where for item in found})[:3])
                problems.append(f"rule {rule.name}: envs/{rule.env.name} lacks {distribution} "
                                f"(python -m {module} imports {names}: {places})")
    assert analysed, "no rule with a conda environment runs `python -m`: is the command parsing broken?"
    assert not problems, "\n".join(problems)


def test_install_rules_run_standard_library_code_only(conda_rules):
    """The install rules run before anything but the tools environment exists (and the container recipe runs the
    same script with a bare Python), so what they run imports nothing outside the standard library."""
    for rule in conda_rules:
        for module in python_modules(rule.shellcmd or ""):
            if module.endswith("install_tools"):
                imports, broken = third_party_imports(module, ROOT, main=True)
                assert not imports and not broken, (rule.name, imports, broken)


# ---------------------------------------------------------------- tests: the analysis itself


@pytest.fixture
def synthetic_package(tmp_path):
    """workflow_scripts/{__init__, a/__init__, a/b, a/c, d}.py with imports at module level and inside functions."""
    files = {
        "__init__.py": "",
        "a/__init__.py": "import yaml\n",
        "a/b.py": "from __future__ import annotations\nimport json\nfrom workflow_scripts.a import c, helper\n"
                  "def run():\n    import scipy.stats\n    from . import d_relative\n",
        "a/c.py": "import numpy as np\n\nclass K:\n    def m(self):\n        from workflow_scripts import d\n",
        "a/d_relative.py": "from ..d import thing\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import matplotlib\nelse:\n    import pyarrow\n"
                "def thing():\n    import pandas\n",
        "e/__init__.py": "",
        "e/__main__.py": "import torch\n",
    }
    for name, text in files.items():
        path = tmp_path / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_analysis_follows_package_imports_lazy_and_relative(synthetic_package):
    imports, problems = third_party_imports(f"{PACKAGE}.a.b", synthetic_package, main=True)
    assert not problems
    assert {item.name for item in imports} == {"yaml", "scipy", "numpy", "pandas", "pyarrow"}
    imports, problems = third_party_imports(f"{PACKAGE}.e", synthetic_package, main=True)
    assert {item.name for item in imports} == {"torch"} and not problems


def test_analysis_reports_a_missing_distribution(synthetic_package):
    imports, _ = third_party_imports(f"{PACKAGE}.a.b", synthetic_package, main=True)
    missing = missing_distributions(imports, {"numpy", "pyyaml", "pandas", "pyarrow"})
    assert list(missing) == ["scipy"] and missing["scipy"] == [Import("scipy", f"{PACKAGE}/a/b.py:5")]
    # The import name maps to its distribution: yaml is PyYAML's, so listing "yaml" does not count.
    assert "pyyaml" in missing_distributions(imports, {"numpy", "yaml", "scipy", "pandas", "pyarrow"})
    assert not missing_distributions(imports, {"numpy", "pyyaml", "scipy", "pandas", "pyarrow"})


def test_analysis_reports_modules_that_do_not_exist(synthetic_package):
    (synthetic_package / PACKAGE / "a" / "c.py").write_text("from workflow_scripts.gone import x\n")
    _, problems = third_party_imports(f"{PACKAGE}.a.b", synthetic_package)
    assert any("workflow_scripts.gone" in problem for problem in problems)
    _, problems = third_party_imports(f"{PACKAGE}.nowhere", synthetic_package)
    assert problems


def test_shell_commands_are_split_into_python_modules():
    command = ("mkdir -p {output}; python -m workflow_scripts.a x --y {params.y} && python3 -u -m workflow_scripts.b | "
               "tee {log}\n/usr/bin/python3.11 -mworkflow_scripts.c; echo python -m; python -c 'import os'")
    assert python_modules(command) == ["workflow_scripts.a", "workflow_scripts.b", "workflow_scripts.c"]


def test_rules_come_from_the_workflow(workflow_rules):
    """The rule list is Snakemake's own (the default target included), with each rule's shell command."""
    assert "all" in {rule.name for rule in workflow_rules}
    assert any(python_modules(rule.shellcmd or "") for rule in workflow_rules if rule.env is not None)
