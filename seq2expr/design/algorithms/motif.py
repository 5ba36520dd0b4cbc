"""Motif insertion: each motif (a sequence, or a JASPAR matrix's consensus) written at its best allowed position
and strand."""

from __future__ import annotations

import re

import numpy as np

from seq2expr.data.errors import DataError
from seq2expr.data.sequences import encode, reverse_complement
from seq2expr.design.algorithms import ALGORITHMS, SearchSettings
from seq2expr.design.constraints import Constraints
from seq2expr.design.objective import Scorer


def motif_sequence(motif: str, taxon: str | list[str] | None = None) -> str:
    """A motif to write in: an ACGT sequence as is, else a JASPAR CORE matrix by its consensus: an ID such as
    ``MA0363.3``, or a TF name such as ``REB1`` looked up within ``taxon`` (the model's JASPAR group(s); None:
    every group, where a name that several matrices carry is refused, listing them)."""
    text = motif.strip()
    if text and set(text.upper()) <= set("ACGT"):
        return text.upper()
    from seq2expr.data.io.motifs import jaspar_releases, jaspar_species
    from seq2expr.interpret.motifs import consensus, jaspar_motifs

    by_id = re.fullmatch(r"M[A-Z]\d{4}(\.\d+)?", text) is not None  # MA0265(.3): one matrix whatever the taxon
    db = jaspar_motifs(taxon=None if by_id else taxon)
    hits = sorted(k for k in db if k.split(" ", 1)[0] == text or k.split(" ", 1)[0].split(".")[0] == text
                  or k.split(" ", 1)[-1].upper() == text.upper())
    where = "" if by_id or taxon in (None, "all") else f" (JASPAR taxon {taxon})"
    if not hits:
        raise DataError(f"motif {motif!r} is neither an ACGT sequence nor a JASPAR CORE matrix ID or TF name{where}")
    if len(hits) > 1:
        release = jaspar_releases()[0]
        listed = "; ".join(f"{k.split(' ', 1)[0]} ({jaspar_species(k.split(' ', 1)[0], release)})" for k in hits)
        raise DataError(f"motif {motif!r} names {len(hits)} JASPAR matrices{where}: {listed}; give the matrix ID")
    return consensus(db[hits[0]])


def insert_motifs(scorer: Scorer, start: np.ndarray, constraints: Constraints, motifs: list[str], *,
                  force: bool = False, taxon: str | list[str] | None = None) -> tuple[np.ndarray, list[tuple]]:
    """Write each motif (in turn; a sequence or a JASPAR matrix's consensus, names looked up within ``taxon``) at the
    allowed position and strand that scores best; with ``force`` even when that lowers the score (a required
    motif), else only when it improves."""
    cur, cur_score = start.copy(), scorer(start)
    editable = constraints.editable
    trajectory = [(0, d, float(cur_score[d]), 0) for d in range(len(start))]
    for r, motif in enumerate(motifs, 1):
        seq = motif_sequence(motif, taxon) if not force else motif.upper()
        variants = {seq, reverse_complement(seq)}
        for m in variants:
            codes = encode([m])[0]
            w = len(codes)
            spots = [p for p in range(cur.shape[1] - w + 1) if editable[p:p + w].all()]
            if not spots:
                continue
            cand = np.repeat(cur, len(spots), axis=0).reshape(len(cur), len(spots), -1)
            for k, p in enumerate(spots):
                cand[:, k, p:p + w] = codes
            flat = cand.reshape(-1, cur.shape[1])
            owner = np.repeat(np.arange(len(cur)), len(spots))
            ok = constraints.ok(flat, start[owner]) if not force else np.ones(len(flat), bool)
            score = np.full(len(flat), -np.inf)
            score[ok] = scorer(flat[ok])
            score = score.reshape(len(cur), len(spots))
            pick = score.argmax(1)
            top = score[np.arange(len(cur)), pick]
            take = np.isfinite(top) & ((top > cur_score) | force)
            cur[take] = cand[np.flatnonzero(take), pick[take]]
            cur_score[take] = top[take]
        trajectory += [(r, d, float(cur_score[d]), int((cur[d] != start[d]).sum())) for d in range(len(cur))]
    return cur, trajectory


@ALGORITHMS.register("motif")
def run(scorer: Scorer, start: np.ndarray, constraints: Constraints, settings: SearchSettings, *, rng, stats,
        progress=None) -> tuple[np.ndarray, list[tuple]]:
    """Insert ``settings.motifs`` in turn, each where it scores best, only when it improves the design (names
    looked up within the model's JASPAR taxon)."""
    if not settings.motifs:
        raise DataError("motif design needs motifs (consensus sequences) to insert")
    return insert_motifs(scorer, start, constraints, settings.motifs, taxon=settings.taxon)
