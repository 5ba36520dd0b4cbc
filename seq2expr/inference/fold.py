"""Inference-time rewrites of a trained model: same function, fewer operations."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each BatchNorm1d that directly follows a Conv1d folded into it.

    In eval mode batch norm is a per-channel affine map, so it can live in the convolution's weights and
    bias (an ``Identity`` is left in its place, so module names and indices stay valid). Outputs equal the
    original's up to float rounding. Why: on CPU the separate normalisation pass costs ~18% of LegNet's
    forward time (measured by profiling ISM), time that ISM pays once per mutant. Only pairs that are
    consecutive children of an ``nn.Sequential`` are folded: there the convolution's output can reach
    nothing but the batch norm. The caller's model is left untouched.
    """
    folded = copy.deepcopy(model).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for a, b in zip(names, names[1:], strict=False):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv1d) and isinstance(bn, nn.BatchNorm1d) and bn.running_mean is not None:
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
    return folded
