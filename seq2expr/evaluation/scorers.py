"""Scorers of particular data sets (e.g. a challenge's official score).

A registry entry (:class:`seq2expr.data.registry.DatasetEntry`) carries its own scorer (its data-set module,
:mod:`seq2expr.data.datasets`, defines it); evaluation and training apply it to predictions of that data set's
records beside the usual metrics, so no layer needs to know which data set has one. A scorer is
``f(ids, predictions) -> dict``: record IDs and original-scale predictions ``(N, T)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from seq2expr.data.errors import DataError
from seq2expr.data.registry import get_entry

Scorer = Callable[[np.ndarray, np.ndarray], dict]


def scorer_for(dataset: str | None) -> Scorer | None:
    """The scorer of a registry data set (``name`` or ``name:subset``), or None (no data set, or none defined)."""
    if not dataset:
        return None
    try:
        return get_entry(dataset).scorer
    except DataError:  # not a registry name (e.g. a file's own label)
        return None
