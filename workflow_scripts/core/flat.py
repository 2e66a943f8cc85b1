"""Objects of a whole chunk as flat numpy columns with the event of each.

The event-level stages (generation, detector, converter) compute in this form,
so that numpy works on all objects of a chunk at once, and go back to
event-jagged awkward arrays only to store them.
"""

from __future__ import annotations

import dataclasses

import awkward as ak
import numpy as np


@dataclasses.dataclass
class FlatObjects:
    """Columns of equal length, sorted by event, and the event of each row."""

    event: np.ndarray
    columns: dict[str, np.ndarray]

    @classmethod
    def from_jagged(cls, objects: ak.Array, fields=None) -> FlatObjects:
        """The rows of an event-jagged record array (all its fields, or those given)."""
        counts = ak.to_numpy(ak.num(objects))
        event = np.repeat(np.arange(len(counts)), counts)
        return cls(event, {field: ak.to_numpy(ak.flatten(objects[field])) for field in fields or objects.fields})

    def __getitem__(self, selection) -> FlatObjects:
        return FlatObjects(self.event[selection], {key: value[selection] for key, value in self.columns.items()})

    def to_jagged(self, n_events: int, with_name: str | None = None) -> ak.Array:
        """The event-jagged record array of n_events events (events without rows get empty lists)."""
        counts = np.bincount(self.event, minlength=n_events)
        return ak.unflatten(ak.zip(self.columns, with_name=with_name), counts)


def one_per_event(columns: dict[str, np.ndarray]) -> ak.Array:
    """A collection with exactly one object per event (Delphes' MissingET, Event)."""
    n_events = len(next(iter(columns.values())))
    return FlatObjects(np.arange(n_events), columns).to_jagged(n_events)
