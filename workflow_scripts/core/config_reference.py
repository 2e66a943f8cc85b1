"""The configuration reference, generated from the JSON schema: every key with its type, default and description.

The schema is the one place a key is documented; `docs/` includes what `reference_markdown` writes from it, and
`undocumented_keys` lists the keys a contributor left without a description (a test fails on any).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"

# What the reader sees for a key whose name is chosen by the user (a sample's name, a selection's name).
ANY_NAME = "<name>"


@dataclass(frozen=True)
class Key:
    path: str  # dotted, e.g. generation.samples.<name>.chunks
    kind: str  # the type as a reader wants it: "integer >= 1", "one of: auto, cpu, cuda"
    required: bool
    default: object  # the schema's default, or None
    description: str | None


def _resolve(node: dict, schema: dict) -> dict:
    reference = node.get("$ref")
    if reference is None:
        return node
    if not reference.startswith("#/"):
        raise ValueError(f"config schema: only local references are supported, not {reference!r}")
    target = schema
    for part in reference[2:].split("/"):
        target = target[part]
    # A key's own description (beside the $ref) wins over the definition's.
    return {**target, **{name: value for name, value in node.items() if name != "$ref"}}


def _bounds(node: dict) -> list[str]:
    bounds = []
    for word, symbol in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if word in node:
            bounds.append(f"{symbol} {node[word]}")
    return bounds


def describe_type(node: dict, schema: dict) -> str:
    """The type of a schema node in words: its JSON type, allowed values and bounds."""
    node = _resolve(node, schema)
    if "enum" in node:
        return "one of: " + ", ".join(str(value) for value in node["enum"])
    if "const" in node:
        return f"the value {node['const']}"
    if "anyOf" in node:
        return " or ".join(describe_type(option, schema) for option in node["anyOf"])
    kind = node.get("type", "any")
    if kind == "array":
        items = node.get("items")
        text = f"list of {describe_type(items, schema)}" if items else "list"
        if node.get("minItems") is not None and node.get("minItems") == node.get("maxItems"):
            text += f" ({node['minItems']} entries)"
        elif node.get("minItems"):
            text += f" (at least {node['minItems']})"
        return text
    if kind == "object" and "additionalProperties" in node and isinstance(node["additionalProperties"], dict) \
            and "properties" not in node:
        return f"mapping of {ANY_NAME} to {describe_type(node['additionalProperties'], schema)}"
    bounds = _bounds(node)
    if "pattern" in node and kind == "string":
        bounds.append(f"matching `{node['pattern']}`")
    return " ".join([kind, *bounds]) if bounds else kind


def schema_keys(schema: dict) -> list[Key]:
    """Every key the schema defines, depth first, in the schema's own order."""
    keys: list[Key] = []

    def walk(node: dict, prefix: str) -> None:
        node = _resolve(node, schema)
        required = set(node.get("required", ()))
        for name, child in node.get("properties", {}).items():
            child = _resolve(child, schema)
            path = f"{prefix}{name}"
            keys.append(Key(path, describe_type(child, schema), name in required, child.get("default"),
                            child.get("description")))
            descend(child, path)

    def descend(node: dict, path: str) -> None:
        if "properties" in node:
            walk(node, path + ".")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            extra = _resolve(extra, schema)
            if "properties" in extra or isinstance(extra.get("additionalProperties"), dict):
                descend(extra, f"{path}.{ANY_NAME}")

    walk(schema, "")
    return keys


def undocumented_keys(schema: dict) -> list[str]:
    return [key.path for key in schema_keys(schema) if not (key.description or "").strip()]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def reference_markdown(schema: dict) -> str:
    """The reference page: one table per top-level section of the configuration."""
    keys = schema_keys(schema)
    lines = [
        "# Configuration reference",
        "",
        "Generated from `workflow_scripts/core/schemas/config.schema.yaml` when the documentation is built; edit the",
        "schema, not this page. Every run validates its configuration (`config.yaml` and the `--configfile` presets laid",
        "over it) against that schema before anything runs. `<name>` stands for a name you choose (a sample, a",
        "selection). Required keys are marked; a default is what the workflow uses when the key is left out.",
        "",
    ]
    sections = [key for key in keys if "." not in key.path]
    for section in sections:
        lines += [f"## `{section.path}`", "", _cell(section.description or ""), ""]
        if section.required:
            lines += ["Required.", ""]
        members = [key for key in keys if key.path.startswith(section.path + ".")]
        if not members:
            lines += [f"Type: {_cell(section.kind)}." + (f" Default: `{json.dumps(section.default)}`." if section.default
                                                          is not None else ""), ""]
            continue
        lines += ["| key | type | required | default | description |", "| --- | --- | --- | --- | --- |"]
        for key in members:
            default = "" if key.default is None else f"`{json.dumps(key.default)}`"
            lines.append(f"| `{key.path}` | {_cell(key.kind)} | {'yes' if key.required else ''} | {default} | "
                         f"{_cell(key.description or '')} |")
        lines.append("")
    return "\n".join(lines)


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(Path(path).read_text())


def write_if_changed(path: Path, text: str) -> bool:
    """Write only when the text differs, so that a live documentation server does not rebuild forever."""
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the configuration reference (Markdown) from the config schema.")
    parser.add_argument("--schema", type=Path, default=SCHEMA_PATH, help="the JSON schema (YAML)")
    parser.add_argument("--output", type=Path, help="the Markdown file to write (default: standard output)")
    parser.add_argument("--check-descriptions", action="store_true",
                        help="exit 1, naming them, if keys have no description")
    args = parser.parse_args(argv)
    schema = load_schema(args.schema)
    if args.check_descriptions:
        missing = undocumented_keys(schema)
        if missing:
            print("config keys without a description in the schema:\n  " + "\n  ".join(missing))
            return 1
        return 0
    text = reference_markdown(schema)
    if args.output:
        write_if_changed(args.output, text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
