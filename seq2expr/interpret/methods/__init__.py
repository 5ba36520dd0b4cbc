"""The attribution methods, one module each, named after the method: each registers the function computing its
hypothetical contributions ``(N, 4, L)`` (the form TF-MoDISco takes) with ``@ATTRIBUTIONS.register("name")``.
:func:`~seq2expr.interpret.attribute.attribute`, ``seq2expr interpret --method``, the variant and design reports
and the docs take their choices from here; another package adds a method through the ``seq2expr.attributions``
entry point.

A method is ``f(model, X, *, readout, compute, n_shuffles, seed) -> (N, 4, L)``: ``readout`` a
:class:`~seq2expr.inference.Readout` with one output, ``compute`` the call's resolved
:class:`~seq2expr.inference.Compute` (device, precision, batch size, engine); ``f.forward_only`` says whether it runs
forward passes only (and so any engine).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from seq2expr.plugins import Registry, choices, discover

Attribution = Callable[..., np.ndarray]
ATTRIBUTIONS: Registry[Attribution] = Registry("attribution method")


def method_names() -> list[str]:
    """The methods' names without importing them (the modules of this package and the entry points)."""
    return choices(ATTRIBUTIONS.kind)


discover(__name__, __path__)
