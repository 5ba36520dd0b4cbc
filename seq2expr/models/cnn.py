"""Model ``cnn``: a plain convolutional network (Jores et al. 2021; DeepCRE, Peleke et al. 2024)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from seq2expr.models.layers import MLP, conv_stack, output_shape
from seq2expr.models.registry import register


@register("cnn")
class CNN(nn.Module):
    """Stacked convolution blocks and a dense head.

    After Jores et al. 2021, *Nature Plants* 7:842 (plant core-promoter strength) and DeepCRE
    (Peleke et al. 2024, *Nature Communications*): blocks of ``convs_per_block`` convolutions
    (conv, BatchNorm, ReLU), each block closed by max-pooling and dropout, then flatten and dense layers.
    Kept: DeepCRE's block layout (two 8-wide convolutions per block, 64/128/64 filters, dropout 0.25,
    dense 128 -> 64). Changed: BatchNorm added; pooling 4/4/2 instead of 8/8/8 so the default also
    fits 100-200 bp promoters (use ``pool_sizes=8`` for 3 kb DeepCRE windows); raw outputs (no sigmoid).

    ``convs`` is the flat stack of conv blocks; ``gradcam_layer`` is the last block's activation.
    """

    head_modules = ("head",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 2,  # small: docs examples, smoke tests
               "params": {"channels": [16, 16], "kernel_sizes": 9, "pool_sizes": [10, 5], "convs_per_block": 1,
                          "dropout": 0.0, "hidden": [16], "head_dropout": 0.0}}

    def __init__(self, seq_len: int, n_targets: int = 1, channels: Sequence[int] = (64, 128, 64),
                 kernel_sizes: int | Sequence[int] = 8, pool_sizes: int | Sequence[int] = (4, 4, 2),
                 convs_per_block: int = 2, dropout: float | Sequence[float] = 0.25,
                 hidden: Sequence[int] = (128, 64), head_dropout: float = 0.25, batch_norm: bool = True):
        super().__init__()
        self.convs = conv_stack(4, channels, kernel_sizes, pool_sizes, dropout, convs_per_block,
                                batch_norm=batch_norm)
        ch, length = output_shape(self.convs, 4, seq_len)
        self.head = MLP(ch * length, hidden, n_targets, head_dropout)

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.convs[-1].act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x))
