"""Shared building blocks of the model zoo: conv-BN-act, squeeze-excitation, residuals, heads.

Every architecture in ``seq2expr.models`` is assembled from these, so a change (e.g. the padding rule)
happens in one place. All blocks work on ``(B, C, L)`` tensors, channels first like ``nn.Conv1d``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

T = TypeVar("T")

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "elu": nn.ELU}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (fresh, so hooks on one layer never fire for another)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


def per_layer(value: T | Sequence[T], n: int, name: str) -> list[T]:
    """Broadcast a scalar option to ``n`` layers, or check a per-layer list has length ``n``."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} values but there are {n} layers")
        return list(value)
    return [value] * n


class GroupedConv1d(nn.Conv1d):
    """``nn.Conv1d`` whose grouped convolutions run on CPU as channels-last 2-D convolutions.

    oneDNN's 1-D grouped kernels are slow on CPU: LegNet's 512-channel, 2-channels-per-group, 7-wide
    convolution took 150-195 ms forward + backward (batch 128, 2 cores) against 51 ms as a channels-last
    ``conv2d`` of the same weights; a whole default LegNet training step runs 1.1x faster (371 vs 333 seq/s,
    alternating runs in one process), and eval passes of 64-128 rows about 1.3x faster. Same parameters
    (3-D weight), same ``state_dict``, same outputs to float rounding; other devices use the 1-D kernel.
    """

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.groups == 1 or self.padding_mode != "zeros" or input.device.type != "cpu" or input.dim() != 3:
            return super()._conv_forward(input, weight, bias)
        padding = self.padding if isinstance(self.padding, str) else (0, self.padding[0])
        x = input.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        w = weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        out = F.conv2d(x, w, bias, (1, self.stride[0]), padding, (1, self.dilation[0]), self.groups)
        return out.squeeze(2).contiguous()


class ConvBlock(nn.Sequential):
    """``Conv1d('same') -> BatchNorm -> activation -> MaxPool -> Dropout``; the unit of every CNN here.

    Sub-modules are named (``pad`` for even kernels, ``conv``, ``bn``, ``act``, ``pool``, ``drop``) so
    interpretation code can hook ``block.act`` (rectified feature maps, the classic Grad-CAM target) or
    ``block.conv``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, *, act: str = "relu", batch_norm: bool = True,
                 pool: int = 1, pool_stride: int | None = None, dropout: float = 0.0, groups: int = 1,
                 dilation: int = 1):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        total = dilation * (kernel_size - 1)
        if total % 2:  # even kernel: pad explicitly (one more base on the right, as torch's 'same' does)
            layers["pad"] = nn.ConstantPad1d((total // 2, total - total // 2), 0.0)
        conv = GroupedConv1d if groups > 1 else nn.Conv1d
        layers["conv"] = conv(in_ch, out_ch, kernel_size, padding=0 if total % 2 else "same", dilation=dilation,
                              groups=groups, bias=not batch_norm)
        if batch_norm:
            layers["bn"] = nn.BatchNorm1d(out_ch)
        layers["act"] = activation(act)
        if pool > 1:
            layers["pool"] = nn.MaxPool1d(pool, pool_stride or pool)
        if dropout > 0:
            layers["drop"] = nn.Dropout(dropout)
        super().__init__(layers)


def conv_stack(in_ch: int, channels: Sequence[int], kernel_sizes: int | Sequence[int] = 8,
               pool_sizes: int | Sequence[int] = 1, dropout: float | Sequence[float] = 0.0,
               convs_per_block: int = 1, act: str = "relu", batch_norm: bool = True) -> nn.Sequential:
    """Blocks of ``convs_per_block`` ConvBlocks; pooling and dropout close each block (DeepCRE layout).

    Returns a flat ``nn.Sequential`` of ConvBlocks, so ``stack[-1]`` is the last convolution block.
    """
    n = len(channels)
    ks = per_layer(kernel_sizes, n, "kernel_sizes")
    pools = per_layer(pool_sizes, n, "pool_sizes")
    drops = per_layer(dropout, n, "dropout")
    blocks: list[nn.Module] = []
    prev = in_ch
    for ch, k, p, d in zip(channels, ks, pools, drops, strict=True):
        for j in range(convs_per_block):
            last = j == convs_per_block - 1
            blocks.append(ConvBlock(prev, ch, k, act=act, batch_norm=batch_norm, pool=p if last else 1,
                                    dropout=d if last else 0.0))
            prev = ch
    return nn.Sequential(*blocks)


@torch.no_grad()
def output_shape(module: nn.Module, in_ch: int, seq_len: int,
                 fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[int, int]:
    """``(channels, length)`` that ``module`` (or ``fn``, a method using it) makes from ``(1, in_ch, seq_len)``.

    Runs one zero batch in eval mode (BatchNorm statistics untouched) and restores the training flag.
    Raises ``ValueError`` when pooling shrinks the sequence to nothing, naming ``seq_len``.
    """
    was_training = module.training
    module.eval()
    try:
        out = (fn or module)(torch.zeros(1, in_ch, seq_len))
    except RuntimeError as e:
        raise ValueError(f"seq_len={seq_len} is too short for this architecture's pooling ({e})") from None
    finally:
        module.train(was_training)
    if out.shape[-1] < 1:
        raise ValueError(f"seq_len={seq_len} is too short for this architecture's pooling")
    return int(out.shape[1]), int(out.shape[-1])


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): rescale channels by a gate computed from their means.

    The product ``x * gate`` is a module (tangermeme's ``BilinearOp``, no parameters) so DeepLIFT applies
    its product rule there instead of falling back to gradients.
    """

    def __init__(self, channels: int, hidden: int, act: str = "silu"):
        super().__init__()
        from tangermeme.deep_lift_shap import BilinearOp

        self.gate = nn.Sequential(nn.Linear(channels, max(1, hidden)), activation(act),
                                  nn.Linear(max(1, hidden), channels), nn.Sigmoid())
        self.scale = BilinearOp("...,...->...")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(x, self.gate(x.mean(-1)).unsqueeze(-1))


class Residual(nn.Module):
    """``x + f(x)``."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(x)


class ResidualConcat(nn.Module):
    """``concat([x, f(x)], channels)``: LegNet's residual, doubling the channel count."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.fn(x)], dim=1)


class MLP(nn.Sequential):
    """Flatten, then ``[Linear -> act -> Dropout]`` per hidden size, then a Linear to ``n_out``."""

    def __init__(self, in_features: int, hidden: Sequence[int], n_out: int, dropout: float = 0.0,
                 act: str = "relu"):
        layers: list[nn.Module] = [nn.Flatten()]
        prev = in_features
        for h in hidden:
            layers += [nn.Linear(prev, h), activation(act)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = h
        layers.append(nn.Linear(prev, n_out))
        super().__init__(*layers)


class GlobalPool(nn.Module):
    """Pool ``(B, C, L)`` over positions to ``(B, C)`` (``avg``, ``max``) or ``(B, 2C)`` (``avgmax``)."""

    def __init__(self, mode: str = "avg"):
        super().__init__()
        if mode not in ("avg", "max", "avgmax"):
            raise ValueError(f"unknown pooling {mode!r}; use avg, max or avgmax")
        self.mode = mode

    @property
    def factor(self) -> int:
        return 2 if self.mode == "avgmax" else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "avg":
            return x.mean(-1)
        if self.mode == "max":
            return x.amax(-1)
        return torch.cat([x.mean(-1), x.amax(-1)], dim=1)


class GlobalPoolHead(nn.Sequential):
    """Global pooling over positions followed by an :class:`MLP`: a length-independent output head."""

    def __init__(self, in_ch: int, n_out: int, hidden: Sequence[int] = (), pool: str = "avg",
                 dropout: float = 0.0, act: str = "relu"):
        gp = GlobalPool(pool)
        super().__init__(OrderedDict(pool=gp, mlp=MLP(in_ch * gp.factor, hidden, n_out, dropout, act)))


def n_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
