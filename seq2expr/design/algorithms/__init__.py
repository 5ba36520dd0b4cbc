"""The design algorithms, one module each, named after the method: each registers a runner with
``@ALGORITHMS.register("name")``. :func:`~seq2expr.design.design`, ``seq2expr design --method`` and the docs take
their choices from here; another package adds one through the ``seq2expr.design_methods`` entry point.

A runner is ``run(scorer, start, constraints, settings, *, rng, stats, progress) -> (codes, trajectory)``: the
designs ``(D, L)`` as uint8 codes and ``(round, design, score, n_edits)`` rows. Every design is searched
independently but scored in one batch, and every candidate honours the constraints (fixed positions, edit budget,
GC, forbidden sites, required motifs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from seq2expr.plugins import Registry, discover


@dataclass(frozen=True)
class SearchSettings:
    """What the runners read beyond the scorer and the constraints: their budgets (``rounds`` of greedy and beam
    search, ``beam`` width, annealing ``steps``), the ``motifs`` to insert, the ``seed`` and the model's JASPAR
    ``taxon`` (motif names)."""

    rounds: int = 10
    beam: int = 4
    steps: int = 300
    motifs: list[str] = field(default_factory=list)
    seed: int = 0
    taxon: str | list[str] | None = None


Runner = Callable[..., tuple]
ALGORITHMS: Registry[Runner] = Registry("design method")


discover(__name__, __path__)
