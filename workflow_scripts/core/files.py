"""Writing outputs so that a killed job never leaves a file that looks finished."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pandas costs a quarter second to import, and the event-level jobs never need it
    import pandas as pd


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_output(path, *, keep_name: bool = False):
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    The temporary file has a random name, unless keep_name: then it has `path`'s own name, inside a temporary
    directory beside `path` (and does not exist yet), for writers that store their file's name in the file
    (ROOT does), so that what they store is the final name and the same on every run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    directory = None
    if keep_name:
        directory = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        temporary = os.path.join(directory, path.name)
    else:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def remove_stale_partials(path) -> None:
    """Remove the temporary files or directories (`.NAME.*.part`) that a killed writer of `path` left beside it:
    nothing trusts them, but they should not pile up in the results."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob_escape(path.name)}.*.part"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in name)


METADATA_KEY = b"pipeline"


def _leaf_paths(field: pa.Field, prefix: str = ""):
    """(Parquet column path, Arrow type) of every leaf under a field; lists appear as `.list.element`."""
    path = f"{prefix}{field.name}"
    if pa.types.is_struct(field.type):
        for child in field.type:
            yield from _leaf_paths(child, f"{path}.")
    elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
        yield from _leaf_paths(field.type.value_field.with_name("element"), f"{path}.list.")
    else:
        yield path, field.type


def _write_arrow(arrow: pa.Table, path, metadata: dict) -> None:
    merged = dict(arrow.schema.metadata or {})
    merged[METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
    # Dictionaries pay off for labels and codes, not for momenta: on floats they cost 3x the write time
    # and leave bigger files.
    dictionary_columns = [path for field in arrow.schema for path, type_ in _leaf_paths(field) if not pa.types.is_floating(type_)]
    with atomic_output(path) as temporary:
        pq.write_table(arrow.replace_schema_metadata(merged), temporary, use_dictionary=dictionary_columns)


def _read_arrow(path, columns=None) -> tuple[pa.Table, dict]:
    path = Path(path)
    try:
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, whose import pulls in pandas.
        with pq.ParquetFile(path) as parquet:
            missing = [column for column in columns or [] if column not in parquet.schema_arrow.names]
            arrow = parquet.read(columns=columns)
    except (OSError, pa.ArrowInvalid) as error:
        raise OSError(f"cannot read Parquet file {path}: {error}") from error
    if missing:  # ParquetFile.read would leave them out without a word
        raise KeyError(f"{path}: no column {missing}")
    return arrow, json.loads((arrow.schema.metadata or {}).get(METADATA_KEY, b"{}"))


def column_names(path) -> list[str]:
    """The top-level columns of a Parquet file, from its footer alone."""
    try:
        return pq.read_schema(path).names
    except (OSError, pa.ArrowInvalid) as error:
        raise OSError(f"cannot read Parquet file {path}: {error}") from error


def write_table(table: pd.DataFrame, path, metadata: dict) -> None:
    """Parquet with the pipeline's provenance (seed, versions, config) as JSON key-value metadata."""
    _write_arrow(pa.Table.from_pandas(table, preserve_index=False), path, metadata)


def read_table(path, columns=None) -> tuple[pd.DataFrame, dict]:
    """Read a table written by write_table and its provenance metadata."""
    arrow, metadata = _read_arrow(path, columns)
    return arrow.to_pandas(), metadata


def write_awkward(array, path, metadata: dict) -> None:
    """Parquet of an awkward array (jagged columns kept as lists) with provenance metadata."""
    import awkward as ak

    _write_arrow(ak.to_arrow_table(array, extensionarray=False), path, metadata)


def read_awkward(path, columns=None):
    """An awkward array and its provenance metadata from a file written by write_awkward."""
    import awkward as ak

    arrow, metadata = _read_arrow(path, columns)
    return ak.from_arrow(arrow), metadata


def write_csv(table: pd.DataFrame, path) -> None:
    with atomic_output(path) as temporary:
        table.to_csv(temporary, index=False)
