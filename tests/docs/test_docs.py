"""The documentation: built by Sphinx with warnings as errors, a configuration reference generated from the schema
that lists every key with a description, and an output tree that matches the rules' outputs."""

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_scripts.core import config_reference

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def build_docs(source: Path, output: Path) -> subprocess.CompletedProcess:
    """The strict build CI runs: every warning (a broken link or anchor, a page in no table of contents) fails."""
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html", str(source),
                           str(output)], capture_output=True, text=True, timeout=600)


def test_docs_build_without_warnings(tmp_path):
    result = build_docs(DOCS, tmp_path / "html")
    assert result.returncode == 0, result.stderr[-5000:]
    reference = (tmp_path / "html" / "reference" / "configuration.html").read_text()
    assert "generation.samples.&lt;name&gt;.madgraph.run_card" in reference
    for page in ("getting-started", "studies/cwola", "studies/cohen2018-toy", "studies/cohen2018-lhc", "generation",
                 "closure", "clusters-containers", "configuration", "outputs", "performance", "layout"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page


def test_a_broken_link_fails_the_docs_build(tmp_path, fresh_checkout):
    checkout = fresh_checkout(tmp_path / "checkout")
    page = checkout / "docs" / "outputs.md"
    page.write_text(page.read_text() + "\nSee [the closure](closure.md#no-such-section) and [gone](gone.md).\n")
    result = build_docs(checkout / "docs", tmp_path / "html")
    assert result.returncode != 0
    assert "no-such-section" in result.stderr and "gone.md" in result.stderr, result.stderr[-3000:]


# ---------------------------------------------------------------- the configuration reference


def schema_property_names(node, found=None):
    """Every name under any `properties` of the schema, found independently of config_reference's walk."""
    found = set() if found is None else found
    if isinstance(node, dict):
        for name, child in node.get("properties", {}).items():
            found.add(name)
            schema_property_names(child, found)
        for key, child in node.items():
            if key != "properties":
                schema_property_names(child, found)
    elif isinstance(node, list):
        for child in node:
            schema_property_names(child, found)
    return found


def test_every_schema_key_has_a_description():
    assert config_reference.undocumented_keys(config_reference.load_schema()) == []
    assert config_reference.main(["--check-descriptions"]) == 0


def test_a_key_without_a_description_is_named(tmp_path, capsys):
    schema = {"type": "object", "properties": {
        "documented": {"type": "integer", "description": "has one"},
        "section": {"type": "object", "description": "a section", "properties": {"bare": {"type": "number"}}},
        "named": {"type": "object", "description": "by name", "additionalProperties": {
            "type": "object", "properties": {"inner": {"type": "string", "description": " "}}}}}}
    assert config_reference.undocumented_keys(schema) == ["section.bare", "named.<name>.inner"]
    path = tmp_path / "schema.yaml"
    path.write_text(__import__("yaml").safe_dump(schema))
    assert config_reference.main(["--schema", str(path), "--check-descriptions"]) == 1
    assert "section.bare" in capsys.readouterr().out


def test_reference_lists_every_schema_key_with_type_default_and_description():
    schema = config_reference.load_schema()
    text = config_reference.reference_markdown(schema)
    rows = dict(re.findall(r"^\| `([^`]+)` \| (.*)$", text, re.M))
    listed = {part for path in rows for part in path.split(".")} | set(re.findall(r"^## `([^`]+)`", text, re.M))
    assert schema_property_names(schema) <= listed, schema_property_names(schema) - listed
    # a key's row: type, required, default, description
    assert re.search(r"^\| `tools\.build_jobs` \| integer >= 1 \|  \| `4` \| parallel compile jobs", text, re.M)
    assert re.search(r"^\| `cohen2018_lhc\.network\.optimizer` \| one of: adam, sgd \| yes \|", text, re.M)
    assert "`generation.samples.<name>.madgraph.decays`" in text


# ---------------------------------------------------------------- the output tree


def documented_outputs() -> list[str]:
    page = (DOCS / "outputs.md").read_text()
    block = re.search(r"^```\n(.*?)^```", page, re.S | re.M).group(1)
    return [line.split()[0] for line in block.splitlines() if line.startswith(("results/", "tools/"))]


def documented_pattern(entry: str) -> re.Pattern:
    """`{sample}`, `{a,b}`, `*` and `...` of a documented path as a regular expression."""
    parts = re.split(r"(\{[^}]*\}|\*|\.\.\.)", entry)
    return re.compile("".join("[^/]*" if part in ("*",) or part.startswith("{") else ".+" if part == "..." else
                              re.escape(part) for part in parts) + "$")


def rule_pattern(output: str) -> re.Pattern:
    parts = re.split(f"({WILDCARD})", output)
    return re.compile("".join(".+" if part.startswith("{") else re.escape(part) for part in parts) + "$")


WILDCARD = r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}"  # a rule's wildcard, whose regex may hold braces itself


# A wildcard's stand-in: a digit, since wildcards such as the trial or the injection are numbers in the rules.
STAND_IN = "0"


def concrete_output(output: str) -> str:
    """One path a rule's output pattern stands for: each wildcard replaced by a stand-in."""
    return re.sub(WILDCARD, STAND_IN, output)


def concrete_entries(entry: str) -> list[str]:
    """The paths a documented entry stands for: one per choice of each `{a,b}`, wildcards, `*` and `...` by stand-ins."""
    entry = entry.replace("...", f"{STAND_IN}/{STAND_IN}").replace("*", STAND_IN)
    parts = re.split(r"(\{[^{}]*\})", entry)
    choices = [part[1:-1].split(",") if part.startswith("{") and "," in part else [STAND_IN] if part.startswith("{")
               else [part] for part in parts]
    return ["".join(combination) for combination in itertools.product(*choices)]


def covers(entry: str, output: str) -> bool:
    """Whether a documented path and a rule's output pattern can name the same file (either way round: both hold
    wildcards, and either may be the more specific)."""
    return bool(documented_pattern(entry).match(concrete_output(output))
                or any(rule_pattern(output).match(path) for path in concrete_entries(entry)))


@pytest.fixture(scope="module")
def rule_outputs(workflow_rules):
    outputs = [output for rule in workflow_rules for output in rule.outputs if output.startswith(("results/", "tools/"))]
    assert len(outputs) > 50
    return outputs


def test_every_rule_output_is_in_the_output_tree(rule_outputs):
    documented = documented_outputs()
    missing = sorted({re.sub(WILDCARD, lambda match: match.group(0).split(",")[0].rstrip("}") + "}", output)
                      for output in rule_outputs if not any(covers(entry, output) for entry in documented)})
    assert not missing, "outputs of rules that docs/outputs.md does not list:\n" + "\n".join(missing)


def test_every_path_of_the_output_tree_is_a_rule_output(rule_outputs):
    stale = [entry for entry in documented_outputs() if not any(covers(entry, output) for output in rule_outputs)]
    assert not stale, "docs/outputs.md lists paths that no rule writes:\n" + "\n".join(stale)
