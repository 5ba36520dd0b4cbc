"""Shared plumbing for attribution methods: input coercion, batching, and model-state restore.

Every attribution function takes the caller's model as is and must hand it back unchanged (train/eval
mode, device, ``requires_grad`` of each parameter), so it can be called in the middle of training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


def as_onehot(X: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(N, 4, L)`` one-hot (numpy or torch, any float/int dtype) -> float32 CPU tensor."""
    x = torch.as_tensor(X).detach()
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != 4:
        raise ValueError(f"expected one-hot sequences of shape (N, 4, L); got {tuple(x.shape)}")
    return x.to(dtype=torch.float32, device="cpu")


def resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """The device to run on: the one asked for, else the model's own."""
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def model_state(model: nn.Module, device: torch.device, *, grad: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode on ``device`` (parameters frozen unless ``grad``), then restore it."""
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


def batches(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)``."""
    batch_size = max(1, int(batch_size))
    for i in range(0, n, batch_size):
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


@torch.inference_mode()
def predict(model: nn.Module, X: np.ndarray | torch.Tensor, *, batch_size: int = 256,
            device: str | torch.device | None = None) -> np.ndarray:
    """Raw model outputs ``(N, T)`` for one-hot input, in eval mode, model state restored."""
    x = as_onehot(X)
    dev = resolve_device(model, device)
    out = []
    with model_state(model, dev):
        for sl in batches(len(x), batch_size):
            y = model(x[sl].to(dev))
            out.append((y if y.ndim == 2 else y[:, None]).float().cpu())
    return torch.cat(out).numpy()


def target_names(saved_config: dict) -> list[str]:
    """Target names of a saved model (``target_0``... when the config has none)."""
    n = int(saved_config.get("model", {}).get("n_targets", 1))
    names = saved_config.get("target_names") or [f"target_{i}" for i in range(n)]
    return list(names)
