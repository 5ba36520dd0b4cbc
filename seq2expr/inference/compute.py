"""The compute context: where and how a call's forward (and backward) passes run, said once.

A :class:`Compute` holds the device, the precision, the batch size and the engine. A command or an API call
resolves it once against its model (:meth:`Compute.resolve`: the engine checked, ``auto`` device and precision made
concrete by the rules of :mod:`seq2expr.inference.device`) and passes the same object down to every function it
calls, so predictions, ISM, attributions and scoring in one run use one device and one precision, and a setting is
checked in one place. Functions still take the keyword spellings (``device=``, ``precision=``, ``batch_size=``,
``engine=``); :func:`compute_of` folds them into a context, refusing one given both ways with different values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from seq2expr.inference.device import resolve_device, resolve_precision
from seq2expr.inference.engine import engine_setup


@dataclass(frozen=True)
class Compute:
    """``device``: cpu, cuda, cuda:N or auto (None: where the model's weights are); ``precision``: auto, 32, bf16 or
    16 (None: auto); ``batch_size``: sequences per pass (None: the function's own default); ``engine``: torch or
    onnxruntime (forward passes only; CPU, float32)."""

    device: str | torch.device | None = None
    precision: str | None = None
    batch_size: int | None = None
    engine: str = "torch"

    def resolve(self, model: Any = None) -> Compute:
        """This context made concrete for ``model`` (a saved model or module, whose weights' device is the default):
        the engine checked, the device a :class:`torch.device`, the precision ``32``, ``bf16`` or ``16``.
        Resolving a resolved context gives it back unchanged."""
        engine, device, precision = engine_setup(self.engine, self.device, self.precision)
        net = getattr(model, "model", model)
        dev = resolve_device(device, net if isinstance(net, torch.nn.Module) else None)
        return replace(self, device=dev, precision=resolve_precision(precision, dev), engine=engine)

    def batch(self, default: int) -> int:
        """The batch size, or the calling function's ``default`` when none was set."""
        return max(1, int(self.batch_size if self.batch_size is not None else default))


def compute_of(compute: Compute | None = None, **given: Any) -> Compute:
    """The context of a call: ``compute`` (default: all defaults) with the keyword settings that were given (not
    None) filled in. A setting given in both with different values is a ``ValueError`` naming it."""
    base = compute or Compute()
    names = {f.name for f in fields(Compute)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise TypeError(f"no compute setting {', '.join(unknown)}; there are {', '.join(sorted(names))}")
    default = Compute()
    changes = {}
    for name, value in given.items():
        if value is None:
            continue
        mine = getattr(base, name)
        if compute is not None and mine != getattr(default, name) and str(mine) != str(value):
            raise ValueError(f"{name} given twice: {value!r} and compute.{name}={mine!r}")
        changes[name] = value
    return replace(base, **changes)
