"""The readout: what "the model's output" means, said once and used by every verb.

A :class:`Readout` names the targets (by name or index), the strands (as the model was trained, the forward
strand only, or the mean of both strands), the scale (the measured one, or the network's own) and an optional
transform over the chosen targets (their ``mean``, or the ``diff`` of two). :func:`~seq2expr.inference.predict`,
ISM, every attribution method, variant scoring and design all take one, so a target means the same numbers in
each (the role of gReLU's ``prediction_transform``). :meth:`Readout.resolve` checks it against a model once and
gives a :class:`BoundReadout`, which turns raw network outputs into readout values in numpy (prediction, ISM)
or as a differentiable torch function (gradients, integrated gradients, DeepLIFT, Grad-CAM, ledidi).

A track model's output along the window (``(B, P, T)``) is read at :class:`~seq2expr.inference.positions.Positions`:
the readout's own, else the saved model's default (its config's ``model.positions``).

Order of operations, the same everywhere: network output -> strand average (before any sigmoid, as in training;
a track model's reverse-strand output flipped along the window first) -> positions -> scale -> targets ->
transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from torch import nn

from seq2expr.data.errors import DataError
from seq2expr.data.sequences import reverse_complement_onehot
from seq2expr.inference.positions import Positions, along
from seq2expr.inference.saved import SavedModel, SavedModelConfig, Scale
from seq2expr.models.registry import input_segments

Strands = Literal["as_trained", "forward", "average"]
Target = int | str
_TRANSFORMS = ("mean", "diff")


def rc_forward(model: nn.Module, x: torch.Tensor, rc_average: bool, positions: Positions | None = None
               ) -> torch.Tensor:
    """Model output ``(B, T)`` for a one-hot batch; with ``rc_average`` the mean of forward and reverse-complement
    outputs; a track model's ``(B, P, T)`` joined over ``positions`` (:func:`~seq2expr.inference.positions.along`).

    Outputs are averaged before any sigmoid (logits for classification): one rule for training, validation and
    prediction, so reported metrics match what :func:`predict` returns. A track model's reverse-strand output is
    flipped along the window first, so bin ``i`` means the same stretch of sequence on both strands. A model of
    several input segments (``dual``) sees each segment reverse-complemented in place (:func:`input_segments`).
    """
    out = model(x)
    if rc_average:
        rc = model(reverse_complement_onehot(x, input_segments(model)))
        out = (out + (rc.flip(1) if rc.ndim == 3 else rc)) / 2
    return along(out, positions)


def to_scale(raw: np.ndarray, config: SavedModelConfig, scale: Scale = "original") -> np.ndarray:
    """The output rule. ``raw`` is the network's output (the model scale: transformed targets, or logits).

    ``original``: the measurement scale (the target transform inverted) or, for classification, probabilities.
    ``model``: ``raw`` unchanged.
    """
    if scale == "model":
        return raw
    if scale != "original":
        raise ValueError(f"scale must be 'original' or 'model', not {scale!r}")
    if config.task == "classification":
        return (1.0 / (1.0 + np.exp(-raw.astype(np.float64)))).astype(np.float32)
    if config.target_transform is None:
        return raw
    return np.asarray(config.target_transform.inverse(raw), dtype=np.float32)


def to_scale_torch(raw: torch.Tensor, config: SavedModelConfig, scale: Scale = "original") -> torch.Tensor:
    """:func:`to_scale` as a differentiable torch function (float64 inside, as the numpy rule computes)."""
    if scale == "model":
        return raw
    if config.task == "classification":
        return torch.sigmoid(raw.double()).to(raw.dtype)
    tr = config.target_transform
    return raw if tr is None else tr.inverse_torch(raw)


def model_scale_label(config: SavedModelConfig) -> str | None:
    """The model's training scale in words (``model scale (log1p, then z-scored ...)``), or None when it is the
    measured scale (classification, or no target transform): whether a model-scale value needs its own label."""
    spec = config.target_transform
    if config.task == "classification" or spec is None or (spec.kind == "none" and not spec.standardize):
        return None
    steps = ([spec.kind] if spec.kind != "none" else []) + (["z-scored with the training rows' mean/std"]
                                                            if spec.standardize else [])
    return "model scale (" + ", then ".join(steps) + ")"


def scale_label(config: SavedModelConfig, scale: Scale = "original") -> str:
    """What values on ``scale`` (as :func:`to_scale` gives them) are, in words: the one label of metrics, summaries
    and reports. ``original``: ``probability of class 1`` or ``original scale``; ``model``: ``logit``, the
    transform's steps (:func:`model_scale_label`), or ``original scale`` when the run transformed nothing."""
    if scale not in ("original", "model"):
        raise ValueError(f"scale must be 'original' or 'model', not {scale!r}")
    if config.task == "classification":
        return "probability of class 1" if scale == "original" else "logit"
    return (model_scale_label(config) if scale == "model" else None) or "original scale"


@dataclass(frozen=True)
class Readout:
    """Which output a verb reads: ``targets`` (a name or index, or several; ``None``: all), ``strands``
    (``as_trained``: what the saved model's ``train.rc_average`` says; ``forward``; ``average``), ``scale``
    (``original``: measured values or probabilities, as :func:`predict` returns; ``model``: the network's
    output), ``transform`` (``None``; ``mean`` over the targets; ``diff``: the first target minus the second) and,
    for a track model, ``positions`` (:class:`~seq2expr.inference.positions.Positions` or its text; ``None``: the
    saved model's default).
    """

    targets: Target | tuple[Target, ...] | None = None
    strands: Strands = "as_trained"
    scale: Scale = "original"
    transform: str | None = None
    positions: Positions | str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.positions, str):
            object.__setattr__(self, "positions", Positions.parse(self.positions))
        t = self.targets
        if t is not None and not isinstance(t, tuple):
            t = tuple(t) if isinstance(t, list) else (t,)
        object.__setattr__(self, "targets", t)
        if t is not None and not t:
            raise ValueError("a readout names at least one target (or none: every target)")
        if self.strands not in ("as_trained", "forward", "average"):
            raise ValueError(f"strands must be as_trained, forward or average, not {self.strands!r}")
        if self.scale not in ("original", "model"):
            raise ValueError(f"scale must be 'original' or 'model', not {self.scale!r}")
        if self.transform is not None and self.transform not in _TRANSFORMS:
            raise ValueError(f"transform must be mean or diff, not {self.transform!r}")
        if self.transform == "diff" and (t is None or len(t) != 2):
            raise ValueError(f"transform 'diff' needs exactly two targets (first minus second), not {t!r}")

    @classmethod
    def parse(cls, text: str, **options) -> Readout:
        """``NAME``, ``INDEX``, ``A,B`` (several), ``mean:A,B`` or ``diff:A,B`` (e.g. a command's ``--target``),
        each with an optional ``@POSITIONS`` for a track model (``0@centre:3``, ``@sum:447-449``: every target)."""
        text, at, where = text.partition("@")
        if at:
            options = {**options, "positions": Positions.parse(where)}
        kind, sep, rest = text.partition(":")
        transform = kind if sep and kind in _TRANSFORMS else None
        names = [_target(s.strip()) for s in (rest if transform else text).split(",") if s.strip()]
        if at and not names and not transform:
            return cls(**options)
        return cls(targets=tuple(names) if len(names) != 1 else names[0], transform=transform, **options)

    def first_output(self, model: SavedModel | SavedModelConfig | nn.Module) -> Readout:
        """This readout narrowed to its first output (what a report ranks by and an attribution explains): itself
        when its transform already gives one output, else its first target with the same strands and scale."""
        return self.output(model, 0)

    def output(self, model: SavedModel | SavedModelConfig | nn.Module, k: int) -> Readout:
        """This readout narrowed to its output ``k`` (same strands and scale); a transform has one output."""
        if self.transform is not None:
            if k != 0:
                raise ValueError(f"a {self.transform} readout has one output, not an output {k}")
            return self
        columns = self.resolve(model).columns
        return replace(self, targets=columns[k] if columns else k)

    def difference(self, model: SavedModel | SavedModelConfig | nn.Module, k: int, j: int) -> Readout:
        """Output ``k`` minus output ``j`` of this (transform-free) readout, as one readout."""
        if self.transform is not None:
            raise ValueError(f"a {self.transform} readout has one output: no difference of two")
        columns = self.resolve(model).columns
        return replace(self, targets=(columns[k], columns[j]) if columns else (k, j), transform="diff")

    def resolve(self, model: SavedModel | SavedModelConfig | nn.Module) -> BoundReadout:
        """This readout checked against ``model`` (names and indices, scale), or one :class:`DataError` line."""
        cfg = model if isinstance(model, SavedModelConfig) else model.config if isinstance(model, SavedModel) \
            else None
        if cfg is None and self.scale == "original":
            raise ValueError("a bare nn.Module has no target transform: predict on scale='model', or load a saved "
                             "model")
        rc = {"forward": False, "average": True}.get(self.strands, cfg.rc_average if cfg is not None else False)
        names = list(cfg.target_names) if cfg is not None else None
        columns = None if self.targets is None else tuple(target_index(names, t) for t in self.targets)
        if self.transform == "diff" and columns[0] == columns[1]:
            raise DataError(f"readout diff of target {self.targets[0]!r} with itself is always 0; name two targets")
        positions = self.positions if self.positions is not None else cfg.model.positions if cfg is not None else None
        return BoundReadout(self, cfg, columns, rc, positions)


def as_readout(readout: Readout | str | None = None, *, rc_average: bool | None = None, scale: Scale | None = None,
               saved: bool = True) -> Readout:
    """The one readout of a call: a :class:`Readout` as given, a text in :meth:`Readout.parse`'s grammar (a
    command's ``--target``), or none (every target). ``rc_average`` and ``scale`` are the older spelling of its
    strands and scale: they map onto a text's (or the default) readout, and are refused beside a :class:`Readout`,
    which says them itself. Without a scale: ``original`` for a saved model, ``model`` for a bare ``nn.Module``."""
    if isinstance(readout, Readout):
        if rc_average is not None or scale is not None:
            raise ValueError("give strands and scale in the readout, not as rc_average/scale beside it")
        return readout
    if readout is not None and not isinstance(readout, str):
        raise TypeError(f"a readout is a Readout or its text (e.g. 'NAME', 'A,B', 'diff:A,B'), not "
                        f"{type(readout).__name__}")
    strands = "as_trained" if rc_average is None else "average" if rc_average else "forward"
    options = {"strands": strands, "scale": scale or ("original" if saved else "model")}
    return Readout(**options) if readout is None else Readout.parse(readout, **options)


def _target(text: str) -> Target:
    return int(text) if text.isdigit() else text


def target_index(names: Sequence[str] | None, target: Target) -> int:
    """The column of ``target`` (a name, or an index within range) among a model's target ``names`` (``None``: a
    bare network, indices only), or one :class:`DataError` line: the one resolver of target names (readouts,
    design objectives and interpretation reports call it)."""
    if isinstance(target, str) and not target.isdigit():
        if names is None:
            raise DataError(f"target {target!r}: a bare nn.Module has no target names; give an index")
        if target not in names:
            raise DataError(f"target {target!r} is not among the model's targets {list(names)}")
        return list(names).index(target)
    t = int(target)
    if t < 0 or (names is not None and t >= len(names)):
        raise DataError(f"target {t} out of range for a model with targets {names}")
    return t


@dataclass(frozen=True)
class BoundReadout:
    """A :class:`Readout` resolved for one model: target ``columns`` (``None``: all), ``rc_average`` and, for a
    track model, the ``positions`` read."""

    readout: Readout
    config: SavedModelConfig | None
    columns: tuple[int, ...] | None
    rc_average: bool
    positions: Positions | None = None

    def network(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The network's output ``(B, T)`` as this readout reads it, before scale and targets: strands as resolved,
        a track model's bins joined (:func:`rc_forward`)."""
        return rc_forward(net, x, self.rc_average, self.positions)

    def names(self, n_targets: int | None = None) -> list[str]:
        """Names of the readout's outputs (columns of tables): target names, ``mean``/``mean(A,B)``, ``A-B``."""
        all_names = list(self.config.target_names) if self.config is not None else \
            [f"prediction_{i}" for i in range(n_targets or 0)]
        picked = all_names if self.columns is None else [all_names[c] if c < len(all_names) else f"prediction_{c}"
                                                          for c in self.columns]
        if self.readout.transform == "diff":
            return [f"{picked[0]}-{picked[1]}"]
        if self.readout.transform == "mean":
            return ["mean" if self.columns is None else f"mean({','.join(picked)})"]
        return picked

    def _select(self, y, stack):
        if y.ndim == 1:
            y = y[:, None]
        if self.columns is not None:
            if max(self.columns) >= y.shape[1]:
                raise DataError(f"target {max(self.columns)} out of range for a model with {y.shape[1]} outputs")
            y = y[:, list(self.columns)]
        if self.readout.transform == "diff":
            return y[:, 0:1] - y[:, 1:2]
        if self.readout.transform == "mean":
            return stack(y)
        return y

    def values(self, raw: np.ndarray) -> np.ndarray:
        """Readout values ``(B, K)`` from the network's (strand-averaged) outputs ``(B, T)``, as :func:`predict`
        returns them."""
        y = to_scale(raw, self.config, self.readout.scale) if self.config is not None else raw
        return self._select(np.asarray(y), lambda v: v.mean(1, keepdims=True, dtype=np.float64).astype(v.dtype))

    def head(self, raw: torch.Tensor) -> torch.Tensor:
        """:meth:`values` as a differentiable torch function."""
        y = to_scale_torch(raw, self.config, self.readout.scale) if self.config is not None else raw
        return self._select(y, lambda v: v.mean(1, keepdim=True))

    def forward(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Readout values ``(B, K)`` of one-hot ``x``: strands as resolved, then :meth:`head`; differentiable."""
        return self.head(self.network(net, x))

    def module(self, net: nn.Module) -> ReadoutModule:
        """``net`` and this readout as one ``nn.Module`` (for attribution libraries that take a model)."""
        return ReadoutModule(net, self)


class ReadoutModule(nn.Module):
    """A network followed by a readout: ``(B, 4, L) -> (B, K)``, in eval mode like the network it wraps."""

    def __init__(self, net: nn.Module, bound: BoundReadout):
        super().__init__()
        self.net, self.bound = net, bound
        self.train(net.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bound.forward(self.net, x)
