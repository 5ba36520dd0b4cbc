"""An ensemble of models of one architecture: the mean of their outputs."""

from __future__ import annotations

import torch
from torch import nn


class EnsembleAverage(nn.Module):
    """Average of several models' outputs (a seed or cross-validation ensemble).

    Outputs are averaged on the model scale (before any inverse transform or sigmoid), the scale every
    member was trained on; members of one saved ensemble share one target transform.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)
