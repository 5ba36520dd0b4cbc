"""Named public data sets: where their files live, how they are checked, and how they become Records.

Every entry lists its files with the public URL, size and sha256. A file is looked for, in order, in

1. the ``mirror`` argument (a folder holding ``<folder>/<file>``),
2. ``$SEQ2EXPR_DATA_MIRROR/<folder>/<file>`` (a local copy, e.g. a lab share),
3. the download cache ``$SEQ2EXPR_CACHE/downloads/<folder>/<file>`` (default ``~/.cache/seq2expr/downloads``),

and is checksum-verified before use. :func:`fetch` downloads missing files into the cache through
:func:`seq2expr.download.download` (pooch: a progress bar, a temporary file; size and sha256 checked before the
file is moved into place, so a truncated or altered download leaves nothing cached). Checksums were taken from
the reference copies of the files; ``.gz`` files published uncompressed upstream are checked on their content, then
gzipped.

``load_dataset("vaishnav2022:native_complex")`` selects a named subset of an entry (``name:subset``). The entries
themselves are modules of :mod:`seq2expr.data.datasets`, one per data set, each registering itself (with its
files, loader, subsets, construct and scorer); nothing outside them names a data set.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seq2expr.data.errors import DataError
from seq2expr.data.records import Records
from seq2expr.download import ChecksumError, DownloadError, Pin, check_file, download, first_folder, obtain_files
from seq2expr.download import sha256_file as sha256_file  # re-exported: the checksum the entries are written with
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


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"data set {entry.name!r} registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def _entries() -> dict[str, DatasetEntry]:
    """Every registered entry; the data-set modules (:mod:`seq2expr.data.datasets`) register themselves on import."""
    importlib.import_module("seq2expr.data.datasets")
    return _REGISTRY


def list_datasets() -> list[DatasetEntry]:
    entries = _entries()
    return [entries[k] for k in sorted(entries)]


def get_entry(name: str) -> DatasetEntry:
    """The entry for ``name`` (a ``:subset`` suffix is ignored)."""
    base = name.split(":", 1)[0]
    entries = _entries()
    try:
        return entries[base]
    except KeyError:
        raise DataError(f"unknown data set {base!r}; known: {', '.join(sorted(entries))}") from None


# ----------------------------------------------------------------------------------------------- files


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Download cache folder: ``cache_dir``, else ``$SEQ2EXPR_CACHE/downloads`` (:func:`cache_folder`)."""
    return Path(cache_dir) if cache_dir is not None else cache_folder("downloads")


def _pin(f: RemoteFile) -> Pin:
    return Pin(sha256=f.sha256, size=f.size, content_sha256=f.content_sha256)


def verify_file(path: Path, f: RemoteFile) -> None:
    """Raise :class:`DataError` unless ``path`` has the registered checksum (raw, or decompressed for .gz)."""
    try:
        check_file(path, _pin(f))
    except ChecksumError as err:
        raise DataError(err.problem, source=err.path) from None


def _folders(entry: DatasetEntry, mirror: str | Path | None, cache_dir: str | Path | None) -> list[tuple[str, Path]]:
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
    folder, where = first_folder([f.name], _folders(entry, mirror, cache_dir))
    return (None, where) if folder is None else (folder / f.name, where)


def _missing_message(entry: DatasetEntry, f: RemoteFile, mirror, cache_dir) -> str:
    looked = "; ".join(f"{w}: {p / f.name}" for w, p in _folders(entry, mirror, cache_dir))
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


def _download(f: RemoteFile, dest: Path, timeout: float) -> None:
    """Download ``f`` into ``dest`` through :func:`seq2expr.download.download` (checked before it is moved into
    place); a ``.gz`` file published uncompressed is checked on its content, then gzipped here."""
    if f.name.endswith(".gz") and not f.url.endswith(".gz"):
        def gz(src: Path, out: Path) -> None:
            with open(src, "rb") as raw, gzip.GzipFile(out, "wb", mtime=0) as packed:
                shutil.copyfileobj(raw, packed)

        download(f.url, dest, Pin(sha256=f.content_sha256), timeout=timeout, transform=gz)
    else:
        download(f.url, dest, _pin(f), timeout=timeout)


def fetch(name: str, *, cache_dir: str | Path | None = None, mirror: str | Path | None = None,
          timeout: float = 60.0, force: bool = False) -> dict[str, tuple[Path, str]]:
    """Make every file of ``name`` available: keep verified local copies, download the rest into the cache.

    Returns ``{file: (path, where)}``. Without network access, raises a :class:`DataError` telling the user
    to point ``SEQ2EXPR_DATA_MIRROR`` at a local copy.
    """
    entry = get_entry(name)
    files = {f.name: f for f in entry.files}

    def get(file: str, dest: Path) -> None:
        f = files[file]
        try:
            _download(f, dest, timeout)
        except ChecksumError as err:
            raise DataError(err.problem, source=f"{entry.name}/{f.name} from {f.url}") from None
        except DownloadError as err:  # no network, DNS, timeouts, HTTP errors
            raise DataError(f"could not download {f.url} ({err.problem}). Without network access, copy the files "
                            f"to a folder and set {MIRROR_ENV} to it (expected layout: "
                            f"$SEQ2EXPR_DATA_MIRROR/{entry.dir_name}/{f.name})", source=entry.name) from err

    try:
        return obtain_files({n: _pin(f) for n, f in files.items()}, _folders(entry, mirror, cache_dir),
                            cache_root(cache_dir) / entry.dir_name, get, force=force)
    except ChecksumError as err:  # a local copy (a download's own is said above)
        raise DataError(err.problem, source=err.path) from None


# --------------------------------------------------------------------------------------------- loading


def load_dataset(name: str, *, mirror: str | Path | None = None, cache_dir: str | Path | None = None) -> Records:
    """Records of a registered data set, optionally one named subset (``"vaishnav2022:native_complex"``)."""
    entry = get_entry(name)
    paths = resolve_files(entry, mirror=mirror, cache_dir=cache_dir)
    records = entry.loader(paths)
    records.dataset = entry.name
    if ":" in name:
        sub = name.split(":", 1)[1]
        if sub not in entry.subsets:
            raise DataError(f"data set {entry.name!r} has no subset {sub!r}; known: "
                            f"{', '.join(sorted(entry.subsets)) or 'none'}")
        records = records.subset(entry.subsets[sub](records))
    return records


def parse_dataset_spec(text: str | Path) -> str | None:
    """``text`` if it names a registry data set (``name`` or ``name:subset``) and is not an existing path."""
    text = str(text)
    if Path(text).exists():
        return None
    return text if text.split(":", 1)[0] in _entries() else None


def load_split(spec: str, *, mirror: str | Path | None = None, cache_dir: str | Path | None = None) -> Records:
    """Records of a registry data set ``name[:subset]``.

    ``subset`` is one of the entry's named subsets (e.g. ``dream2022:test``); otherwise it selects rows
    whose ``split`` group column holds that value.
    """
    name, _, sub = spec.partition(":")
    if not sub or sub in get_entry(name).subsets:
        return load_dataset(spec, mirror=mirror, cache_dir=cache_dir)
    records = load_dataset(name, mirror=mirror, cache_dir=cache_dir)
    if "split" not in records.groups:
        raise DataError(f"data set {name!r} has no subset {sub!r} and no 'split' column", source=name)
    split = np.asarray(records.groups["split"]).astype(str)
    if not (split == sub).any():
        raise DataError(f"no rows with split {sub!r}; splits present: {sorted(set(split))}", source=name)
    return records.subset(split == sub)


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


def read_json(path: Path) -> dict:
    """A JSON file of a data set, or one :class:`DataError` naming it."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read JSON: {err}", source=str(path)) from err
