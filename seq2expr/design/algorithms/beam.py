"""Beam search: directed evolution by single-base edits, the best ``beam`` distinct candidates kept each round."""

from __future__ import annotations

import numpy as np

from seq2expr.design.algorithms import ALGORITHMS, SearchSettings
from seq2expr.design.constraints import Constraints
from seq2expr.design.objective import Scorer


def _single_edits(codes: np.ndarray, editable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All single-base edits of each row at the editable positions: candidates ``(R*3E, L)`` and their row."""
    pos = np.flatnonzero(editable)
    R, E = len(codes), len(pos)
    cand = np.repeat(codes, 3 * E, axis=0).reshape(R, E, 3, -1)
    ref = codes[:, pos]  # (R, E)
    alt = (ref[:, :, None] + np.arange(1, 4)[None, None, :]) % 4  # N positions become A/C/G
    alt = np.where(ref[:, :, None] == 4, np.arange(3)[None, None, :], alt).astype(np.uint8)
    ei = np.arange(E)
    cand[:, ei, :, pos] = alt.transpose(1, 0, 2)
    return cand.reshape(R * E * 3, -1), np.repeat(np.arange(R), 3 * E)


def beam_search(scorer: Scorer, start: np.ndarray, constraints: Constraints, *, beam: int = 1, rounds: int = 10,
                progress=None) -> tuple[np.ndarray, list[tuple]]:
    """Greedy (``beam=1``) or beam substitution from ``start``; stops per design when no allowed edit improves."""
    D = len(start)
    editable = constraints.editable
    members = [start[d:d + 1].copy() for d in range(D)]
    scores = [scorer(start[d:d + 1]) for d in range(D)]
    best = start.copy()
    best_score = np.array([s[0] for s in scores])
    trajectory = [(0, d, float(best_score[d]), 0) for d in range(D)]
    active = np.ones(D, bool)
    for r in range(1, rounds + 1):
        if not active.any():
            break
        rows, owner = [], []
        for d in np.flatnonzero(active):
            cand, _ = _single_edits(members[d], editable)
            rows.append(cand)
            owner.append(np.full(len(cand), d))
        cand, owner = np.concatenate(rows), np.concatenate(owner)
        ok = constraints.ok(cand, start[owner])
        cand, owner = cand[ok], owner[ok]
        score = scorer(cand)
        for d in np.flatnonzero(active):
            sel = np.flatnonzero(owner == d)
            if not len(sel) or score[sel].max() <= best_score[d] + 1e-12:
                active[d] = False
                continue
            order = sel[np.argsort(-score[sel], kind="stable")]
            keep, seen = [], set()
            for i in order:
                key = cand[i].tobytes()
                if key not in seen:
                    seen.add(key)
                    keep.append(i)
                if len(keep) == beam:
                    break
            members[d] = cand[keep]
            best[d], best_score[d] = cand[keep[0]], score[keep[0]]
            trajectory.append((r, int(d), float(best_score[d]), int((best[d] != start[d]).sum())))
        if progress is not None:
            progress(r, rounds)
    return best, trajectory


@ALGORITHMS.register("beam")
def run(scorer: Scorer, start: np.ndarray, constraints: Constraints, settings: SearchSettings, *, rng, stats,
        progress=None) -> tuple[np.ndarray, list[tuple]]:
    """Beam search of width ``settings.beam`` for ``settings.rounds`` rounds: every allowed single-base edit of
    every beam member is scored each round; a design stops when no edit improves it."""
    return beam_search(scorer, start, constraints, beam=settings.beam, rounds=settings.rounds, progress=progress)
