"""Cross-section weights: samples generated in slices (pT-hat bins) combined into one physical spectrum.

Each chunk's metadata holds Pythia's cross-section estimate for the chunk's
phase space and the number of events generated.  A sample's cross section is
the event-weighted mean of its chunks' estimates (they are independent
estimates of the same quantity); every selected event of the sample then
carries weight sigma_sample / N_generated, in pb, so that summing weights over
any selection gives its cross section, and multiplying by a luminosity in
pb^-1 gives expected event counts.  Slices of one process are stitched by
simply concatenating their weighted events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workflow_scripts.core import files


def chunk_table(paths) -> pd.DataFrame:
    """Per chunk: sample, events generated, events selected and Pythia's cross section (pb), from the metadata."""
    rows = []
    for path in paths:
        _, metadata = files.read_awkward(path, columns=[])
        missing = [key for key in ("sample", "n_events", "cross_section_pb") if key not in metadata]
        if missing:
            raise KeyError(f"{path}: metadata lacks {missing}; was it written by the generation stage?")
        rows.append({"path": str(path), "sample": metadata["sample"], "n_generated": int(metadata["n_events"]),
                     "n_selected": int(metadata.get("n_selected", metadata["n_events"])),
                     "cross_section_pb": float(metadata["cross_section_pb"])})
    return pd.DataFrame(rows)


def sample_cross_sections(chunks: pd.DataFrame) -> pd.DataFrame:
    """Per sample: events generated and the cross section, the event-weighted mean over its chunks."""
    def combine(group):
        n = group.n_generated.sum()
        return pd.Series({"n_generated": n, "cross_section_pb": float(np.average(group.cross_section_pb, weights=group.n_generated))})
    return chunks.groupby("sample").apply(combine, include_groups=False).reset_index()


def event_weights_pb(paths) -> np.ndarray:
    """One weight per selected event of the given event files, in file order: sigma_sample / N_generated (pb)."""
    chunks = chunk_table(paths)
    per_event = chunks.merge(sample_cross_sections(chunks), on="sample", suffixes=("", "_sample"))
    per_event["weight_pb"] = per_event.cross_section_pb_sample / per_event.n_generated_sample
    return np.repeat(per_event.weight_pb.to_numpy(), per_event.n_selected.to_numpy())
