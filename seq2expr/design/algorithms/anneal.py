"""Simulated annealing for larger edit budgets: one proposal per chain per step, Metropolis acceptance."""

from __future__ import annotations

import numpy as np

from seq2expr.design.algorithms import ALGORITHMS, SearchSettings
from seq2expr.design.constraints import Constraints
from seq2expr.design.objective import Scorer


def anneal(scorer: Scorer, start: np.ndarray, constraints: Constraints, *, steps: int = 300,
           rng: np.random.Generator, t_start: float | None = None, t_end: float | None = None,
           record_every: int = 10, progress=None) -> tuple[np.ndarray, list[tuple]]:
    """Simulated annealing: every chain proposes one allowed single-base edit per step; better ones are kept,
    worse ones with probability ``exp(delta / T)``, ``T`` falling geometrically from ``t_start`` to ``t_end``
    (by default the median |effect| of random edits of the starts, and a hundredth of it)."""
    D, L = start.shape
    pos = np.flatnonzero(constraints.editable)
    cur, cur_score = start.copy(), scorer(start)
    best, best_score = cur.copy(), cur_score.copy()
    if t_start is None:
        probe = _propose(cur, pos, rng)
        t_start = float(np.median(np.abs(scorer(probe) - cur_score))) or 1e-3
    t_end = t_end if t_end is not None else t_start / 100
    trajectory = [(0, d, float(best_score[d]), 0) for d in range(D)]
    for step in range(1, steps + 1):
        temp = t_start * (t_end / t_start) ** ((step - 1) / max(1, steps - 1))
        prop = _propose(cur, pos, rng)
        ok = constraints.ok(prop, start)
        new = np.full(D, -np.inf)
        if ok.any():
            new[ok] = scorer(prop[ok])
        accept = ok & ((new >= cur_score) | (rng.random(D) < np.exp(np.minimum(0, new - cur_score) / temp)))
        cur[accept], cur_score[accept] = prop[accept], new[accept]
        better = cur_score > best_score
        best[better], best_score[better] = cur[better], cur_score[better]
        if step % record_every == 0 or step == steps:
            trajectory += [(step, d, float(best_score[d]), int((best[d] != start[d]).sum())) for d in range(D)]
        if progress is not None:
            progress(step, steps)
    return best, trajectory


def _propose(codes: np.ndarray, pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = codes.copy()
    rows = np.arange(len(codes))
    p = pos[rng.integers(0, len(pos), len(codes))]
    base = out[rows, p]
    out[rows, p] = np.where(base == 4, rng.integers(0, 4, len(codes)), (base + rng.integers(1, 4, len(codes))) % 4)
    return out


@ALGORITHMS.register("anneal")
def run(scorer: Scorer, start: np.ndarray, constraints: Constraints, settings: SearchSettings, *, rng, stats,
        progress=None) -> tuple[np.ndarray, list[tuple]]:
    """Simulated annealing for ``settings.steps`` steps (:func:`anneal`)."""
    return anneal(scorer, start, constraints, steps=settings.steps, rng=rng, progress=progress)
