"""Greedy search: the best single-base edit each round (beam search of width 1)."""

from __future__ import annotations

import numpy as np

from seq2expr.design.algorithms import ALGORITHMS, SearchSettings
from seq2expr.design.algorithms.beam import beam_search
from seq2expr.design.constraints import Constraints
from seq2expr.design.objective import Scorer


@ALGORITHMS.register("greedy")
def run(scorer: Scorer, start: np.ndarray, constraints: Constraints, settings: SearchSettings, *, rng, stats,
        progress=None) -> tuple[np.ndarray, list[tuple]]:
    """Greedy substitution for ``settings.rounds`` rounds: each round keeps the best allowed single-base edit; a
    design stops when none improves it."""
    return beam_search(scorer, start, constraints, beam=1, rounds=settings.rounds, progress=progress)
