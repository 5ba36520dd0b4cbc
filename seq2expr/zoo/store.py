"""Where a zoo entry's files are, checked before use; downloads into the cache.

A file of entry ``NAME`` (version ``V``) is looked for, in order, in

1. ``$SEQ2EXPR_MODELS_MIRROR/NAME/V/`` (a local copy of the release assets, e.g. a lab share),
2. ``$SEQ2EXPR_DATA_MIRROR/models/NAME/V/`` (the data mirror, when it carries the models too),
3. the package's own copy (``seq2expr/zoo/weights/NAME/``: the project's entries, for offline use),
4. the cache ``$SEQ2EXPR_CACHE/models/NAME/V/`` (default ``~/.cache/seq2expr/models``),

and the first folder holding every file is used, each file checked against its card (size, sha256) first: a
truncated or altered copy is an error naming it, never a silent fallback. :func:`fetch_files` downloads what is
missing into the cache (:func:`seq2expr.download.obtain_files`, the data sets' look-up too: checked before it is
moved into place; ``force`` downloads every file again, whatever copy exists). A published
entry's checkpoint is converted by ``seq2expr models fetch`` into ``.../NAME/V/model`` (:func:`converted_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path

from seq2expr.download import ChecksumError, DownloadError, check_file, download, first_folder, obtain_files
from seq2expr.files import FileError
from seq2expr.user_cache import cache_folder
from seq2expr.zoo.card import CardFile, ModelCard
from seq2expr.zoo.catalogue import get_card, package_dir

MODELS_MIRROR_ENV = "SEQ2EXPR_MODELS_MIRROR"
DATA_MIRROR_ENV = "SEQ2EXPR_DATA_MIRROR"


def cache_root() -> Path:
    """``$SEQ2EXPR_CACHE/models`` (default ``~/.cache/seq2expr/models``)."""
    return cache_folder("models")


def cache_dir(card: ModelCard) -> Path:
    return cache_root() / card.name / card.version


def converted_dir(card: ModelCard) -> Path:
    """Where ``seq2expr models fetch`` puts a published entry's checkpoint converted to a saved model folder."""
    return cache_dir(card) / "model"


def candidates(card: ModelCard) -> list[tuple[str, Path]]:
    """The folders an entry's files are looked for in, in order, with what each is."""
    out = []
    if os.environ.get(MODELS_MIRROR_ENV):
        out.append((f"${MODELS_MIRROR_ENV}", Path(os.environ[MODELS_MIRROR_ENV]) / card.name / card.version))
    if os.environ.get(DATA_MIRROR_ENV):
        out.append((f"${DATA_MIRROR_ENV}", Path(os.environ[DATA_MIRROR_ENV]) / "models" / card.name / card.version))
    if card.source == "project":
        out.append(("package copy", package_dir() / "weights" / card.name))
    out.append(("cache", cache_dir(card)))
    return out


def locate(card: ModelCard) -> tuple[Path | None, str]:
    """The first folder holding every file of ``card`` and what it is (``(None, "missing")`` if none)."""
    return first_folder([f.name for f in card.files], candidates(card))


def check(folder: Path, card: ModelCard) -> None:
    """Each file of ``card`` in ``folder`` is the one its card pins (a :class:`ChecksumError` naming it if not)."""
    for f in card.files:
        check_file(folder / f.name, f.pin)


def fetch_files(name: str, *, force: bool = False, timeout: float = 60.0) -> tuple[Path, str]:
    """Make every file of entry ``name`` available, checked: a local copy, else a download into the cache.

    Returns the folder and where it is. Without network access, a :class:`DownloadError` says where a local copy
    can go instead. A file with no published checksum is never downloaded (it could not be checked).
    """
    card = get_card(name)
    unpinned = [f for f in card.files if not f.pinned]
    if unpinned:
        raise FileError(unpinned[0].url or unpinned[0].name, first_step(card))
    files = {f.name: f for f in card.files}
    folders = candidates(card)
    got = obtain_files({n: f.pin for n, f in files.items()}, folders, cache_dir(card),
                       lambda n, target: _download(card, files[n], target, timeout), together=True, force=force)
    wheres = {where for _, where in got.values()}
    if "downloaded" in wheres or len(wheres) != 1:
        return cache_dir(card), "downloaded"
    where = wheres.pop()
    return dict(folders)[where], where


def _download(card: ModelCard, f: CardFile, target: Path, timeout: float) -> None:
    if not f.url:
        raise FileError(f.name, f"zoo model {card.name!r} lists no URL for this file")
    try:
        download(f.url, target, f.pin, timeout=timeout)
    except ChecksumError as err:
        raise ChecksumError(f"{card.name}/{f.name} from {f.url}", f"{err.problem}; nothing was cached") from None
    except DownloadError as err:
        raise DownloadError(f.url, f"{err.problem}. Without network access, copy the file to "
                                   f"${MODELS_MIRROR_ENV}/{card.name}/{card.version}/{f.name} and set "
                                   f"{MODELS_MIRROR_ENV}") from None


def first_step(card: ModelCard) -> str:
    """The one step that makes a published entry usable: ``models fetch`` when its checkpoint is pinned, else
    downloading it by hand and ``models import`` (the zoo never downloads a file it cannot check)."""
    unpinned = [f for f in card.files if not f.pinned]
    if not unpinned:
        return f"run `seq2expr models fetch {card.name}` first"
    f = unpinned[0]
    return (f"no checksum is published for its checkpoint, so the zoo does not download it: download {f.name} "
            f"from {f.url or 'its authors'} yourself, run `seq2expr models import {card.importer or card.name} "
            f"{f.name} -o DIR` and use DIR as the model")


def model_dir(name: str) -> Path:
    """The saved-model folder of zoo entry ``name``, checked, for :func:`seq2expr.inference.load_model`.

    A project entry comes from a mirror, the package copy or the cache (downloaded if need be); a published
    entry must have been converted first (``seq2expr models fetch NAME`` or ``models import``)."""
    card = get_card(name)
    if card.source == "published":
        out = converted_dir(card)
        if not (out / "config.json").is_file():
            raise FileError(out, f"zoo model {card.name!r} is the authors' checkpoint converted on this machine; "
                                 + first_step(card))
        return out
    folder, _ = fetch_files(card.name)
    return folder
