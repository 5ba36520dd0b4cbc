"""Where a model runs, decided by one rule, and how it is handed back afterwards.

Rule: an explicit device (``"cpu"``, ``"cuda:1"``) is used as given; ``"auto"`` is the first CUDA device when
there is one, else the CPU; ``None`` is the device the model's parameters are on (the CPU for a freshly
loaded model), so that a model in the middle of training on a GPU stays there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def resolve_device(device: str | torch.device | None = None, model: nn.Module | None = None) -> torch.device:
    """The device to run on (see the module's rule)."""
    if device is None:
        p = next(model.parameters(), None) if model is not None else None
        return p.device if p is not None else torch.device("cpu")
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def model_state(model: nn.Module, device: torch.device, *, grad: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode on ``device`` (parameters frozen unless ``grad``), then restore mode, device
    and each parameter's ``requires_grad``: any function may be called on a model in the middle of training."""
    was_training = model.training
    p = next(model.parameters(), None)
    orig_device = p.device if p is not None else None
    flags = [q.requires_grad for q in model.parameters()]
    try:
        model.eval().to(device)
        for q in model.parameters():
            q.requires_grad_(grad)
        yield model
    finally:
        for q, f in zip(model.parameters(), flags, strict=True):
            q.requires_grad_(f)
        if orig_device is not None:
            model.to(orig_device)
        model.train(was_training)
