"""Runs of full and weak supervision: their names, and the target each gives every group of events.

No torch here: the workflow plans the toy study's jobs from run names while it builds the job graph.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

RUN_NAME_PATTERN = r"full-(bce|mae|llp)|weak-(bce|mae|llp)-label[01]\.[0-9]+"


@dataclasses.dataclass(frozen=True)
class SupervisionRun:
    supervision: str
    loss: str
    label_b: float | None = None  # weak supervision: the label given to dataset B

    @property
    def name(self) -> str:
        if self.supervision == "full":
            return f"full-{self.loss}"
        label = f"{self.label_b:g}"
        return f"weak-{self.loss}-label{label if '.' in label else label + '.0'}"

    @classmethod
    def parse(cls, name: str) -> "SupervisionRun":
        if not re.fullmatch(RUN_NAME_PATTERN, name):
            raise ValueError(f"run name {name!r} does not match {RUN_NAME_PATTERN!r}")
        parts = name.split("-")
        if parts[0] == "full":
            return cls("full", parts[1])
        return cls("weak", parts[1], float(parts[2].removeprefix("label")))


def event_groups(table: pd.DataFrame) -> np.ndarray:
    """Group of every event: 2 * (dataset is B) + true label, so that one ensemble can hold both
    fully supervised members (targets follow the label) and weakly supervised ones (targets follow
    the dataset)."""
    return 2 * (table["dataset"] == "B").to_numpy(np.int64) + table["label"].to_numpy(np.int64)


def group_targets(run: SupervisionRun, label_a: float) -> list[float]:
    """Targets of the groups (A and background, A and signal, B and background, B and signal)."""
    if run.supervision == "full":
        return [0.0, 1.0, 0.0, 1.0]
    return [label_a, label_a, run.label_b, run.label_b]
