"""Model ``legnet2022``: LegNet exactly as published for DREAM 2022 and the Vaishnav et al. media, to load its weights.

Penzar D, Nogina D et al. (2023) LegNet: a best-in-class deep learning model for short DNA regulatory regions.
Bioinformatics 39:btad457 (github.com/autosome-ru/LegNet, ``legnet/model.py``). The project's own ``legnet`` is
a variant for training here; this one keeps the published network unit for unit so the authors' checkpoints
(``models/{dream2022,complex,defined}/model_*.pth``) load with their own parameter names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seq2expr.models.layers import GroupedConv1d
from seq2expr.models.registry import register

# the 150 reporter-plasmid bases before the 80-nt insert (ending with the construct's 17-nt left adapter
# TGCATTTTTTTCACATC), from which the published ``preprocess_data`` (legnet/test.py) fills a 150-nt input; the
# same bases as the DREAM data set's plasmid.json
DREAM_CONTEXT = ("AGTCCACTATTAAAGAACGTGGACTCCAACGTCAAAGGGCGAAAAACCGTCTATCAGGGCGATGGCCCACTACGTGAACCATCACCCTAATCAAG"
                 "TGCTAGCAGGAATGATGCAAAAGGTTCCCGATTCGAACTGCATTTTTTTCACATC")
_ORIGINAL_ORDER = [0, 2, 1, 3]  # the published one-hot reads A, G, C, T; ours is A, C, G, T


class _CPWeights(nn.Module):
    """A rank-R CP tensor ``W[i, j, k] = sum_r w_r A[i, r] B[j, r] C[k, r]`` under tensorly-torch's names."""

    def __init__(self, shape: Sequence[int], rank: int):
        super().__init__()
        self.weights = nn.Parameter(torch.ones(rank))
        self.factors = nn.Module()
        for i, s in enumerate(shape):
            self.factors.register_parameter(f"factor_{i}", nn.Parameter(torch.randn(s, rank) * 0.01))

    def full(self) -> torch.Tensor:
        a, b, c = (getattr(self.factors, f"factor_{i}") for i in range(3))
        return torch.einsum("r,ir,jr,kr->ijk", self.weights, a, b, c)


class _Bilinear(nn.Module):
    """Pairwise products of the features through a low-rank tensor regression layer (the SE block's ``Bilinear``)."""

    def __init__(self, n: int, out: int, rank: int):
        super().__init__()
        self.trl = nn.Module()
        self.trl.weight = _CPWeights((n, n, out), rank)
        self.trl.bias = nn.Parameter(torch.zeros(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outer = x.unsqueeze(-1) @ x.unsqueeze(-2)
        return torch.einsum("bij,ijk->bk", outer, self.trl.weight.full()) + self.trl.bias


class _Concat(nn.Module):
    def __init__(self, mod: nn.Module):
        super().__init__()
        self.mod = mod

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.mod(x)), dim=-1)


class _SE(nn.Module):
    """Squeeze-excitation with a bilinear layer: channel gates from the pooled features."""

    def __init__(self, inp: int, oup: int, reduction: float, rank: float):
        super().__init__()
        mid = int(inp // reduction)
        # tensorly's CP rank for a fraction: round(fraction * size / sum of dimensions), half to even like np.round
        rank = max(1, round(rank * mid * mid * (mid // 2) / (2 * mid + mid // 2)))
        self.fc = nn.Sequential(nn.Linear(oup, mid), nn.SiLU(), nn.Linear(mid, mid),
                                _Concat(_Bilinear(mid, mid // 2, rank)), nn.SiLU(),
                                nn.Linear(mid + mid // 2, oup), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=2)).unsqueeze(-1)


def _conv(cin: int, cout: int, k: int, groups: int = 1) -> nn.Conv1d:
    return GroupedConv1d(cin, cout, k, padding="same", groups=groups, bias=False)


@register("legnet2022")
class LegNet2022(nn.Module):
    """The published LegNet (``SeqNN``) behind the construct the authors fed it, as a plain ``(B, 4, L)`` model.

    Input: the 110-nt DREAM/Vaishnav construct, one-hot A, C, G, T with N = 0.25. As the authors' ``test.py``
    does, its first ``drop`` bases (the 17-nt adapter) are replaced by the plasmid ``context`` before them and
    the last ``model_len`` (150) bases are kept; channels are reordered to the published A, G, C, T; a strand
    channel (0 forward, 1 reverse complement) and the ``is_singleton`` channel (``singleton``: 0, as the authors
    predicted) are added. Output: the expected expression bin, ``sum(softmax(logits) * [0..17])``, averaged over
    the sequence and its reverse complement (``rc_average``), exactly ``test.py``'s prediction.
    """

    head_modules = ("mapper",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 1,  # small: docs examples, smoke tests
               "params": {"block_sizes": [16, 16, 16], "resize_factor": 2}}

    def __init__(self, seq_len: int, n_targets: int = 1, block_sizes: Sequence[int] = (256, 128, 128, 64, 64, 64, 64),
                 ks: int = 7, resize_factor: int = 4, filter_per_group: int = 2, se_reduction: float = 4,
                 final_ch: int = 18, bilinear_rank: float = 0.5, use_single_channel: bool = True,
                 singleton: float = 0.0, context: str = DREAM_CONTEXT, drop: int = 17, model_len: int = 150,
                 rc_average: bool = True):
        super().__init__()
        if n_targets != 1:
            raise ValueError("legnet2022 predicts one value (the expected expression bin)")
        need = model_len - (seq_len - drop)
        if need < 0 or need > len(context):
            raise ValueError(f"seq_len {seq_len} - drop {drop} does not fit model_len {model_len} with "
                             f"{len(context)} context bases")
        self.drop, self.model_len, self.singleton, self.rc_average = drop, model_len, float(singleton), rc_average
        self.use_single_channel = use_single_channel
        codes = torch.tensor(["AGCT".index(b) for b in context[len(context) - need:]], dtype=torch.long)
        self.register_buffer("context", F.one_hot(codes, 4).T.float(), persistent=False)
        sizes = list(block_sizes)
        blocks: OrderedDict[str, nn.Module] = OrderedDict(
            blc0=nn.Sequential(_conv(6 if use_single_channel else 5, sizes[0], ks), nn.BatchNorm1d(sizes[0]),
                               nn.SiLU()))
        for i, (prev, size) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            inner = size * resize_factor
            blocks[f"inv_res_blc{i}"] = nn.Sequential(
                _conv(prev, inner, 1), nn.BatchNorm1d(inner), nn.SiLU(),
                _conv(inner, inner, ks, groups=inner // filter_per_group), nn.BatchNorm1d(inner), nn.SiLU(),
                _SE(prev, inner, se_reduction, bilinear_rank),
                _conv(inner, prev, 1), nn.BatchNorm1d(prev), nn.SiLU())
            blocks[f"resize_blc{i}"] = nn.Sequential(_conv(2 * prev, size, ks), nn.BatchNorm1d(size), nn.SiLU())
        self.seqextractor = nn.ModuleDict(blocks)
        self.n_blocks = len(sizes) - 1
        self.mapper = nn.Sequential(nn.Conv1d(sizes[-1], final_ch, 1, padding="same"), nn.SiLU())
        self.register_buffer("bins", torch.arange(final_ch))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """The published network on its own input ``(B, 5 or 6, model_len)``: the expected bin ``(B,)``."""
        x = self.seqextractor["blc0"](x)
        for i in range(self.n_blocks):
            x = self.seqextractor[f"resize_blc{i}"](torch.cat([x, self.seqextractor[f"inv_res_blc{i}"](x)], dim=1))
        logits = self.mapper(x).mean(dim=2)
        return (F.softmax(logits, dim=1) * self.bins).sum(dim=1)

    def _with_channels(self, seq: torch.Tensor, strand: float) -> torch.Tensor:
        extra = [torch.full_like(seq[:, :1], strand)]
        if self.use_single_channel:
            extra.append(torch.full_like(seq[:, :1], self.singleton))
        return torch.cat([seq, *extra], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x[:, _ORIGINAL_ORDER, self.drop:]
        seq = torch.cat([self.context.to(seq.dtype).expand(seq.shape[0], -1, -1), seq], dim=2)[:, :, -self.model_len:]
        out = self.score(self._with_channels(seq, 0.0))
        if self.rc_average:  # reverse complement of A, G, C, T: both axes flipped
            out = (out + self.score(self._with_channels(seq.flip(1, 2), 1.0))) / 2
        return out.unsqueeze(1)
