"""Model ``rescnn``: Camformer, the residual CNN of Malik et al. 2024 (DREAM 2022 random promoters)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from seq2expr.models.layers import MLP, ConvBlock, output_shape, per_layer
from seq2expr.models.registry import register

PRESETS: dict[str, dict[str, Any]] = {
    # Camformer-mini ("basic", ~1.4M parameters in the paper): six convolutions, no residuals.
    "mini": dict(channels=[384, 256, 128, 64, 128, 192], kernel_sizes=[5, 6, 6, 5, 5, 4],
                 pool_sizes=[1, 1, 1, 7, 1, 1], pool_strides=[1, 1, 1, 2, 1, 1],
                 dropout=[0.156, 0.194, 0.231, 0.269, 0.306, 0.344], hidden=[32], residual=False),
    # Camformer (DREAM submission, ~16.6M parameters): three residual pairs of 512-filter convolutions.
    "full": dict(channels=[512] * 6, kernel_sizes=10, pool_sizes=[1, 1, 1, 1, 10, 1],
                 pool_strides=[1, 1, 1, 1, 4, 1], dropout=0.3, hidden=[256, 256], residual=True),
}


@register("rescnn")
class ResCNN(nn.Module):
    """Camformer: convolution blocks (conv, BN, ReLU, max-pool, dropout), flatten, dense head.

    Malik, Svensson et al. 2024, "Camformer: predicting gene expression from millions of random yeast
    promoters" (4th in the DREAM 2022 random-promoter challenge; Rafi et al. 2024). With
    ``residual=True`` layers act in pairs: the first layer's output is added to the second's (Camformer's
    skip). Presets: ``size="mini"`` (the ~1.4M "basic" model) and ``size="full"`` (~16.6M at 110 bp); any
    option given explicitly overrides the preset. Changed: 'same' padding instead of 5-base zero padding
    that grew the sequence; 4 one-hot channels instead of 5 (no extra strand channel).

    ``convs`` holds the conv blocks; ``gradcam_layer`` is the last block's activation.
    """

    head_modules = ("head",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 2,  # small: docs examples, smoke tests
               "params": {"channels": [16, 16, 16, 16], "kernel_sizes": 7, "pool_sizes": [1, 1, 4, 1],
                          "pool_strides": [1, 1, 4, 1], "dropout": 0.1, "hidden": [16], "residual": True}}

    def __init__(self, seq_len: int, n_targets: int = 1, size: str = "mini",
                 channels: Sequence[int] | None = None, kernel_sizes: int | Sequence[int] | None = None,
                 pool_sizes: int | Sequence[int] | None = None, pool_strides: int | Sequence[int] | None = None,
                 dropout: float | Sequence[float] | None = None, hidden: Sequence[int] | None = None,
                 residual: bool | None = None):
        super().__init__()
        if size not in PRESETS:
            raise ValueError(f"unknown rescnn size {size!r}; known: {', '.join(PRESETS)}")
        given = dict(channels=channels, kernel_sizes=kernel_sizes, pool_sizes=pool_sizes,
                     pool_strides=pool_strides, dropout=dropout, hidden=hidden, residual=residual)
        opt = {**PRESETS[size], **{k: v for k, v in given.items() if v is not None}}
        chans = list(opt["channels"])
        n = len(chans)
        ks, pools, strides, drops = (per_layer(opt[k], n, k) for k in
                                     ("kernel_sizes", "pool_sizes", "pool_strides", "dropout"))
        self.residual = bool(opt["residual"])
        if self.residual and (n % 2 or any(chans[i] != chans[i + 1] for i in range(0, n, 2))):
            raise ValueError("residual=True needs layers in pairs of equal channel counts, got " + str(chans))
        if self.residual and any(p > 1 for p in pools[1::2]):
            raise ValueError("residual=True: pool only in the first layer of each pair (the skip spans the second)")
        ins = [4, *chans[:-1]]
        self.convs = nn.ModuleList(ConvBlock(i, o, k, pool=p, pool_stride=s, dropout=d)
                                   for i, o, k, p, s, d in zip(ins, chans, ks, pools, strides, drops, strict=True))
        ch, length = output_shape(self, 4, seq_len, self.features)
        self.head = MLP(ch * length, opt["hidden"], n_targets)

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.convs[-1].act

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Convolutional trunk: ``(B, 4, L) -> (B, C, L')``."""
        if not self.residual:
            for block in self.convs:
                x = block(x)
            return x
        for first, second in zip(self.convs[::2], self.convs[1::2], strict=True):
            x = first(x)
            x = x + second(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

