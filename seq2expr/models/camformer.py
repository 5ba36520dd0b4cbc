"""Model ``camformer``: Camformer, a tuned residual CNN trained on the 6.7M DREAM 2022 promoters, to load its weights.

Malik G, Svensson F et al. (2025) Predicting gene expression using millions of yeast promoters reveals
cis-regulatory logic (github.com/gautammalik-git/Camformer; 3rd in DREAM 2022). Two published models: the original
(``base/model.py``: 6 convolutions of 512 filters in 3 residual pairs, 16.6M parameters, one-hot input) and
Camformer-Mini (``base/model_basic.py``: no residuals, 1.4M parameters, one-hot plus a purine channel). The
authors run 2-D convolutions with ``(k, 1)`` kernels over a ``(B, C, 110, 1)`` input; here they are the same
1-D convolutions, so the weights load after dropping their trailing unit axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seq2expr.models.layers import per_layer
from seq2expr.models.registry import register

LARGE = {"out_channels": [512] * 6, "kernels": [10] * 6, "pool_kernels": [1, 1, 1, 1, 10, 1],
         "pool_strides": [1, 1, 1, 1, 4, 1], "paddings": "same", "linear_output": [256, 256], "residual": True,
         "purine_channel": False}
MINI = {"out_channels": [384, 256, 128, 64, 128, 192], "kernels": [5, 6, 6, 5, 5, 4],
        "pool_kernels": [1, 1, 1, 7, 1, 1], "pool_strides": [1, 1, 1, 2, 1, 1], "paddings": [5] * 6,
        "linear_output": [32], "residual": False, "purine_channel": True}


class _SameConv1d(nn.Conv1d):
    """Stride-1 convolution keeping the length; an even kernel gets the extra base on the right (``Conv2dSame``)."""

    def __init__(self, c_in: int, c_out: int, k: int):
        super().__init__(c_in, c_out, k)
        self.pads = ((k - 1) // 2, k - 1 - (k - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pads))


def _out_len(length: int, kernel: int, padding: int | str, pool: int, pool_stride: int) -> int:
    if padding != "same":
        length = length + 2 * int(padding) - kernel + 1
    return length if pool == 1 else (length - pool) // pool_stride + 1


@register("camformer")
class Camformer(nn.Module):
    """Convolution blocks (conv, batch norm, ReLU, optional max-pool, dropout), optionally added in residual pairs
    (``x = L[i](x); x = L[i+1](x) + x``), flattened, then ReLU linear layers to one output.

    ``purine_channel``: Camformer-Mini's 5th input channel, A or G = 1, C or T = 0 and N = 0.5 (computed here from
    the one-hot input, so N must be 0.25 in each channel as the authors encoded it; Camformer encodes N as 0).
    ``paddings``: ``"same"`` (as ``Conv2dSame``: for even kernels one more base on the right) or one per layer.
    Defaults: the original (large) model.
    """

    head_modules = ("linear_layers",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 1,  # small: docs examples, smoke tests
               "params": {"out_channels": [16, 16, 16, 16], "kernels": [5, 5, 5, 5], "pool_kernels": [1, 1, 4, 1],
                          "pool_strides": [1, 1, 4, 1], "linear_output": [16]}}

    def __init__(self, seq_len: int, n_targets: int = 1, out_channels: Sequence[int] = LARGE["out_channels"],
                 kernels: Sequence[int] = LARGE["kernels"], pool_kernels: Sequence[int] = LARGE["pool_kernels"],
                 pool_strides: Sequence[int] = LARGE["pool_strides"],
                 paddings: str | Sequence[int] = "same", linear_output: Sequence[int] = LARGE["linear_output"],
                 residual: bool = True, purine_channel: bool = False, dropout: float = 0.0):
        super().__init__()
        if n_targets != 1:
            raise ValueError("camformer predicts one value")
        n = len(out_channels)
        if residual and n % 2:
            raise ValueError(f"residual pairs need an even number of layers, not {n}")
        pads = ["same"] * n if paddings == "same" else per_layer(list(paddings), n, "paddings")
        kernels, pools = per_layer(list(kernels), n, "kernels"), per_layer(list(pool_kernels), n, "pool_kernels")
        strides = per_layer(list(pool_strides), n, "pool_strides")
        self.residual, self.purine_channel = residual, purine_channel
        self.CNN_layers = nn.ModuleList()
        length, c_in = seq_len, 5 if purine_channel else 4
        for c_out, k, pad, pool, stride in zip(out_channels, kernels, pads, pools, strides, strict=True):
            conv = _SameConv1d(c_in, c_out, k) if pad == "same" else nn.Conv1d(c_in, c_out, k, padding=int(pad))
            block = [conv, nn.BatchNorm1d(c_out), nn.ReLU()]
            if pool != 1:
                block.append(nn.MaxPool1d(pool, stride))
            block.append(nn.Dropout(dropout))
            self.CNN_layers.append(nn.Sequential(*block))
            length, c_in = _out_len(length, k, pad, pool, stride), c_out
        if length < 1:
            raise ValueError(f"seq_len={seq_len} is too short for these kernels and pools")
        sizes = [c_in * length, *linear_output]
        layers: list[nn.Module] = [nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout))
                                   for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        layers.append(nn.Sequential(nn.Linear(sizes[-1], 1)))
        self.linear_layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.purine_channel:
            x = torch.cat([x, x[:, 0:1] + x[:, 2:3]], dim=1)
        layers = self.CNN_layers
        if self.residual:
            for i in range(0, len(layers), 2):
                x = layers[i](x)
                x = layers[i + 1](x) + x
        else:
            for layer in layers:
                x = layer(x)
        return self.linear_layers(x.flatten(1))
