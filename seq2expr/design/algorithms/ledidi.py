"""Gradient-based design through the published ``ledidi`` library (Schreiber et al.)."""

from __future__ import annotations

import copy
import logging
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from seq2expr.design.algorithms import ALGORITHMS, SearchSettings
from seq2expr.design.constraints import Constraints
from seq2expr.design.objective import Scorer

log = logging.getLogger(__name__)


class LedidiObjective(nn.Module):
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
    net = LedidiObjective(scorer)
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


@ALGORITHMS.register("ledidi")
def run(scorer: Scorer, start: np.ndarray, constraints: Constraints, settings: SearchSettings, *, rng, stats,
        progress=None) -> tuple[np.ndarray, list[tuple]]:
    """Ledidi from each start (:func:`gradient`); it has no edit budget, so sampled sequences over
    ``max_edits`` are dropped (said once)."""
    if constraints.max_edits is not None:
        log.warning("ledidi has no edit budget: of the sequences it samples, those with more than %d edits "
                    "are dropped (greedy, beam and anneal honour --max-edits exactly)", constraints.max_edits)
    return gradient(scorer, start, constraints, seed=settings.seed, progress=progress, stats=stats)
