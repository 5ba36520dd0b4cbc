"""Shared plumbing for attribution methods: batching, output selection and the readout a method explains.

Inputs, devices and model state come from the inference layer (:func:`~seq2expr.inference.as_onehot`,
:func:`~seq2expr.inference.resolve_device`, :func:`~seq2expr.inference.model_state`): every attribution
function takes the caller's model (a saved model or a bare ``nn.Module``) and sequences in any form, and
hands the model back unchanged, so it can be called in the middle of training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from seq2expr.inference import BoundReadout, Readout, SavedModel
from seq2expr.progress import track


def batches(n: int, batch_size: int, description: str | None = None) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)``; with a ``description``, counted by a progress bar."""
    batch_size = max(1, int(batch_size))
    starts = range(0, n, batch_size)
    for i in starts if description is None else track(starts, description=description):
        yield slice(i, min(n, i + batch_size))


def readout_for(model: nn.Module | SavedModel, target: int | str = 0, readout: Readout | None = None) -> BoundReadout:
    """The readout an attribution explains: the caller's, else ``target`` on the model scale (logits for
    classification), strands averaged as the saved model was trained. It must give one output (:func:`single`)."""
    return (readout if readout is not None else Readout(targets=target, scale="model")).resolve(model)


def single(y):
    """The one column of a readout's ``(B, 1)`` values (tensor or array) as ``(B,)``; several are refused."""
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"an attribution explains one output; the readout gives {y.shape[1]} (name one target)")
    return y.reshape(len(y))


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
