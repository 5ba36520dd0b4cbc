"""Model ``linear``: expression as a position-specific sum over the one-hot sequence (a PWM-style linear model)."""

from __future__ import annotations

import torch
from torch import nn

from seq2expr.models.registry import register


@register("linear")
class Linear(nn.Module):
    """``y_t = sum_{b,p} W[t, b, p] x[b, p] + c_t``: one weight per target, base and position.

    The baseline every sequence-to-expression model should beat (the additive model of MPRA analyses, e.g.
    de Boer et al. 2020), and a model whose every derived quantity is known in closed form: an SNV's effect is
    ``W[t, alt, p] - W[t, ref, p]``, its gradient is ``W``, the reverse complement's output ``<flip(W), x>``.
    The tests set ``weight`` by hand to check prediction, ISM, attributions, variant effects and design steps
    exactly (``tests/test_oracles.py``).
    """

    head_modules = ("conv",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 2,  # small: docs examples, smoke tests
               "params": {}}

    def __init__(self, seq_len: int, n_targets: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(4, n_targets, seq_len)  # weight (T, 4, L): the whole sequence in one window

    @property
    def weight(self) -> torch.Tensor:
        """``(n_targets, 4, seq_len)``."""
        return self.conv.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(1)
