"""The package layout keeps its promises: no import cycles, lower layers never import higher ones."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "workflow_scripts"

# Each package may import only the packages listed (and itself).  Lazy imports inside functions count too.
ALLOWED = {
    "core": set(),
    "external": {"core"},
    "generation": {"core"},
    "detector": {"core", "generation", "external"},
    "analysis": {"core"},
    "ml": {"core"},
    "studies": {"core", "analysis", "ml", "generation"},
    "validation": {"core", "analysis", "detector", "ml"},
    "figures": {"core", "analysis", "generation", "validation", "studies"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """workflow_scripts modules a file imports anywhere in it (`from package import module` names the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("workflow_scripts")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workflow_scripts"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                as_path = ROOT / Path(*candidate.split("."))
                found.add(candidate if as_path.with_suffix(".py").exists() or as_path.is_dir() else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in PACKAGE.rglob("*.py")}


def test_every_module_lives_in_a_known_package():
    top_level = {name.split(".")[1] for name in import_graph() if name.count(".") >= 1}
    assert top_level <= set(ALLOWED), top_level - set(ALLOWED)
    assert not [path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py"]


def test_packages_import_only_lower_layers():
    violations = []
    for module, imports in import_graph().items():
        package = module.split(".")[1] if module.count(".") else None
        for target in imports:
            target_package = target.split(".")[1] if target.count(".") else None
            if package and target_package and target_package != package and target_package not in ALLOWED[package]:
                violations.append(f"{module} imports {target}")
    assert not violations, violations


def test_no_import_cycles():
    graph = import_graph()
    state, cycles = {}, []

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target in graph and target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles
