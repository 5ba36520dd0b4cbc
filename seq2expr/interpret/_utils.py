"""Shared plumbing for attribution methods: batching and output selection.

Inputs, devices and model state come from the inference layer (:func:`~seq2expr.inference.as_onehot`,
:func:`~seq2expr.inference.resolve_device`, :func:`~seq2expr.inference.model_state`): every attribution
function takes the caller's model (a saved model or a bare ``nn.Module``) and sequences in any form, and
hands the model back unchanged, so it can be called in the middle of training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from seq2expr.progress import track


def batches(n: int, batch_size: int, description: str | None = None) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)``; with a ``description``, counted by a progress bar."""
    batch_size = max(1, int(batch_size))
    starts = range(0, n, batch_size)
    for i in starts if description is None else track(starts, description=description):
        yield slice(i, min(n, i + batch_size))


def select_target(y: torch.Tensor, target: int) -> torch.Tensor:
    """Column ``target`` of a ``(B, T)`` output (a ``(B,)`` output is taken as one target)."""
    if y.ndim == 1:
        if target != 0:
            raise ValueError(f"target {target} requested from a single-output model")
        return y
    if not 0 <= target < y.shape[1]:
        raise ValueError(f"target {target} out of range for a model with {y.shape[1]} outputs")
    return y[:, target]


@contextmanager
def keep_torch_threads() -> Iterator[None]:
    """Restore torch's intra-op thread count after numba code (Tomtom, FIMO, TF-MoDISco).

    Why: numba's ``set_num_threads`` goes through the OpenMP runtime torch shares, so without this a Tomtom
    call silently changes the thread count of every later torch step (measured: 1 -> 2), and float results
    follow the thread count.
    """
    n = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(n)
