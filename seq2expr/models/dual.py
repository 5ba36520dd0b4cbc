"""Model ``dual``: two CNN pathways over two sequence segments (DeepCBA style)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from seq2expr.models.layers import MLP, GlobalPool, conv_stack, output_shape
from seq2expr.models.registry import register


@register("dual")
class DualPathway(nn.Module):
    """Two CNN branches with their own weights, one per segment, joined before a dense head.

    After DeepCBA (maize expression from the promoter plus a chromatin-interacting distal region, 2024)
    and the DeepCRE input layout (promoter window + terminator window with a 20-N spacer, Peleke et al.
    2024). The input ``(B, 4, seq_len)`` is ``segment 1 | spacer | segment 2`` with
    ``branch_lengths=[L1, L2]`` and ``L1 + spacer + L2 == seq_len`` (default: halves of
    ``seq_len - spacer``; the spacer is skipped). Each branch is a ``cnn``-style trunk (conv blocks with
    pooling); their feature maps, flattened (``branch_pool=None``, DeepCRE) or globally pooled
    (``"max"``, ``"avg"``, ``"avgmax"``: position-free, for segments whose layout varies), are concatenated
    and read by dense layers. Changed: both branches share one size configuration; small default sizes.

    Reverse-complement augmentation and strand averaging flip each segment in place (``strand_segments``), so
    branch 1 always reads segment 1. ``branches[i]`` are the conv stacks; ``gradcam_layers`` gives each branch's
    last activation and ``gradcam_layer`` the first branch's (Grad-CAM maps cover one segment each).
    """

    head_modules = ("head",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 2,  # small: docs examples, smoke tests
               "params": {"channels": [32, 32], "kernel_sizes": 7, "pool_sizes": [2, 2], "dropout": 0.0,
                          "branch_pool": "max", "hidden": [16], "head_dropout": 0.0}}

    def __init__(self, seq_len: int, n_targets: int = 1, branch_lengths: Sequence[int] | None = None,
                 spacer: int = 0, channels: Sequence[int] = (64, 128, 64), kernel_sizes: int | Sequence[int] = 8,
                 pool_sizes: int | Sequence[int] = (4, 4, 2), convs_per_block: int = 1,
                 dropout: float | Sequence[float] = 0.25, hidden: Sequence[int] = (128, 64),
                 head_dropout: float = 0.25, branch_pool: str | None = None):
        super().__init__()
        if branch_lengths is None:
            first = (seq_len - spacer) // 2
            branch_lengths = (first, seq_len - spacer - first)
        if len(branch_lengths) != 2 or min(branch_lengths) < 1 or spacer < 0 \
                or sum(branch_lengths) + spacer != seq_len:
            raise ValueError(f"branch_lengths={list(branch_lengths)} plus spacer={spacer} must be two positive "
                             f"lengths adding up to seq_len={seq_len}")
        self.branch_lengths = (int(branch_lengths[0]), int(branch_lengths[1]))
        self.spacer = int(spacer)
        self.branches = nn.ModuleList(
            conv_stack(4, channels, kernel_sizes, pool_sizes, dropout, convs_per_block) for _ in range(2))
        self.pool = nn.Flatten() if branch_pool is None else GlobalPool(branch_pool)
        shapes = [output_shape(b, 4, n) for b, n in zip(self.branches, self.branch_lengths, strict=True)]
        n_features = sum(c * (n if branch_pool is None else self.pool.factor) for c, n in shapes)
        self.head = MLP(n_features, hidden, n_targets, head_dropout)

    @property
    def strand_segments(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The two segments' ``[start, end)`` spans: the reverse strand of this input is each segment
        reverse-complemented in place (:func:`seq2expr.data.sequences.reverse_complement_onehot`), never the whole
        input, which would put segment 2 into branch 1."""
        first, second = self.branch_lengths
        return (0, first), (first + self.spacer, first + self.spacer + second)

    @property
    def gradcam_layers(self) -> tuple[nn.Module, nn.Module]:
        return self.branches[0][-1].act, self.branches[1][-1].act

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.gradcam_layers[0]

    def segments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split ``(B, 4, seq_len)`` into the two branch inputs, dropping the spacer."""
        first, second = self.branch_lengths
        return x[..., :first], x[..., first + self.spacer: first + self.spacer + second]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.pool(branch(seg)) for branch, seg in zip(self.branches, self.segments(x), strict=True)]
        return self.head(torch.cat(feats, dim=1))
