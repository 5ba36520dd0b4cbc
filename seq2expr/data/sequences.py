"""The sequence policy, stated once: what a valid sequence is and how it becomes a tensor.

Policy (the fields of :class:`seq2expr.config.SequencePolicy`; the rules that apply them are here)
------
* Alphabet ``ACGT``; lowercase is upper-cased (soft-masking carries no meaning here).
* ``N`` is allowed and encoded as an all-zero column, or 0.25 everywhere with ``n_value=0.25``.
* Other IUPAC codes (``RYSWKMBDHV``) are rejected unless ``iupac="n"`` maps them to ``N``.
* Anything else (digits, ``-``, ``*``, spaces) is always rejected.
* Ragged lengths: ``length=None`` demands equal lengths; otherwise every sequence is padded with
  ``N`` or truncated to ``length`` on the side given by ``pad`` / ``truncate`` (left, right, centre).

Sequences are stored as ``uint8`` index arrays (A=0, C=1, G=2, T=3, N=4): one byte per base, four
times smaller than one-hot float32 bits, and one-hot encoded per batch on the fly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from seq2expr.config import SequencePolicy, Side
from seq2expr.data.errors import DataError

__all__ = ["ALPHABET", "N_CODE", "SequencePolicy", "complement_codes", "decode", "encode", "encode_one", "one_hot",
           "ragged_lengths", "reverse_complement", "reverse_complement_codes", "reverse_complement_onehot",
           "sequence_hashes"]

ALPHABET = "ACGT"
Segments = Sequence[tuple[int, int]]  # [start, end) spans of an input made of several segments
N_CODE = 4
IUPAC_AMBIGUOUS = "RYSWKMBDHV"

_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate("ACGTN"):
    _LUT[ord(_b)] = _i
    _LUT[ord(_b.lower())] = _i
_LUT_IUPAC = _LUT.copy()
for _b in IUPAC_AMBIGUOUS:
    _LUT_IUPAC[ord(_b)] = N_CODE
    _LUT_IUPAC[ord(_b.lower())] = N_CODE
_COMPLEMENT_CODE = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
_COMPLEMENT_TEXT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def _fit_length(codes: np.ndarray, length: int, pad: Side, truncate: Side) -> np.ndarray:
    n = len(codes)
    if n > length:
        cut = n - length
        start = {"left": cut, "right": 0, "centre": cut // 2}[truncate]
        return codes[start : start + length]
    if n < length:
        out = np.full(length, N_CODE, dtype=np.uint8)
        gap = length - n
        start = {"left": gap, "right": 0, "centre": gap // 2}[pad]
        out[start : start + n] = codes
        return out
    return codes


def encode_one(seq: str, policy: SequencePolicy = SequencePolicy(), *, source: str | None = None,
               record: str | int | None = None) -> np.ndarray:
    """Validate one sequence and return its uint8 codes (length fitted to ``policy.length``)."""
    if not seq:
        raise DataError("empty sequence", source=source, record=record)
    raw = np.frombuffer(seq.encode("latin-1", errors="replace"), dtype=np.uint8)
    lut = _LUT_IUPAC if policy.iupac == "n" else _LUT
    codes = lut[raw]
    bad = np.flatnonzero(codes == 255)
    if bad.size:
        chars = sorted({seq[i] for i in bad[:50]})
        hint = (" (an IUPAC ambiguity code; a model reads it as N when trained with `seq2expr train ... --set "
                "data.policy.iupac=n`, i.e. the run config's data.policy.iupac: n)"
                if all(c.upper() in IUPAC_AMBIGUOUS for c in chars) else "")
        raise DataError(f"invalid character(s) {''.join(chars)!r} at position {int(bad[0]) + 1}{hint}",
                        source=source, record=record)
    if policy.length is not None:
        codes = _fit_length(codes, policy.length, policy.pad, policy.truncate)
    return codes


def encode(seqs: Sequence[str], policy: SequencePolicy = SequencePolicy(), *, ids: Sequence[str] | None = None,
           source: str | None = None) -> np.ndarray:
    """Encode strings into a ``(N, L)`` uint8 array, raising :class:`DataError` naming the bad record."""
    if len(seqs) == 0:
        raise DataError("no sequences", source=source)
    rows = [encode_one(s, policy, source=source, record=(ids[i] if ids is not None else i + 1))
            for i, s in enumerate(seqs)]
    lengths = {len(r) for r in rows}
    if len(lengths) > 1:
        first = len(rows[0])
        i = next(i for i, r in enumerate(rows) if len(r) != first)
        raise ragged_lengths(len(rows[i]), first, source=source, record=ids[i] if ids is not None else i + 1)
    return np.stack(rows)


def ragged_lengths(length: int, first: int, *, source: str | None = None, record: str | int | None = None
                   ) -> DataError:
    """The error for a sequence whose length differs from the first record's under a policy without a length."""
    return DataError(f"ragged lengths: {length} bp here but {first} bp in the first record; set a length with a "
                     "pad/truncate policy", source=source, record=record)


def decode(codes: np.ndarray) -> list[str]:
    """Inverse of :func:`encode` for a ``(N, L)`` or ``(L,)`` uint8 array."""
    arr = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)[arr]
    return [row.tobytes().decode() for row in letters]


def complement_codes(codes: np.ndarray) -> np.ndarray:
    """Complement of uint8 codes, base by base (A<->T, C<->G, N stays N): the one complement table."""
    return _COMPLEMENT_CODE[np.asarray(codes)]


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of uint8 codes along the last axis (N stays N)."""
    return complement_codes(codes)[..., ::-1].copy()


def reverse_complement(seq: str) -> str:
    """Reverse complement of a string over ACGTN (case is kept): the one string rule; every caller uses it."""
    return seq.translate(_COMPLEMENT_TEXT)[::-1]


def one_hot(codes: torch.Tensor | np.ndarray, n_value: float = 0.0) -> torch.Tensor:
    """``(B, L)`` uint8 codes -> ``(B, 4, L)`` float32 one-hot; N is ``n_value`` in all channels."""
    idx = torch.as_tensor(np.asarray(codes) if isinstance(codes, np.ndarray) else codes).long()
    eye = torch.cat([torch.eye(4), torch.full((1, 4), float(n_value))])
    return eye.to(idx.device)[idx].transpose(-1, -2).contiguous()


def reverse_complement_onehot(x: torch.Tensor | np.ndarray, segments: Segments | None = None
                              ) -> torch.Tensor | np.ndarray:
    """Reverse complement of a ``(..., 4, L)`` one-hot batch or base matrix (a PWM, a CWM: ACGT channel order), a
    tensor or a numpy array (a new contiguous one): the one rule for every such array.

    ``segments`` (``[(start, end), ...]``): an input of several segments (``dual``: promoter | spacer | distal)
    is reverse-complemented one segment at a time, in place, so the segments keep their order and each model
    branch keeps reading its own segment; positions outside every segment (the spacer) stay as they are.
    """
    if isinstance(x, np.ndarray):
        if segments:
            return reverse_complement_onehot(torch.from_numpy(np.ascontiguousarray(x)), segments).numpy()
        return np.ascontiguousarray(x[..., ::-1, ::-1])
    if not segments:
        return x.flip(dims=(-2, -1))
    out = x.clone()
    for start, end in segments:
        out[..., start:end] = x[..., start:end].flip(dims=(-2, -1))
    return out


def sequence_hashes(codes: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """One 64-bit hash (int64) per row of uint8 codes ``(N, L)``, the same for a sequence and its reverse complement
    (the smaller of the two strands' bytes is hashed, blake2b): how a saved model records the sequences it was fitted
    on, so that an evaluation finds them again. Read a chunk of rows at a time (memmaps stay on disk)."""
    import hashlib

    out = np.empty(len(codes), dtype=np.int64)
    for start in range(0, len(codes), chunk):
        block = np.ascontiguousarray(codes[start:start + chunk], dtype=np.uint8)
        rc = np.ascontiguousarray(reverse_complement_codes(block))
        for i, (f, r) in enumerate(zip(block, rc, strict=True)):
            digest = hashlib.blake2b(min(f.tobytes(), r.tobytes()), digest_size=8).digest()
            out[start + i] = np.frombuffer(digest, dtype="<i8")[0]
    return out
