"""Files from the internet or a local copy, checked before use: the one download path (data sets and models).

A download goes through pooch (streamed to a temporary file, a progress bar on stderr when
:func:`seq2expr.progress.enabled`, retries) into a staging folder beside its destination; the file is then checked
(its size, then its sha256, or the git blob id of a file pinned by a repository commit) and only then moved into
place (:func:`seq2expr.atomic.atomic_path`: the permissions the umask gives; a killed download's leftovers are
cleared). A truncated or altered file raises a :class:`ChecksumError` naming it, and nothing is kept. A network
failure raises a :class:`DownloadError`, to which the caller adds where a local copy can go instead.

:func:`obtain_files` is the one "local copy, then cache, then download" look-up of pinned files (data sets and
zoo models): the folders a caller names are searched in order, a copy found is checked before use, and a missing
file is downloaded into the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from seq2expr.atomic import atomic_path, temporary_folder
from seq2expr.files import FileError


class ChecksumError(FileError):
    """A file whose size or checksum differs from the one it was registered with."""


class DownloadError(FileError):
    """A download that failed before any byte could be checked (no network, server error, timeout)."""


@dataclass(frozen=True)
class Pin:
    """What a file must be: its size in bytes and sha256 (either may be unknown), or the git blob id of a file
    pinned by a repository commit; ``content_sha256`` accepts a gzip file by its decompressed bytes."""

    sha256: str | None = None
    size: int | None = None
    git_blob: str | None = None
    content_sha256: str | None = None

    @property
    def pinned(self) -> bool:
        return bool(self.sha256 or self.git_blob or self.content_sha256)


def sha256_file(path: str | Path, *, decompress: bool = False) -> str:
    """Hex sha256 of a file's bytes (of its decompressed bytes with ``decompress``)."""
    opener = gzip.open if decompress else open
    with opener(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def git_blob_id(path: str | Path) -> str:
    """The id git gives a file's content (sha1 of ``blob <size>\\0`` + the bytes): a checksum for files pinned by
    a repository commit whose sha256 was never published."""
    path = Path(path)
    header = f"blob {path.stat().st_size}\0".encode()
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.sha1(header)).hexdigest()


def check_file(path: str | Path, pin: Pin, *, name: str | None = None) -> None:
    """Raise a :class:`ChecksumError` naming ``name`` (default: the path) unless ``path`` is the pinned file."""
    path = Path(path)
    label = name or str(path)
    size = path.stat().st_size
    if pin.size is not None and size != pin.size and not pin.content_sha256:
        what = "truncated" if size < pin.size else "longer than registered"
        raise ChecksumError(label, f"{what}: {size:,} bytes, expected {pin.size:,} (an interrupted download or a "
                                   "different version)")
    if pin.sha256 and sha256_file(path) == pin.sha256:
        return
    if pin.content_sha256:
        try:
            if sha256_file(path, decompress=True) == pin.content_sha256:
                return
        except (OSError, EOFError, gzip.BadGzipFile):
            pass
    if pin.git_blob and not pin.sha256 and git_blob_id(path) == pin.git_blob:
        return
    if not pin.pinned:
        return
    got = sha256_file(path)
    want = pin.sha256 or pin.content_sha256 or f"git blob {pin.git_blob}"
    raise ChecksumError(label, f"checksum mismatch: sha256 {got} but expected {want}; the file is corrupt, "
                               "truncated or a different version (delete it and fetch again)")


Folders = Sequence[tuple[str, Path]]  # (what the folder is, the folder), in the order they are searched


def first_folder(names: Sequence[str], folders: Folders) -> tuple[Path | None, str]:
    """The first of ``folders`` holding every file of ``names`` and what it is (``(None, "missing")`` if none)."""
    for where, folder in folders:
        if names and all((Path(folder) / n).is_file() for n in names):
            return Path(folder), where
    return None, "missing"


def obtain_files(pins: Mapping[str, Pin], folders: Folders, cache: Path, get: Callable[[str, Path], None], *,
                 together: bool = False, force: bool = False) -> dict[str, tuple[Path, str]]:
    """Every file of ``pins`` (name -> :class:`Pin`) as ``{name: (path, where)}``, each checked against its pin.

    A file's copy is the first of ``folders`` (searched in order; ``cache`` among them) holding it, or, with
    ``together``, every file from the first folder holding them all (a model's files are one release, never
    mixed); else ``get(name, cache / name)`` downloads it into the cache (``where``: ``downloaded``), keeping the
    cache's own checked copies of the others. ``force``: download every file again, whatever copy exists. A copy
    that fails its check raises :class:`ChecksumError`: never skipped for the next one.
    """
    names = list(pins)
    found: dict[str, tuple[Path | None, str]] = {}  # name -> (the folder holding it, what that is)
    if not force:
        folder, where = first_folder(names, folders) if together else (None, "missing")
        if folder is not None:
            found = dict.fromkeys(names, (folder, where))
        else:
            search = [(w, p) for w, p in folders if Path(p) == Path(cache)] if together else folders
            found = {n: first_folder([n], search) for n in names}
    out = {}
    for n in names:
        folder, where = found.get(n, (None, "missing"))
        if folder is None:
            path, where = Path(cache) / n, "downloaded"
            get(n, path)
        else:
            path = folder / n
            check_file(path, pins[n])
        out[n] = (path, where)
    return out


def download(url: str, dest: str | Path, pin: Pin, *, timeout: float = 60.0,
             transform: Callable[[Path, Path], None] | None = None) -> Path:
    """Download ``url`` to ``dest``: checked against ``pin`` before it is moved into place, so ``dest`` appears
    whole and verified or not at all. ``transform(src, out)`` writes the final file from the checked download
    (e.g. gzip a file published uncompressed)."""
    import pooch

    from seq2expr.progress import enabled

    dest = Path(dest)
    with temporary_folder(dest, "download") as stage:
        fetched = _fetch(pooch, url, stage, timeout, enabled())
        check_file(fetched, pin, name=url)
        with atomic_path(dest) as out:
            if transform is None:
                os.replace(fetched, out)
            else:
                transform(fetched, out)
    return dest


def _fetch(pooch, url: str, stage: Path, timeout: float, progress: bool) -> Path:
    """pooch's download of ``url`` into ``stage``. The checksum is :func:`check_file`'s, after it, so pooch's own
    notes (where it downloads, and a hint to pin the hash it computed) are kept off the terminal."""
    import requests

    downloader = pooch.HTTPDownloader(progressbar=progress and _has_tqdm(), timeout=timeout)
    log = pooch.get_logger()
    level = log.level
    logging.getLogger("seq2expr").debug("downloading %s", url)
    log.setLevel(logging.WARNING)
    try:
        return Path(pooch.retrieve(url, known_hash=None, fname="download", path=stage, downloader=downloader))
    except (OSError, requests.RequestException) as err:  # connection refused, DNS, timeouts, HTTP errors
        reason = " ".join(str(err).split())[:300] or type(err).__name__
        raise DownloadError(url, f"download failed ({reason})") from err
    finally:
        log.setLevel(level)


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401  (pooch draws its bar with it)
    except ImportError:
        return False
    return True
