"""What a design aims at, turned into one number per candidate (higher is better), scored in large batches
through :func:`seq2expr.inference.predict` with one :class:`~seq2expr.inference.Readout` (by default every
target on the original scale, strand-averaged as each model was trained).

Objectives: ``maximise`` or ``minimise`` a target, reach a target ``value`` (score ``-|y - value|``), or the
``difference`` between two targets (``target - other``, e.g. high in one condition, low in another: the
readout's ``diff`` transform, maximised, the same as designing ``--target diff:A,B``) or between two models on one
target (``model - other_model``: specificity). Several models are averaged (an ensemble
mean). With a readout, ``target`` and ``other`` name its outputs (a readout of one target, or of a transform
such as ``diff``, has one output: the default ``target`` 0).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from seq2expr.data.errors import DataError
from seq2expr.inference import (
    Compute,
    Readout,
    SavedModel,
    compute_of,
    predict,
    target_index,
)

Kind = Literal["maximise", "minimise", "target", "difference"]
PENALTIES = "disagreement:LAMBDA (e.g. disagreement:0.5: the objective minus 0.5 x the design members' std)"
FORMS = "max|min|target:V|diff:T (e.g. target:8.5: reach 8.5; diff:1: this target minus target 1)"


@dataclass
class Objective:
    """See the module docstring. ``target``/``other`` are names or indices of the readout's outputs (the model's
    targets, without a readout)."""

    kind: Kind = "maximise"
    target: int | str = 0
    value: float | None = None
    other: int | str | None = None
    other_model: SavedModel | None = None
    readout: Readout | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("maximise", "minimise", "target", "difference"):
            raise DataError(f"objective must be {FORMS}, not {self.kind!r}")
        if self.kind == "target" and self.value is None:
            raise DataError("a 'target' objective needs the value to reach")
        if self.kind == "difference" and (self.other is None) == (self.other_model is None):
            raise DataError("a 'difference' objective needs another target or another model (one of them)")

    @classmethod
    def parse(cls, text: str, target: int | str = 0, readout: Readout | None = None) -> Objective:
        """``max``/``maximise``, ``min``/``minimise``, ``target:VALUE``, ``diff:OTHER_TARGET``."""
        kind, _, arg = text.partition(":")
        kind = {"max": "maximise", "min": "minimise", "diff": "difference"}.get(kind, kind)
        if kind not in ("maximise", "minimise", "target", "difference"):
            raise DataError(f"objective {text!r} is not one of {FORMS}")
        if kind == "difference" and not arg:
            raise DataError(f"objective {text!r}: name the other target, e.g. diff:1 or diff:NAME")
        if kind == "target":
            try:
                return cls("target", target, value=float(arg), readout=readout)
            except ValueError:
                raise DataError(f"objective {text!r}: give the value to reach, e.g. target:8.5") from None
        if kind == "difference":
            return cls("difference", target, other=int(arg) if arg.isdigit() else arg, readout=readout)
        return cls(kind, target, readout=readout)


def parse_penalty(penalty: str | tuple | None) -> float:
    """The weight of the disagreement penalty: ``"disagreement:LAMBDA"``, ``("disagreement", LAMBDA)`` or None
    (0: no penalty)."""
    if penalty is None:
        return 0.0
    kind, _, arg = penalty.partition(":") if isinstance(penalty, str) else (penalty[0], None, penalty[1])
    try:
        weight = float(arg)
    except (TypeError, ValueError):
        raise DataError(f"penalty {penalty!r} is not {PENALTIES}") from None
    if kind != "disagreement" or not np.isfinite(weight) or weight < 0:
        raise DataError(f"penalty {penalty!r} is not {PENALTIES} with LAMBDA >= 0")
    return weight


def check_compatible(model: SavedModel, other: SavedModel, role: str) -> None:
    """``other`` (an oracle, another design model) scores what ``model`` does: the same task (a probability is not
    a level), targets and input length, or a :class:`DataError` saying which differs."""
    a, b = model.config, other.config
    for what, x, y in (("task", a.task, b.task), ("targets", list(a.target_names), list(b.target_names)),
                       ("input length (bp)", a.seq_len, b.seq_len)):
        if x != y:
            raise DataError(f"{role} does not score what the design model does: its {what} is {y!r}, the design "
                            f"model's {x!r}")


class Scorer:
    """Objective scores of uint8 codes under the mean of ``models`` (and counts what it evaluates)."""

    def __init__(self, models: list[SavedModel], objective: Objective, *, batch_size: int | None = None,
                 device: str | None = None, precision: str | None = None, engine: str | None = None,
                 penalty: float = 0.0, compute: Compute | None = None):
        if not models:
            raise DataError("design needs at least one model")
        # resolved once (onnxruntime: CPU, float32): every candidate of the search is scored alike
        self.compute = compute_of(compute, batch_size=batch_size, device=device, precision=precision,
                                  engine=engine).resolve(models[0])
        self.models, self.objective, self.penalty = models, objective, penalty
        self.members = [m for model in models for m in model.members]  # whose spread is the disagreement
        if penalty and len(self.members) < 2:
            raise DataError("the disagreement penalty needs at least 2 design members (an ensemble designing, "
                            "its oracle held out or named); this search has 1")
        self.readout = objective.readout or Readout()
        self.names = self.readout.resolve(models[0]).names()
        for m in [*models[1:], *([objective.other_model] if objective.other_model is not None else [])]:
            check_compatible(models[0], m, "the other model" if m is objective.other_model else "a design model")
        self.t = target_index(self.names, objective.target)
        self.kind: Kind = objective.kind  # what score() computes of the readout's output t
        if objective.other is not None:  # a difference of two targets is the readout's diff: one output, maximised
            o = target_index(self.names, objective.other)
            if o == self.t:
                raise DataError(f"objective diff:{objective.other}: the other target is the design target "
                                f"{self.names[self.t]!r} itself (the difference is always 0); name another target")
            self.readout = self.readout.difference(models[0], self.t, o)
            self.names, self.t, self.kind = self.readout.resolve(models[0]).names(), 0, "maximise"
        task = models[0].config.task
        probabilities = task == "classification" and self.readout.scale == "original" and not self.readout.transform
        if objective.kind == "target" and probabilities and not 0.0 <= float(objective.value) <= 1.0:
            raise DataError(f"objective target:{objective.value:g}: a classification model predicts probabilities "
                            "(0 to 1); give a value between 0 and 1")
        self.evaluated, self.seconds = 0, 0.0

    def explained(self) -> Readout:
        """The one output the objective is about, as a readout (what a report's logos explain): the design target,
        or the design target minus the other target of a ``difference`` objective between two targets (the
        scorer's readout then is that ``diff``)."""
        return self.readout.output(self.models[0], self.t)

    def predictions(self, codes: np.ndarray, models: list[SavedModel] | None = None) -> np.ndarray:
        """The readout's values ``(N, K)`` (by default every target on the original scale), averaged over the
        models."""
        models = models or self.models
        return np.mean([predict(m, codes, readout=self.readout, compute=self.compute) for m in models], 0)

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        if not len(codes):
            return np.zeros(0)
        t0 = time.perf_counter()
        score = self.score(self.predictions(codes), codes)
        if self.penalty:
            score = score - self.penalty * self.spread(codes)
        self.seconds += time.perf_counter() - t0
        self.evaluated += len(codes)
        return score

    def spread(self, codes: np.ndarray) -> np.ndarray:
        """The design members' disagreement: the std across members of their objective scores (NaN with one)."""
        if len(self.members) < 2:
            return np.full(len(codes), np.nan)
        preds = [predict(m, codes, readout=self.readout, compute=self.compute) for m in self.members]
        if self.kind == "difference":  # another model's: its term is every member's
            return np.std([p[:, self.t] for p in preds], 0)
        return np.std([self.score(p) for p in preds], 0)

    def score(self, pred: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
        """The objective of predictions ``(N, T)`` (the second model is asked here for a model difference)."""
        y = pred[:, self.t]
        ob = self.objective
        if self.kind == "maximise":
            return y
        if self.kind == "minimise":
            return -y
        if self.kind == "target":
            return -np.abs(y - ob.value)
        return y - predict(ob.other_model, codes, readout=self.readout, compute=self.compute)[:, self.t]
