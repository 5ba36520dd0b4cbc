"""Precise batch norm: population statistics of the final weights instead of a running average.

During training each BatchNorm keeps an exponential moving average of batch statistics, taken while the
weights were still moving; at a high learning rate (one-cycle peak, small data sets) the average lags the
weights and the eval-mode outputs drift (measured on the yeast gene classifier: mean predicted probability
0.33 on balanced held-out classes, accuracy 0.65 at AUROC 0.82; after recalibration 0.52 and 0.75).
Recomputing the statistics once with the chosen weights removes the lag (Wu & Johnson 2021,
"Rethinking 'Batch' in BatchNorm"). No labels are used and no weight changes.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from seq2expr.data.sequences import reverse_complement_onehot
from seq2expr.models.registry import input_segments


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor], *, reverse_complement: bool = True,
                          modules: Iterable[nn.Module] | None = None) -> int:
    """Set every BatchNorm's running mean/var to the population statistics of ``batches`` ``(B, 4, L)``.

    ``reverse_complement`` also feeds each batch's reverse complement (what RC-averaged evaluation sees).
    Only the batch norms are put in training mode (dropout stays off, as at eval); the model's mode is
    restored. ``modules``: only the batch norms among these (e.g. a fine-tuned head's; default every one).
    Returns the number of batch-norm layers recalibrated (0: nothing to do, nothing run).
    """
    bns = [m for m in (model.modules() if modules is None else modules)
           if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not bns:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in bns]
    device = next(model.parameters()).device
    segments = input_segments(model)  # dual: each segment flipped in place
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
        m.train()
    try:
        for x in batches:
            x = x.to(device)
            model(x)
            if reverse_complement:
                model(reverse_complement_onehot(x, segments))
    finally:
        for m, mom in zip(bns, momenta, strict=True):
            m.momentum = mom
        model.train(was_training)
    return len(bns)
