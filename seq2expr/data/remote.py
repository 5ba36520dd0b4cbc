"""A registered data set's entry and files: what a data-set module (:mod:`seq2expr.data.datasets`) declares and
registers, and how its files are found and checked. Looking data sets up by name is :mod:`seq2expr.data.registry`.

A file is looked for, in order, in the ``mirror`` argument (a folder holding ``<folder>/<file>``),
``$SEQ2EXPR_DATA_MIRROR/<folder>/<file>``, then the download cache ``$SEQ2EXPR_CACHE/downloads/<folder>/<file>``,
and is checksum-verified before use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seq2expr.data.errors import DataError
from seq2expr.data.records import Records
from seq2expr.download import ChecksumError, Pin, check_file, first_folder
from seq2expr.plugins import Registry
from seq2expr.user_cache import cache_folder

MIRROR_ENV = "SEQ2EXPR_DATA_MIRROR"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: path inside the data set folder, public URL, sha256 and size in bytes."""

    name: str
    url: str
    sha256: str
    size: int
    content_sha256: str | None = None  # sha256 of the decompressed bytes (``.gz`` files)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered data set and the function turning its resolved files into :class:`Records`."""

    name: str
    description: str
    citation: str
    licence: str
    files: tuple[RemoteFile, ...]
    loader: Callable[[dict[str, Path]], Records]
    folder: str = ""  # folder under the mirror / cache (default: ``name``)
    subsets: dict[str, Callable[[Records], np.ndarray]] = field(default_factory=dict)
    # a score of its own, e.g. a challenge's official score, ``f(ids, predictions) -> dict``, that evaluation and
    # training apply to predictions of its records beside the usual metrics
    scorer: Callable[[np.ndarray, np.ndarray], dict] | None = None
    # the fixed sequence around the measured variable region in every construct (left, right), for models that
    # score genomic sequence in the assay's context (variant scoring in centred mode)
    construct: tuple[str, str] | None = None

    @property
    def dir_name(self) -> str:
        return self.folder or self.name

DATASETS: Registry[DatasetEntry] = Registry("data set")


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Add a data set (called by its module in :mod:`seq2expr.data.datasets`, or by another package's module named
    in a ``seq2expr.datasets`` entry point)."""
    return DATASETS.add(entry.name, entry)


# ----------------------------------------------------------------------------------------------- files


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Download cache folder: ``cache_dir``, else ``$SEQ2EXPR_CACHE/downloads`` (:func:`cache_folder`)."""
    return Path(cache_dir) if cache_dir is not None else cache_folder("downloads")


def pin_of(f: RemoteFile) -> Pin:
    """The checks a copy of ``f`` must pass (size, sha256, a gzip file's content sha256)."""
    return Pin(sha256=f.sha256, size=f.size, content_sha256=f.content_sha256)


def verify_file(path: Path, f: RemoteFile) -> None:
    """Raise :class:`DataError` unless ``path`` has the registered checksum (raw, or decompressed for .gz)."""
    try:
        check_file(path, pin_of(f))
    except ChecksumError as err:
        raise DataError(err.problem, source=err.path) from None


def search_folders(entry: DatasetEntry, mirror: str | Path | None,
                   cache_dir: str | Path | None) -> list[tuple[str, Path]]:
    """The folders ``entry``'s files are looked for in, in order, with what each is (the cache last)."""
    out = []
    if mirror is not None:
        out.append(("mirror argument", Path(mirror) / entry.dir_name))
    env = os.environ.get(MIRROR_ENV)
    if env:
        out.append((f"${MIRROR_ENV}", Path(env) / entry.dir_name))
    out.append(("download cache", cache_root(cache_dir) / entry.dir_name))
    return out


def locate(entry: DatasetEntry, f: RemoteFile, *, mirror: str | Path | None = None,
           cache_dir: str | Path | None = None) -> tuple[Path | None, str]:
    """First existing copy of ``f`` and where it came from (``(None, "missing")`` when there is none)."""
    folder, where = first_folder([f.name], search_folders(entry, mirror, cache_dir))
    return (None, where) if folder is None else (folder / f.name, where)


def _missing_message(entry: DatasetEntry, f: RemoteFile, mirror, cache_dir) -> str:
    looked = "; ".join(f"{w}: {p / f.name}" for w, p in search_folders(entry, mirror, cache_dir))
    return (f"data set {entry.name!r}: file {f.name} not found (looked in {looked}). Run `seq2expr data fetch "
            f"{entry.name}` to download it, or set {MIRROR_ENV} to a folder holding {entry.dir_name}/{f.name}")


def resolve_files(entry: DatasetEntry, *, mirror: str | Path | None = None,
                  cache_dir: str | Path | None = None, verify: bool = True) -> dict[str, Path]:
    """Paths of all files of ``entry`` (checksum-verified), or a :class:`DataError` naming the missing one."""
    out = {}
    for f in entry.files:
        path, _ = locate(entry, f, mirror=mirror, cache_dir=cache_dir)
        if path is None:
            raise DataError(_missing_message(entry, f, mirror, cache_dir))
        if verify:
            verify_file(path, f)
        out[f.name] = path
    return out

def load_entry(entry: DatasetEntry, subset: str | None = None, *, mirror: str | Path | None = None,
               cache_dir: str | Path | None = None) -> Records:
    """Records of ``entry`` (its files resolved and checked), optionally one of its named subsets."""
    paths = resolve_files(entry, mirror=mirror, cache_dir=cache_dir)
    records = entry.loader(paths)
    records.dataset = entry.name
    if subset is not None:
        if subset not in entry.subsets:
            raise DataError(f"data set {entry.name!r} has no subset {subset!r}; known: "
                            f"{', '.join(sorted(entry.subsets)) or 'none'}")
        records = records.subset(entry.subsets[subset](records))
    return records


def read_csv(path: Path, **kw):
    import pandas as pd

    try:
        return pd.read_csv(path, **kw)
    except Exception as err:  # pandas raises several types for malformed input
        raise DataError(f"cannot read table: {err}", source=str(path)) from err


def need_columns(df, cols: list[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {list(df.columns)}", source=str(path))


def read_splits(paths: dict[str, Path], files: dict[str, str], columns: list[str], **kw):
    """A data set published as one table per split, read as one frame with a ``split`` column: ``files`` maps each
    split to its file's name among ``paths``; each must hold ``columns`` (one :class:`DataError` naming the file)."""
    import pandas as pd

    parts = []
    for split, name in files.items():
        df = read_csv(paths[name], **kw)
        need_columns(df, columns, paths[name])
        parts.append(df.assign(split=split))
    return pd.concat(parts, ignore_index=True)


def split_subsets(splits) -> dict[str, Callable]:
    """Subsets named after the ``split`` group's values (``NAME:train`` selects its rows)."""
    return {s: (lambda r, s=s: r.groups["split"] == s) for s in splits}


def read_json(path: Path) -> dict:
    """A JSON file of a data set, or one :class:`DataError` naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read JSON: {err}", source=str(path)) from err
