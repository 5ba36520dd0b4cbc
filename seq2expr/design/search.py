"""Design algorithms over uint8 codes ``(D, L)``, each design searched independently but scored in one batch:

* :func:`beam_search`: greedy (``beam=1``) or beam substitution, directed evolution by single-base edits: every
  allowed edit of every beam member is scored each round, the best ``beam`` distinct candidates go on;
* :func:`anneal`: simulated annealing for larger edit budgets, one proposal per chain per step, Metropolis;
* :func:`insert_motifs`: a motif (consensus string) written at its best allowed position and strand;
* :func:`gradient`: gradient-based design through the published ``ledidi`` library.

Every candidate must honour the constraints (fixed positions, edit budget, GC, forbidden sites, required
motifs). Each function returns the designs and a trajectory of ``(round, design, score, n_edits)`` rows.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from seq2expr.data.sequences import encode, reverse_complement
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


def motif_sequence(motif: str, taxon: str | list[str] | None = None) -> str:
    """A motif to write in: an ACGT sequence as is, else a JASPAR CORE matrix by its consensus: an ID such as
    ``MA0363.3``, or a TF name such as ``REB1`` looked up within ``taxon`` (the model's JASPAR group(s); None:
    every group, where a name that several matrices carry is refused, listing them)."""
    text = motif.strip()
    if text and set(text.upper()) <= set("ACGT"):
        return text.upper()
    from seq2expr.data.errors import DataError
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


class _Objective(nn.Module):
    """The design models as one differentiable output for ledidi: the mean over models of the scorer's readout
    on the model scale (strands as the readout says: by default as each model was trained), output ``t``."""

    def __init__(self, scorer: Scorer):
        super().__init__()
        self.nets = nn.ModuleList([copy.deepcopy(m.model).eval() for m in scorer.models])  # ledidi freezes them
        self.bound = [replace(scorer.readout, scale="model").resolve(m) for m in scorer.models]
        self.t = scorer.t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b.forward(net, x)[:, self.t:self.t + 1] for net, b in zip(self.nets, self.bound, strict=True)]
        return torch.stack(outs).mean(0)


def gradient(scorer: Scorer, start: np.ndarray, constraints: Constraints, *, seed: int = 0, max_iter: int = 300,
             batch_size: int = 16, weight: float = 0.1, progress=None, stats: dict | None = None
             ) -> tuple[np.ndarray, list[tuple]]:
    """Ledidi (Schreiber et al.): edits learned by gradient descent through a Gumbel-softmax relaxation, towards an
    output beyond the starts' range (maximise/minimise) or the target value; fixed positions masked. Of the
    sequences ledidi samples for a start, the best allowed one by the objective is kept (the start if none);
    ``stats`` (a dict) gets how many were sampled and how many broke the constraints, with an example reason."""
    from ledidi import ledidi

    from seq2expr.inference import as_onehot

    ob = scorer.objective
    if ob.kind == "difference":
        raise ValueError("gradient design (--method ledidi) supports the objectives max, min and target:V, not diff:T")
    if ob.kind == "target" and scorer.readout.transform is not None:
        raise ValueError("gradient design reaches a target value of one target, not of a readout's transform")
    net = _Objective(scorer)
    x0 = as_onehot(start, scorer.models[0])
    with torch.no_grad():
        raw = net(x0)[:, 0].numpy()
    if ob.kind == "target":
        transform = scorer.models[0].config.target_transform if scorer.readout.scale == "original" else None
        goal = np.full(len(start), float(transform.apply(np.array([[ob.value]]))[0, 0]) if transform else ob.value)
    else:
        spread = float(raw.std()) + 1.0
        goal = np.full(len(start), raw.max() + 2 * spread if ob.kind == "maximise" else raw.min() - 2 * spread)
    mask = torch.from_numpy(~constraints.editable)
    out, cur_score = start.copy(), scorer(start)
    trajectory = [(0, d, float(cur_score[d]), 0) for d in range(len(start))]
    for d in range(len(start)):
        designed = ledidi(net, x0[d:d + 1], torch.tensor([[goal[d]]], dtype=torch.float32), device="cpu",
                          random_state=seed + d, input_mask=mask, l=weight, max_iter=max_iter,
                          batch_size=batch_size, verbose=False)
        cand = designed.argmax(1).numpy().astype(np.uint8)
        ok = constraints.ok(cand, np.repeat(start[d:d + 1], len(cand), 0))
        if stats is not None:
            stats["sampled"] = stats.get("sampled", 0) + len(cand)
            stats["rejected"] = stats.get("rejected", 0) + int((~ok).sum())
            if not ok.all():
                stats.setdefault("reason", "; ".join(constraints.violations(cand[~ok][:1], start[d:d + 1])[0]))
        cand = cand[ok]
        if len(cand):
            score = scorer(cand)
            if score.max() > cur_score[d]:
                out[d], cur_score[d] = cand[int(score.argmax())], score.max()
        trajectory.append((1, d, float(cur_score[d]), int((out[d] != start[d]).sum())))
        if progress is not None:
            progress(d + 1, len(start))
    return out, trajectory
