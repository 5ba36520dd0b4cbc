"""Each input pathway of a model of several segments explained on its own (``dual``: promoter and distal).

A ``dual`` model reads ``segment 1 | spacer | segment 2`` through two branches. Its attributions are computed on
the whole input, as for any model (the readout, strands averaged with each segment flipped in place), and then
cut per segment: :func:`model_pathways` names the segments (``promoter`` and ``distal`` for a model trained on a
``seq2expr data genes --interactions`` table, else ``segment1``, ``segment2``), :func:`pathway_patterns` runs
TF-MoDISco on each segment separately, so a motif of the distal regions is found among distal seqlets only and
is named ``distal_pos_pattern_0``. The interpretation report draws one logo row per pathway.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from seq2expr.inference import SavedModel, as_module
from seq2expr.interpret.modisco import Pattern, run_modisco
from seq2expr.models.registry import input_segments

Pathway = tuple[str, int, int]  # name, start, end


def model_pathways(model: SavedModel) -> list[Pathway] | None:
    """``[(name, start, end), ...]`` of a model with several input segments, None for a one-segment model."""
    segments = input_segments(as_module(model))
    if not segments:
        return None
    windows = model.config.windows if isinstance(model, SavedModel) else None
    names = ["promoter", "distal"] if windows is not None and windows.distal is not None and len(segments) == 2 \
        else [f"segment{i + 1}" for i in range(len(segments))]
    return [(n, int(s), int(e)) for n, (s, e) in zip(names, segments, strict=True)]


def pathway_attributions(attr: np.ndarray, pathways: list[Pathway]) -> dict[str, np.ndarray]:
    """``{name: attr[..., start:end]}``: whole-input attributions ``(N, 4, L)`` cut into each pathway's part."""
    return {name: np.asarray(attr)[..., s:e] for name, s, e in pathways}


def pathway_patterns(onehot: np.ndarray, hypothetical: np.ndarray, pathways: list[Pathway],
                     **modisco_args) -> list[Pattern]:
    """TF-MoDISco on each pathway's part of the inputs; patterns named ``<pathway>_<pattern>``, their seqlets at
    positions of the whole input."""
    out: list[Pattern] = []
    for name, s, e in pathways:
        for p in run_modisco(np.asarray(onehot)[..., s:e], np.asarray(hypothetical)[..., s:e], **modisco_args):
            out.append(replace(p, name=f"{name}_{p.name}",
                               seqlets=[(i, a + s, b + s, rc) for i, a, b, rc in p.seqlets]))
    return out


def pathway_of(pattern: Pattern, pathways: list[Pathway] | None) -> str | None:
    """The pathway a pattern of :func:`pathway_patterns` was found in (from its name)."""
    for name, _, _ in pathways or []:
        if pattern.name.startswith(f"{name}_"):
            return name
    return None
