"""Inputs for a model, in one place: raw strings encoded with the saved policy, uint8 codes, one-hot arrays.

Every layer that hands sequences to a model (prediction, evaluation, interpretation, and the variant and
design layers) goes through here, so a sequence is sized, validated and one-hot encoded the same way as
when the model was trained, and a wrong length is reported by one message.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from os import PathLike

import numpy as np
import torch
from torch import nn

from seq2expr.config import SequencePolicy
from seq2expr.data.cache import encode_fast
from seq2expr.data.errors import DataError
from seq2expr.data.sequences import one_hot
from seq2expr.inference.saved import SavedModel, SavedModelConfig

Inputs = str | Sequence[str] | np.ndarray | torch.Tensor
log = logging.getLogger(__name__)


def as_module(model: nn.Module | SavedModel) -> nn.Module:
    """The ``nn.Module`` of a loaded model (or the module itself)."""
    return model.model if isinstance(model, SavedModel) else model


def config_of(model: nn.Module | SavedModel | SavedModelConfig) -> SavedModelConfig | None:
    if isinstance(model, SavedModelConfig):
        return model
    return model.config if isinstance(model, SavedModel) else None


def encode_for(model: SavedModel | SavedModelConfig, seqs: Sequence[str], *, ids: Sequence[str] | None = None,
               source: str | None = None, strict_length: bool = False, warn: bool = True) -> np.ndarray:
    """``(N, seq_len)`` uint8 codes of raw sequences, with the policy and input length the model was trained with.

    When the policy fixes no length the sequences must already be ``seq_len`` long: the model cannot guess
    how to pad them. When it fixes one, sequences of another length are padded or truncated to it and counted:
    one warning with the count and the lengths (``warn``), or with ``strict_length`` one :class:`DataError`
    line instead. Errors name ``source`` and the record (from ``ids``).
    """
    cfg = config_of(model)
    off = off_length(seqs, cfg)
    if off and strict_length:
        raise DataError(length_note(off, cfg, strict=True), source=source)
    codes = encode_fast(list(seqs), cfg.policy, labels=list(ids) if ids is not None else None, source=source)
    check_length(codes.shape[1], cfg.seq_len, source=source, record=ids[0] if ids is not None else 1)
    if off and warn:
        log.warning("%s", length_note(off, cfg) + (f" ({source})" if source else ""))
    return codes


def off_length(seqs: Sequence[str], cfg: SavedModelConfig) -> Counter:
    """How many sequences of each length the model's policy will pad or truncate (none without a fixed length)."""
    if cfg.policy.length is None:
        return Counter()
    return Counter(n for n in map(len, seqs) if n != cfg.policy.length)


def length_note(off: Counter, cfg: SavedModelConfig, strict: bool = False) -> str:
    """One line: how many sequences are not the model's length, their lengths, and what becomes of them."""
    pol, n = cfg.policy, sum(off.values())
    lengths = ", ".join(f"{k} nt x{v}" if v > 1 else f"{k} nt" for k, v in sorted(off.items())[:8])
    more = f" and {len(off) - 8} more lengths" if len(off) > 8 else ""
    head = f"{n:,} sequence{'s are' if n != 1 else ' is'} not {pol.length} nt as the model takes ({lengths}{more})"
    if strict:
        return f"{head}: refused (strict length); give whole {pol.length}-nt sequences"
    return f"{head}: padded with N ({pol.pad}) or truncated ({pol.truncate}) to {pol.length}"


def check_length(length: int, seq_len: int, *, source: str | None = None, record: str | int | None = None) -> None:
    """The one message for input of another length than the model takes."""
    if length != seq_len:
        raise DataError(f"sequences are {length} bp but the model takes {seq_len} bp; its sequence policy fixes no "
                        "length to pad or truncate to (set data.policy.length when training)", source=source,
                        record=record)


def is_codes(X: np.ndarray | torch.Tensor) -> bool:
    """True for ``(N, L)`` integer codes, False for one-hot ``(N, 4, L)`` (or one ``(4, L)`` float sequence)."""
    dtype = X.dtype
    integer = not (dtype.is_floating_point if isinstance(dtype, torch.dtype) else np.issubdtype(dtype, np.floating))
    return X.ndim == 2 and integer


def as_array(model: nn.Module | SavedModel, X: Inputs, *, ids: Sequence[str] | None = None,
             source: str | None = None, strict_length: bool = False) -> np.ndarray | torch.Tensor:
    """Strings -> codes (the saved policy, or the default one for a bare module); arrays are returned as they are
    after a shape check (a memmap, or a :class:`seq2expr.data.dataset.Rows` view of one, stays as it is: batches
    are read from it as they are needed). A pandas DataFrame gives the sequences of its sequence column."""
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # a DataFrame: a table's rows, as read from a file
        X = frame_sequences(model, X)
    elif isinstance(X, PathLike) or not (hasattr(X, "ndim") or hasattr(X, "__iter__")):
        raise TypeError(f"predict takes sequences (str or a list of them), a pandas DataFrame with a sequence column, "
                        f"(N, L) codes or (N, 4, L) one-hot, not {type(X).__name__}; for a file use predict_file")
    if isinstance(X, str):
        X = [X]
    if not hasattr(X, "ndim"):  # a sequence of strings (or nested lists of numbers)
        seqs = list(X)
        if not seqs or not isinstance(seqs[0], str):
            X = np.asarray(seqs)
        else:
            cfg = config_of(model)
            if cfg is not None:
                return encode_for(cfg, seqs, ids=ids, source=source, strict_length=strict_length)
            return encode_fast(seqs, SequencePolicy(), labels=ids, source=source)
    if is_codes(X):
        return X
    if X.ndim == 2 and X.shape[0] == 4:
        X = X[None]
    if X.ndim != 3 or X.shape[1] != 4:
        raise ValueError(f"expected (N, L) codes, (N, 4, L) one-hot or sequences, got shape {tuple(X.shape)}")
    return X


def frame_sequences(model: nn.Module | SavedModel, frame) -> list[str]:
    """The sequences of a DataFrame: its column named as in the training table, else ``sequence``."""
    cfg = config_of(model)
    column = cfg.data.sequence_column if cfg is not None and cfg.data.sequence_column in frame.columns else "sequence"
    if column not in frame.columns:
        raise DataError(f"the DataFrame has no sequence column {column!r} (its columns: {list(frame.columns)[:12]})")
    return [str(v).strip() for v in frame[column].tolist()]


def batch_onehot(chunk: np.ndarray | torch.Tensor, n_value: float = 0.0) -> torch.Tensor:
    """One batch of codes or one-hot rows as a float32 one-hot tensor ``(B, 4, L)``."""
    if is_codes(chunk):
        return one_hot(np.asarray(chunk, dtype=np.uint8) if not torch.is_tensor(chunk) else chunk, n_value)
    return torch.as_tensor(np.asarray(chunk) if not torch.is_tensor(chunk) else chunk, dtype=torch.float32)


def as_onehot(X: Inputs, model: nn.Module | SavedModel | None = None) -> torch.Tensor:
    """Any input as a float32 CPU one-hot tensor ``(N, 4, L)`` (strings and codes with the model's policy)."""
    arr = as_array(model, X)
    cfg = config_of(model)
    return batch_onehot(arr, cfg.policy.n_value if cfg is not None else 0.0).detach().to("cpu")
