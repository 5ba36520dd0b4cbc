"""Target transforms (log, z-score; fitted on training rows, inverted at predict) and 0/1 labels.

``TargetTransform`` is stored in the saved model's config (``to_dict``) so predictions come back on the
measured scale. ``make_labels`` turns a continuous target into classes as DeepCRE does: genes in the
bottom quantile are 0, in the top quantile 1, and the ambiguous middle is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from seq2expr.data.errors import DataError

Kind = Literal["none", "log1p", "log2p1", "log10p1"]
_FORWARD = {"none": lambda y: y, "log1p": np.log1p, "log2p1": lambda y: np.log2(1.0 + y),
            "log10p1": lambda y: np.log10(1.0 + y)}
_INVERSE = {"none": lambda y: y, "log1p": np.expm1, "log2p1": lambda y: np.exp2(y) - 1.0,
            "log10p1": lambda y: np.power(10.0, y) - 1.0}
_INVERSE_TORCH = {"none": lambda y: y, "log1p": torch.expm1, "log2p1": lambda y: torch.exp2(y) - 1.0,
                  "log10p1": lambda y: torch.pow(10.0, y) - 1.0}  # the same inverses, differentiable


# the logs ``seq2expr data genes`` names its target columns by (``log_tpm`` = log1p(TPM), ``log_tpm_<sample>``...)
_NAMED_LOGS = (("log10_tpm", "log10p1"), ("log2_tpm", "log2p1"), ("log_tpm", "log1p"))


def named_log(name: str) -> Kind | None:
    """The log a target column is on by its name (``log_tpm[_SAMPLE]``: log1p of TPM, ``log2_tpm``: log2(1 + TPM),
    ``log10_tpm``), or None when its name says nothing."""
    return next((kind for prefix, kind in _NAMED_LOGS if name == prefix or name.startswith(prefix + "_")), None)


def unlog(kind: Kind, y: np.ndarray) -> np.ndarray:
    """Values on a ``kind`` log scale back on the linear one (``log1p`` -> ``expm1``), float64."""
    return _INVERSE[kind](np.asarray(y, dtype=np.float64))


@dataclass
class TargetTransform:
    """``y -> (f(y) - mean) / std`` per target column, with ``f`` a log or the identity."""

    kind: Kind = "none"
    standardize: bool = False
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in _FORWARD:
            raise ValueError(f"unknown target transform {self.kind!r}; choose one of {sorted(_FORWARD)}")

    def _log(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if self.kind != "none" and y.size and np.nanmin(y) <= -1.0:
            raise DataError(f"{self.kind} transform needs targets > -1 (min is {np.nanmin(y):g})")
        return _FORWARD[self.kind](y)

    def fit(self, y: np.ndarray) -> TargetTransform:
        """Learn per-column mean/std of ``f(y)`` (on training rows only)."""
        if self.standardize:
            z = np.atleast_2d(self._log(y).reshape(len(y), -1))
            if len(z) < 2:
                raise DataError("standardize needs at least 2 training rows")
            std = z.std(axis=0)
            self.mean = z.mean(axis=0).tolist()
            self.std = np.where(std > 0, std, 1.0).tolist()
        return self

    def apply(self, y: np.ndarray) -> np.ndarray:
        z = self._log(y)
        if self.standardize:
            if not self.mean:
                raise RuntimeError("TargetTransform.apply before fit")
            z = (z - np.asarray(self.mean)) / np.asarray(self.std)
        return z.astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Map model outputs back to the measured scale."""
        z = np.asarray(z, dtype=np.float64)
        if self.standardize:
            z = z * np.asarray(self.std) + np.asarray(self.mean)
        return _INVERSE[self.kind](z).astype(np.float32)

    def inverse_torch(self, z: torch.Tensor) -> torch.Tensor:
        """:meth:`inverse` as a differentiable torch function (float64 inside, as :meth:`inverse` computes; the
        result in ``z``'s dtype), for attributions of original-scale outputs."""
        x = z.double()
        if self.standardize:
            x = x * torch.as_tensor(self.std, dtype=x.dtype, device=x.device) + \
                torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
        return _INVERSE_TORCH[self.kind](x).to(z.dtype)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "standardize": self.standardize, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict | None) -> TargetTransform:
        return cls(**(d or {}))


def make_labels(y: np.ndarray, quantiles: tuple[float, float] | None = None, threshold: float | None = None,
                fit_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """0/1 float32 labels and a keep mask from continuous ``y`` (``(N,)`` or ``(N, T)``).

    ``quantiles=(lo, hi)``: values <= the ``lo`` quantile are 0, >= the ``hi`` quantile 1, rows in between
    are dropped (``keep`` False; a row is kept only if kept in every column). ``threshold``: ``y > t`` is 1,
    all rows kept. Quantiles are computed on ``fit_rows`` (the training split) when given.
    """
    y = np.asarray(y, dtype=np.float64)
    y2 = y.reshape(len(y), -1)
    if (quantiles is None) == (threshold is None):
        raise ValueError("give exactly one of quantiles or threshold")
    if threshold is not None:
        labels = (y2 > threshold).astype(np.float32)
        return labels.reshape(y.shape), np.ones(len(y), dtype=bool)
    lo, hi = quantiles
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"label quantiles must satisfy 0 <= lo <= hi <= 1, got {quantiles}")
    ref = y2 if fit_rows is None else y2[fit_rows]
    q_lo, q_hi = np.quantile(ref, lo, axis=0), np.quantile(ref, hi, axis=0)
    low, high = y2 <= q_lo, y2 >= q_hi
    keep = (low | high).all(axis=1) & ~(low & high).any(axis=1)
    labels = np.where(high, 1.0, 0.0).astype(np.float32)
    return labels.reshape(y.shape), keep
