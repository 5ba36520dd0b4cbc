"""Encoded-sequence cache: records -> ``(N, L)`` uint8 codes in a ``.npy`` file, reopened as a memmap.

Encoding 10M sequences takes minutes and a one-hot copy would not fit in memory, so codes are written
once, chunk by chunk, into an ``open_memmap`` (memory stays flat) and reused by every later run. The
cache key is a sha256 over the source file's fingerprint, a sample of the sequences themselves, the
sequence policy and ``key_extra`` (the caller's column choices), so any change re-encodes.
Files appear atomically: written under a temporary name, then renamed, so two processes encoding the same
data each write a whole file and the last rename wins. A sidecar ``KEY.json`` records the shape, the byte size
and the sha256 of the ``.npy``; a cache file that is truncated, altered or lacks its sidecar is re-encoded,
never read as garbage.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seq2expr.atomic import atomic_path, write_json
from seq2expr.data.errors import DataError
from seq2expr.data.records import Records
from seq2expr.data.sequences import SequencePolicy, encode, encode_one, ragged_lengths
from seq2expr.download import sha256_file
from seq2expr.files import fault_point
from seq2expr.user_cache import cache_folder

log = logging.getLogger(__name__)

CHUNK = 65_536
FULL_HASH_LIMIT = 64 << 20  # files up to 64 MiB are hashed in full; larger ones by size+mtime+first/last MiB
_EDGE = 1 << 20


def file_hash(path: str | Path) -> str:
    """Content fingerprint of one file: full sha256 when small, else size + mtime + first/last MiB."""
    path = Path(path)
    st = path.stat()
    if st.st_size <= FULL_HASH_LIMIT:
        return sha256_file(path)
    h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as fh:
        h.update(fh.read(_EDGE))
        fh.seek(st.st_size - _EDGE)
        h.update(fh.read(_EDGE))
    return h.hexdigest()


def _sequence_fingerprint(seqs: Sequence[str]) -> str:
    """Hash of the count, total length and ~2,000 evenly spaced sequences (cheap for 10M records)."""
    n = len(seqs)
    h = hashlib.sha256(f"{n}".encode())
    pick = np.unique(np.linspace(0, n - 1, num=min(n, 2000)).astype(np.int64)) if n else []
    for i in pick:
        h.update(seqs[i].encode("latin-1", errors="replace"))
        h.update(b"\n")
    return h.hexdigest()


def data_hash(records: Records, policy: SequencePolicy | None = None, key_extra: str = "") -> str:
    """Identity of encoded data: source file(s) content + sequence sample + policy + caller's extra key."""
    sources = []
    for part in str(records.source).split(" + "):
        p = Path(part)
        sources.append(file_hash(p) if part and p.is_file() else part)
    payload = {
        "sources": sources,
        "sequences": _sequence_fingerprint(records.sequences),
        "policy": policy.to_dict() if policy is not None else None,
        "extra": key_extra,
        "format": 1,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def encode_fast(seqs: Sequence[str], policy: SequencePolicy, labels: Sequence[str] | None = None,
                source: str | None = None) -> np.ndarray:
    """Encode a chunk to ``(n, L)`` uint8; equal-length chunks are validated and encoded in one call.

    Falls back to :func:`seq2expr.data.sequences.encode` (per record) for ragged input or on error, so
    messages name the offending record.
    """
    if len(seqs) == 0:
        raise DataError("no sequences", source=source)
    n0 = len(seqs[0])
    same = n0 > 0 and all(len(s) == n0 for s in seqs)
    if same and (policy.length is None or policy.length == n0):
        try:
            return encode_one("".join(seqs), policy.model_copy(update={"length": None})).reshape(len(seqs), n0)
        except DataError:
            pass
    return encode(seqs, policy, ids=labels, source=source)


def cache_path(records: Records, policy: SequencePolicy, cache_dir: str | Path | None = None,
               key_extra: str = "", key: str | None = None) -> Path:
    """Where :func:`encode_cached` stores (or finds) the codes; ``key`` is a precomputed :func:`data_hash`."""
    key = key or data_hash(records, policy, key_extra)
    return Path(cache_dir or cache_folder("encoded")) / f"{key[:32]}.npy"


def _encode_into(records: Records, policy: SequencePolicy, out_path: Path, length: int) -> None:
    """Write codes chunk by chunk into a fresh ``.npy`` memmap at ``out_path``."""
    n = len(records)
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.uint8, shape=(n, length))
    try:
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            seqs = records.sequences[start:stop]
            labels = [records.label(i) for i in range(start, stop)]
            codes = encode_fast(seqs, policy, labels, source=records.source)
            if codes.shape[1] != length:
                i = start + int(np.flatnonzero(np.fromiter(map(len, seqs), int) != length)[0])
                raise ragged_lengths(len(records.sequences[i]), length, source=records.source,
                                     record=records.label(i))
            out[start:stop] = codes
        out.flush()
    finally:
        del out


def encode_cached(records: Records, policy: SequencePolicy, cache_dir: str | Path | None = None,
                  key_extra: str = "", key: str | None = None) -> np.memmap:
    """Codes ``(N, L)`` uint8 for ``records`` as a read-only memmap, encoding only on a cache miss.

    ``key``: a precomputed ``data_hash(records, policy, key_extra)`` (saves hashing the source twice).
    """
    if len(records) == 0:
        raise DataError("no records to encode", source=records.source)
    path = cache_path(records, policy, cache_dir, key_extra, key)
    if path.exists():
        codes = verified(path, len(records))
        if codes is not None:
            return codes
    length = policy.length if policy.length is not None else len(records.sequences[0])
    if length == 0:
        raise DataError("empty sequence", source=records.source, record=records.label(0))
    log.info("encoding %d sequences into %s", len(records), path)
    with atomic_path(path) as tmp:
        _encode_into(records, policy, tmp, length)
        fault_point("encode")
        meta = _meta(tmp)
    write_json(sidecar(path), meta)
    return np.load(path, mmap_mode="r")


def seal(path: str | Path) -> None:
    """Write the sidecar of a finished ``.npy`` cache file (its shape, byte size and sha256), for :func:`verified`."""
    path = Path(path)
    write_json(sidecar(path), _meta(path))


def _meta(path: Path) -> dict:
    shape = np.load(path, mmap_mode="r").shape
    return {"shape": [int(x) for x in shape], "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def sidecar(path: Path) -> Path:
    """The JSON beside a cache file: its shape, byte size and sha256."""
    return path.with_suffix(".json")


def verified(path: str | Path, n: int | None = None, dtype=np.uint8) -> np.memmap | None:
    """The cached array (a read-only memmap) if the file matches its sidecar (shape, ``n`` rows, byte size,
    checksum, ``dtype``); None, with a logged reason, when it is truncated, altered or unsealed."""
    path = Path(path)
    try:
        meta = json.loads(sidecar(path).read_text())
        if path.stat().st_size != meta["bytes"]:
            reason = f"{path.stat().st_size} bytes, its sidecar says {meta['bytes']} (truncated?)"
        elif n is not None and meta["shape"][0] != n:
            reason = f"{meta['shape'][0]} rows for {n} records"
        elif sha256_file(path) != meta["sha256"]:
            reason = "checksum differs from its sidecar (altered)"
        else:
            codes = np.load(path, mmap_mode="r")
            if list(codes.shape) == meta["shape"] and codes.dtype == dtype:
                return codes
            reason = f"shape {codes.shape} {codes.dtype}, its sidecar says {meta['shape']} {np.dtype(dtype)}"
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        reason = f"unreadable or no sidecar ({' '.join(str(err).split())})"
    log.warning("cache file %s: %s; re-encoding", path, reason)
    return None
