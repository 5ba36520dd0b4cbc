"""Scorers of particular data sets (e.g. a challenge's official score), by name.

A registry entry (:class:`seq2expr.data.registry.DatasetEntry`) names its scorer; evaluation and training apply it
to predictions of that data set's records beside the usual metrics, so no layer needs to know which data set
has one. A scorer is ``f(ids, predictions) -> dict``: record IDs and original-scale predictions ``(N, T)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from seq2expr.data.errors import DataError

Scorer = Callable[[np.ndarray, np.ndarray], dict]
_SCORERS: dict[str, Scorer] = {}


def register_scorer(name: str) -> Callable[[Scorer], Scorer]:
    """Function decorator adding a scorer under ``name``."""

    def deco(fn: Scorer) -> Scorer:
        if name in _SCORERS:
            raise ValueError(f"scorer {name!r} registered twice")
        _SCORERS[name] = fn
        return fn

    return deco


def get_scorer(name: str) -> Scorer:
    try:
        return _SCORERS[name]
    except KeyError:
        raise ValueError(f"unknown scorer {name!r}; known: {', '.join(sorted(_SCORERS)) or 'none'}") from None


def scorer_for(dataset: str | None) -> Scorer | None:
    """The scorer a registry data set (``name`` or ``name:subset``) names, or None (no data set, or none named)."""
    if not dataset:
        return None
    from seq2expr.data.registry import get_entry

    try:
        name = get_entry(dataset).scorer
    except DataError:  # not a registry name (e.g. a file's own label)
        return None
    return get_scorer(name) if name else None
