"""Sphinx configuration of the documentation (Markdown pages through MyST; `sphinx-build -W` in the tests)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow_scripts.core import config_reference  # noqa: E402

project = "Weak supervision and CWoLa, regenerated"
author = "the weak-supervision-pipeline developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
# Anchors for every heading down to ###, so that links to sections are checked like links to pages.
myst_heading_anchors = 3
html_theme = "furo"
html_title = project

# The configuration reference is written from the schema before Sphinx reads the pages (only when it changed, so
# that sphinx-autobuild does not rebuild forever).
config_reference.write_if_changed(Path(__file__).parent / "reference" / "configuration.md",
                                  config_reference.reference_markdown(config_reference.load_schema()))
