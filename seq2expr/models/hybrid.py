"""Model ``hybrid``: CNN stem + Transformer encoder (DeepPlantCRE style), with retrievable attention maps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from seq2expr.models.layers import GlobalPoolHead, conv_stack, output_shape
from seq2expr.models.registry import register


class LearnedPosition(nn.Module):
    """Adds a trained ``(T, d)`` position embedding."""

    def __init__(self, length: int, d_model: int):
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(1, length, d_model) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding


class SinusoidalPosition(nn.Module):
    """Adds the fixed sine/cosine encoding of Vaswani et al. 2017 (not saved: rebuilt from the length)."""

    def __init__(self, length: int, d_model: int):
        super().__init__()
        pos = torch.arange(length, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(length, d_model)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
        self.register_buffer("encoding", pe[None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.encoding


class EncoderLayer(nn.Module):
    """Pre-norm Transformer encoder layer that can return per-head attention weights ``(B, heads, T, T)``."""

    def __init__(self, d_model: int, n_heads: int, ff_mult: int = 2, dropout: float = 0.1):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)  # no dropout on the weights
        self.ff = nn.Sequential(nn.Linear(d_model, ff_mult * d_model), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(ff_mult * d_model, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.norm1(x)
        a, weights = self.attn(h, h, h, need_weights=need_weights, average_attn_weights=False)
        x = x + self.drop(a)
        return x + self.drop(self.ff(self.norm2(x))), weights


@register("hybrid")
class Hybrid(nn.Module):
    """Convolutions find motifs, a Transformer encoder relates them across the sequence, pooling reads out.

    In the style of DeepPlantCRE (a Transformer-CNN hybrid for plant gene expression, 2025) and of
    CNN+attention models such as Basenji/Enformer-lite: a conv stem (conv, BN, ReLU, max-pool) turns the
    sequence into ``T = L / prod(pool_sizes)`` tokens of width ``channels[-1]``, positions are added
    (``positional="learned"`` or ``"sinusoidal"``), pre-norm encoder layers follow, then global pooling and
    a dense head. Kept: CNN-then-Transformer order, pooled read-out. Changed: sizes are small by default.

    Attention for interpretation: ``forward(x, return_attention=True)`` returns ``(out, maps)``, or set
    ``model.store_attention = True`` and read ``model.last_attention`` after a call; either way ``maps`` is
    one ``(B, heads, T, T)`` tensor per layer (rows sum to 1). ``gradcam_layer`` is the stem's last activation.
    """

    head_modules = ("head",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 2,  # small: docs examples, smoke tests
               "params": {"channels": [16, 32], "kernel_sizes": [9, 3], "pool_sizes": [2, 4], "n_layers": 1,
                          "n_heads": 2, "hidden": [16], "dropout": 0.0}}

    def __init__(self, seq_len: int, n_targets: int = 1, channels: Sequence[int] = (64, 128),
                 kernel_sizes: int | Sequence[int] = (15, 5), pool_sizes: int | Sequence[int] = (2, 4),
                 conv_dropout: float = 0.1, n_layers: int = 2, n_heads: int = 4, ff_mult: int = 2,
                 dropout: float = 0.1, positional: str = "learned", pool: str = "avg",
                 hidden: Sequence[int] = (64,)):
        super().__init__()
        self.convs = conv_stack(4, channels, kernel_sizes, pool_sizes, conv_dropout)
        d_model, n_tokens = output_shape(self.convs, 4, seq_len)
        if d_model % n_heads:
            raise ValueError(f"channels[-1]={d_model} must be divisible by n_heads={n_heads}")
        positions = {"learned": LearnedPosition, "sinusoidal": SinusoidalPosition}
        if positional not in positions:
            raise ValueError(f"unknown positional encoding {positional!r}; use learned or sinusoidal")
        self.position = positions[positional](n_tokens, d_model)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, n_heads, ff_mult, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = GlobalPoolHead(d_model, n_targets, hidden, pool, dropout)
        self.store_attention = False
        self.last_attention: list[torch.Tensor] = []

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.convs[-1].act

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        h = self.position(self.convs(x).transpose(1, 2))  # (B, T, d)
        want = return_attention or self.store_attention
        maps: list[torch.Tensor] = []
        for layer in self.encoder:
            h, weights = layer(h, need_weights=want)
            if want:
                maps.append(weights)
        out = self.head(self.norm(h).transpose(1, 2))
        if self.store_attention:
            self.last_attention = [m.detach() for m in maps]
        return (out, maps) if return_attention else out
