"""The SNV background of gene-mode variant scoring, computed once per model, genome, gene windows and settings.

The percentiles of ``seq2expr variants`` rank each effect among the effects of thousands of random SNVs in the
gene windows. In gene mode those depend only on the model's weights, the genome, the windows and the settings
(readout, precision, engine, device kind, sample size, seed), never on the VCF: a run of 30 variants would
otherwise pay for 10,000 background SNVs every time. The sorted effects are kept in
``$SEQ2EXPR_CACHE/variants/<key>.safetensors``, keyed by a sha256 of all of those, with the sha256 of the array in
the file's metadata: a file that does not check out is recomputed, never trusted.
``SEQ2EXPR_NO_BACKGROUND_CACHE=1`` turns the cache off (every run computes it, as before; for benchmarks).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from seq2expr.atomic import atomic_path
from seq2expr.files import FileError
from seq2expr.user_cache import cache_folder
from seq2expr.version import __version__

log = logging.getLogger(__name__)


def file_identity(path: str | Path) -> dict:
    """A file's identity for a cache key: its resolved path, size and modification time (a genome of gigabytes is
    not hashed for each run; a file rewritten in place gets a new mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def weights_identity(model_path: str | Path) -> str:
    """sha256 of a saved model's weights file."""
    from seq2expr.download import sha256_file
    from seq2expr.inference.saved import WEIGHTS

    return sha256_file(Path(model_path) / WEIGHTS)


def array_digest(*arrays: np.ndarray) -> str:
    """sha256 over the bytes (and shapes) of some arrays: the gene windows in a key."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def background_key(parts: dict) -> str:
    """The cache key: sha256 of the settings that decide the background (and the library version)."""
    text = json.dumps({**parts, "library_version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def background_path(key: str) -> Path:
    return cache_folder("variants", f"{key}.safetensors")


def load_background(key: str) -> np.ndarray | None:
    """The cached background of ``key``, or None when there is none or it does not check out."""
    path = background_path(key)
    if not path.is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        arr = load_file(str(path))["background"].numpy()
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        log.warning("SNV background cache %s unreadable (%s): recomputing", path, err)
        return None
    if meta.get("sha256") != array_digest(arr):
        log.warning("SNV background cache %s does not match its checksum: recomputing", path)
        return None
    return arr


def save_background(key: str, background: np.ndarray, parts: dict) -> Path | None:
    """Write the background atomically (a failure to write the cache never fails the run)."""
    path = background_path(key)
    arr = np.ascontiguousarray(background, dtype=np.float32)
    meta = {"sha256": array_digest(arr), "key": json.dumps(parts, sort_keys=True, default=str)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({"background": torch.from_numpy(arr)}, str(tmp), metadata=meta)
    except (OSError, FileError) as err:
        log.warning("could not cache the SNV background in %s: %s", path, err)
        return None
    return path


def cached(parts: dict | None, compute) -> tuple[np.ndarray | None, bool]:
    """``(background, reused)``: the cached background for ``parts`` if there is a good one, else ``compute()``
    (cached for next time). ``parts`` None (a model with no weights file, caching off): always computed."""
    if parts is None or os.environ.get("SEQ2EXPR_NO_BACKGROUND_CACHE"):
        return compute(), False
    key = background_key(parts)
    found = load_background(key)
    if found is not None:
        log.info("SNV background: %d effects reused from %s", len(found), background_path(key))
        return found, True
    background = compute()
    if background is not None:
        save_background(key, background, parts)
    return background, False
