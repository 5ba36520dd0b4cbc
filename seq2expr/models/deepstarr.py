"""Model ``deepstarr``: DeepSTARR (de Almeida et al. 2022), enhancer activity from 249-bp sequences."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from seq2expr.models.layers import conv_stack, output_shape, per_layer
from seq2expr.models.registry import register


@register("deepstarr")
class DeepSTARR(nn.Module):
    """Four convolution blocks and two batch-normalised dense layers.

    After de Almeida et al. 2022, *Nature Genetics* 54:613 (UMI-STARR-seq enhancer activity in *Drosophila* S2
    cells, developmental and housekeeping promoters as two outputs): convolutions of 256/60/60/120 filters, widths
    7/3/5/3, each with BatchNorm, ReLU and max-pooling by 2, then two dense layers of 256 units with BatchNorm, ReLU
    and dropout 0.4. Kept: the published layout and sizes. Changed: the outputs are ``n_targets`` (2 in the paper);
    ``seq_len`` is free (249 in the paper); the convolutions have no bias (the BatchNorm after each has one), so
    the published size has 622,226 parameters (496 conv biases fewer; the function is the same).

    ``convs`` is the stack of conv blocks; ``gradcam_layer`` is the last block's activation.
    """

    head_modules = ("head",)  # the last linear layer; the dense layers before it are trunk
    example = {"seq_len": 110, "n_targets": 2,  # small: docs examples, smoke tests
               "params": {"channels": [64, 32, 32, 32], "hidden": [64, 64], "dropout": 0.2}}

    def __init__(self, seq_len: int, n_targets: int = 1, channels: Sequence[int] = (256, 60, 60, 120),
                 kernel_sizes: int | Sequence[int] = (7, 3, 5, 3), pool_sizes: int | Sequence[int] = 2,
                 hidden: Sequence[int] = (256, 256), dropout: float | Sequence[float] = 0.4):
        super().__init__()
        self.convs = conv_stack(4, channels, kernel_sizes, pool_sizes)
        ch, length = output_shape(self.convs, 4, seq_len)
        layers: list[nn.Module] = [nn.Flatten()]
        prev = ch * length
        for h, p in zip(hidden, per_layer(dropout, len(hidden), "dropout"), strict=True):
            layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(p)]
            prev = h
        self.dense = nn.Sequential(*layers)
        self.head = nn.Linear(prev, n_targets)

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.convs[-1].act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dense(self.convs(x)))
