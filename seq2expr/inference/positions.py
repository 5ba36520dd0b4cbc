"""Positions: a track model's output along the window read as one value per target.

A track model (Enformer, Borzoi, a user's own profile network) maps ``(B, 4, L)`` to ``(B, P, T)``: ``T`` tracks
in ``P`` bins along the window. Every verb reads one value per target, so the readout chooses the bins and how
they are joined (a :class:`~seq2expr.config.Positions`), per call, with the network untouched: the role of gReLU's
``Aggregate`` prediction transform. A saved track model names its default (``model.positions`` of its config: the
bins at the TSS for a gene model); a readout may name others (a command's ``--target ...@centre:5``).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from seq2expr.config import Positions, parse_bins
from seq2expr.data.errors import DataError

__all__ = ["Positions", "along", "bin_indices"]


def bin_indices(positions: Positions, n_bins: int) -> list[int]:
    """The bins ``positions`` chooses in an output of ``n_bins`` bins, or one :class:`DataError` line."""
    return list(_chosen(positions.bins, n_bins))


@lru_cache(maxsize=64)
def _chosen(bins: str, n_bins: int) -> tuple[int, ...]:
    """:func:`bin_indices` of the bins' text, parsed once per text and output length (every forward pass asks)."""
    kind, value = parse_bins(bins)
    if kind == "all":
        return tuple(range(n_bins))
    if kind == "centre":
        first = n_bins // 2 - (value - 1) // 2
        picked = tuple(range(first, first + value))
    else:
        picked = tuple(value)
    if min(picked) < 0 or max(picked) >= n_bins:
        raise DataError(f"positions {bins!r}: bins {min(picked)}..{max(picked)} do not lie in the model's "
                        f"{n_bins} output bins (0..{n_bins - 1})")
    return picked


def along(out: torch.Tensor, positions: Positions | None) -> torch.Tensor:
    """A network's output as one value per target: ``(B, T)`` as it is; ``(B, P, T)`` joined over ``positions``
    (differentiable). One line when the two do not fit: positions for a model without any, or none for a track
    model."""
    if out.ndim == 3:
        if positions is None:
            raise DataError(f"the model gives {out.shape[2]} tracks along {out.shape[1]} positions: choose the bins "
                            "to read (a readout's positions, e.g. --target ...@centre:3)")
        picked = out.index_select(1, torch.as_tensor(bin_indices(positions, out.shape[1]), device=out.device))
        if positions.aggregate == "sum":
            return picked.sum(1)
        if positions.aggregate == "max":
            return picked.amax(1)
        return picked.mean(1)
    if positions is not None:
        raise DataError(f"positions {positions.text()!r} given for a model with one value per target, not tracks "
                        "along positions")
    return out
