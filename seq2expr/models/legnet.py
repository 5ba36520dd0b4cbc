"""Model ``legnet``: LegNet (Penzar et al. 2023), the DREAM 2022 random-promoter challenge winner."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from seq2expr.models.layers import ConvBlock, GlobalPoolHead, ResidualConcat, SqueezeExcite, per_layer
from seq2expr.models.registry import register


class EffBlock(nn.Sequential):
    """EfficientNetV2-style inverted bottleneck: 1x1 expand, grouped conv, squeeze-excitation, 1x1 project."""

    def __init__(self, in_ch: int, kernel_size: int, resize_factor: int = 4, filter_per_group: int = 2,
                 se_reduction: int = 4, act: str = "silu"):
        inner = in_ch * resize_factor
        if inner % filter_per_group:
            raise ValueError(f"expanded channels {inner} not divisible by filter_per_group={filter_per_group}")
        super().__init__(OrderedDict(
            expand=ConvBlock(in_ch, inner, 1, act=act),
            grouped=ConvBlock(inner, inner, kernel_size, act=act, groups=inner // filter_per_group),
            se=SqueezeExcite(inner, in_ch // se_reduction, act),
            project=ConvBlock(inner, in_ch, 1, act=act),
        ))


@register("legnet")
class LegNet(nn.Module):
    """LegNet: stem conv, EfficientNetV2-like blocks with concatenating residuals, 1x1 mapper, pooled head.

    Penzar et al. 2023, *Bioinformatics* 39:btad457 (autosome.org, 1st in DREAM 2022; also MPRA-LegNet,
    Agarwal et al. 2025). Each block is ``concat([x, EffBlock(x)]) -> conv(k) to the next size -> max-pool``.
    Kept: SiLU, BatchNorm, grouped convolutions with ``filter_per_group`` filters, SE gates sized from the
    block input, concatenating residuals, kernel 7, expansion 4. Changed: the DREAM soft-classification
    over 18 expression bins is replaced by a plain output (regression value or logit); MPRA-LegNet's
    per-block max-pooling is optional (``pool_sizes``, 1 = off); the default is narrower (~0.5M parameters;
    ``block_sizes=(256, 128, 128, 64, 64, 64, 64), pool_sizes=1`` gives the DREAM widths, ~2.2M here).

    ``blocks`` holds the stages (``blocks[i].local`` is each stage's conv); ``gradcam_layer`` is the
    activation of the 1x1 mapper, the last feature map before global pooling.
    """

    head_modules = ("head",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 2,  # small: docs examples, smoke tests
               "params": {"block_sizes": [16, 16], "resize_factor": 2, "filter_per_group": 8, "pool_sizes": 4,
                          "final_ch": 16}}

    def __init__(self, seq_len: int, n_targets: int = 1, block_sizes: Sequence[int] = (128, 64, 64, 32, 32, 32),
                 kernel_size: int = 7, resize_factor: int = 4, filter_per_group: int = 2, se_reduction: int = 4,
                 pool_sizes: int | Sequence[int] = 2, final_ch: int = 64, dropout: float = 0.0):
        super().__init__()
        sizes = list(block_sizes)
        pools = per_layer(pool_sizes, len(sizes) - 1, "pool_sizes")
        self.stem = ConvBlock(4, sizes[0], kernel_size, act="silu")
        self.blocks = nn.ModuleList(
            nn.Sequential(OrderedDict(
                eff=ResidualConcat(EffBlock(prev, kernel_size, resize_factor, filter_per_group, se_reduction)),
                local=ConvBlock(2 * prev, size, kernel_size, act="silu", pool=pool),
            ))
            for prev, size, pool in zip(sizes[:-1], sizes[1:], pools, strict=True))
        self.mapper = ConvBlock(sizes[-1], final_ch, 1, act="silu", dropout=dropout)
        self.head = GlobalPoolHead(final_ch, n_targets, hidden=[final_ch], pool="avg", act="silu")
        length = seq_len
        for p in pools:
            length //= p
        if length < 1:
            raise ValueError(f"seq_len={seq_len} is too short for pool_sizes={pools}")

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.mapper.act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.mapper(x))
