"""A verb's input, read one way: a registry data set ``NAME[:SUBSET]`` (a name that is no existing file or folder),
else a table/FASTA file. ``predict``, ``evaluate``, ``interpret`` and ``design --start`` all read theirs with it, so
a data set is accepted, and a file's name wins over a data set's, the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seq2expr.data.records import Records

FileOptions = Callable[[Path], dict[str, Any]]  # a file's read_records options, from the file (e.g. its header)


def dataset_input(source: str | Path) -> Records | None:
    """The records of the registry data set ``source`` names (``NAME`` or ``NAME:SUBSET``, as
    :func:`~seq2expr.data.registry.load_split` selects them), or None when ``source`` is a file to read."""
    from seq2expr.data.registry import load_split, parse_dataset_spec

    spec = parse_dataset_spec(source)
    return load_split(spec) if spec else None


def read_inputs(source: str | Path, file_options: FileOptions | None = None, **read: Any) -> Records:
    """Records of ``source``: a registry data set (:func:`dataset_input`), else the table/FASTA file read by
    :func:`~seq2expr.data.io.tables.read_records` with ``read`` and ``file_options(path)`` (options that depend
    on the file, such as the model's column names when the header has them)."""
    records = dataset_input(source)
    if records is not None:
        return records
    from seq2expr.data.io.tables import read_records

    path = Path(source)
    return read_records(path, **{**read, **(file_options(path) if file_options is not None else {})})
