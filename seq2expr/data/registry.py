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
import shutil
from pathlib import Path

import numpy as np

import seq2expr.data.datasets  # noqa: F401  (its modules register the data sets)
from seq2expr.data.errors import DataError
from seq2expr.data.records import Records
from seq2expr.data.remote import (
    DATASETS,
    MIRROR_ENV,
    DatasetEntry,
    RemoteFile,
    cache_root,
    load_entry,
    locate,
    need_columns,
    pin_of,
    read_csv,
    read_json,
    register_dataset,
    resolve_files,
    search_folders,
    verify_file,
)
from seq2expr.download import ChecksumError, DownloadError, Pin, download, obtain_files
from seq2expr.download import sha256_file as sha256_file  # re-exported: the checksum the entries are written with

__all__ = ["DATASETS", "MIRROR_ENV", "DatasetEntry", "RemoteFile", "cache_root", "fetch", "get_entry",
           "list_datasets", "load_dataset", "load_entry", "load_split", "locate", "need_columns", "parse_dataset_spec",
           "read_csv", "read_json", "register_dataset", "resolve_files", "sha256_file", "verify_file"]


def list_datasets() -> list[DatasetEntry]:
    return [entry for _, entry in DATASETS.items()]


def get_entry(name: str) -> DatasetEntry:
    """The entry for ``name`` (a ``:subset`` suffix is ignored)."""
    base = name.split(":", 1)[0]
    if base not in DATASETS:
        raise DataError(DATASETS.unknown(base))
    return DATASETS.get(base)


def _download(f: RemoteFile, dest: Path, timeout: float) -> None:
    """Download ``f`` into ``dest`` through :func:`seq2expr.download.download` (checked before it is moved into
    place); a ``.gz`` file published uncompressed is checked on its content, then gzipped here."""
    if f.name.endswith(".gz") and not f.url.endswith(".gz"):
        def gz(src: Path, out: Path) -> None:
            with open(src, "rb") as raw, gzip.GzipFile(out, "wb", mtime=0) as packed:
                shutil.copyfileobj(raw, packed)

        download(f.url, dest, Pin(sha256=f.content_sha256), timeout=timeout, transform=gz)
    else:
        download(f.url, dest, pin_of(f), timeout=timeout)

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
        return obtain_files({n: pin_of(f) for n, f in files.items()}, search_folders(entry, mirror, cache_dir),
                            cache_root(cache_dir) / entry.dir_name, get, force=force)
    except ChecksumError as err:  # a local copy (a download's own is said above)
        raise DataError(err.problem, source=err.path) from None


# --------------------------------------------------------------------------------------------- loading


def load_dataset(name: str, *, mirror: str | Path | None = None, cache_dir: str | Path | None = None) -> Records:
    """Records of a registered data set, optionally one named subset (``"vaishnav2022:native_complex"``)."""
    sub = name.split(":", 1)[1] if ":" in name else None
    return load_entry(get_entry(name), sub, mirror=mirror, cache_dir=cache_dir)


def parse_dataset_spec(text: str | Path) -> str | None:
    """``text`` if it names a registry data set (``name`` or ``name:subset``) and is not an existing path."""
    text = str(text)
    if Path(text).exists():
        return None
    return text if text.split(":", 1)[0] in DATASETS else None


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
