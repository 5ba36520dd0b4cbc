"""Models ``enformer`` and ``borzoi``: the published human genome-track models as gene-expression models.

Enformer (Avsec Z et al. 2021, Nat Methods 18:1196; PyTorch port ``enformer-pytorch``, weights
EleutherAI/enformer-official-rough) and Borzoi (Linder J et al. 2025, Nat Genet 57:949; PyTorch port
``borzoi-pytorch``, weights johahi/borzoi-replicate-0..3) predict thousands of tracks (CAGE, DNase, ChIP, RNA) in
bins along a long window. Here each runs the package's own network unchanged and keeps chosen ``tracks`` in the
``tss_bins`` bins around the window's centre (where a gene window puts the TSS), averaged or summed: a plain
``(B, 4, L) -> (B, len(tracks))`` model, so ``predict`` and ``variants`` gene mode work on it. The packages are
the optional extra ``seq2expr[human]``; they are imported only when such a model is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from seq2expr.models.registry import register

EXTRA = "pip install 'seq2expr[human]'"


def _package(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ValueError(f"this model needs the {name.replace('_', '-')} package: {EXTRA} ({err})") from None


class _TssTracks(nn.Module):
    """Track selection and aggregation over the bins around the TSS, shared by both wrappers.

    With ``embedding_head`` the published tracks are not read: a new linear head (``embedding_head``) maps the
    trunk's embedding, aggregated over the same TSS bins, to ``n_targets`` outputs. That is how such a model is
    fine-tuned on new targets (gReLU's tutorials do the same): the trunk is frozen by default
    (``freeze_trunk_by_default``) and only the head learns.
    """

    bin_size = 128
    freeze_trunk_by_default = True
    head_modules: tuple[str, ...] = ()

    @classmethod
    def new_head_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters of the same network with a new head on the TSS-bin embeddings."""
        return {**params, "embedding_head": True}

    def _with_head(self, n_targets: int, tracks: Sequence[int], embedding_head: bool, embedding_dim: int,
                   track_heads: tuple[str, ...]) -> None:
        if embedding_head:
            self.embedding_head = nn.Linear(embedding_dim, n_targets)
            self.head_modules = ("embedding_head",)
        else:
            if n_targets != len(tracks):
                raise ValueError(f"n_targets {n_targets} != {len(tracks)} tracks")
            self.embedding_head = None
            self.head_modules = track_heads

    def pool_bins(self, emb: torch.Tensor) -> torch.Tensor:
        """``(B, bins, dim)`` -> ``(B, dim)``: the TSS bins aggregated."""
        picked = emb.index_select(1, self.bins)
        return picked.mean(1) if self.aggregate == "mean" else picked.sum(1)

    def _setup(self, seq_len: int, n_bins: int, tracks: Sequence[int], tss_bins: int, aggregate: str,
               tss_index: int | None) -> None:
        if aggregate not in ("mean", "sum"):
            raise ValueError(f"aggregate must be mean or sum, not {aggregate!r}")
        if not tracks:
            raise ValueError("choose at least one track")
        offset = (seq_len - n_bins * self.bin_size) // 2
        tss = seq_len // 2 if tss_index is None else tss_index
        centre = (tss - offset) // self.bin_size
        first = centre - (tss_bins - 1) // 2
        if offset < 0 or first < 0 or first + tss_bins > n_bins:
            raise ValueError(f"{tss_bins} bins around position {tss} do not lie in the {n_bins} output bins of a "
                             f"{seq_len}-nt window")
        self.aggregate = aggregate
        self.register_buffer("bins", torch.arange(first, first + tss_bins), persistent=False)
        self.register_buffer("tracks", torch.as_tensor(list(tracks), dtype=torch.long), persistent=False)

    def select(self, out: torch.Tensor) -> torch.Tensor:
        """``(B, bins, tracks)`` -> ``(B, len(self.tracks))``."""
        picked = out.index_select(1, self.bins).index_select(2, self.tracks)
        return picked.mean(1) if self.aggregate == "mean" else picked.sum(1)


@register("enformer")
class EnformerTss(_TssTracks):
    """Enformer's ``head`` tracks at the TSS. ``config``: ``enformer_pytorch.EnformerConfig`` fields (the
    published model: the defaults, 196,608-nt input, 896 bins of 128 nt); ``use_tf_gamma``: the official
    weights' TensorFlow positional gammas (True for enformer-official-rough, as its ``from_pretrained`` sets)."""

    example = None  # a published genome-scale model: imported (models import), never built small
    bin_size = 128

    def __init__(self, seq_len: int, n_targets: int = 1, config: dict[str, Any] | None = None, head: str = "human",
                 tracks: Sequence[int] = (0,), tss_bins: int = 3, aggregate: str = "mean",
                 use_tf_gamma: bool = False, tss_index: int | None = None, embedding_head: bool = False):
        super().__init__()
        ep = _package("enformer_pytorch")
        self.net = ep.Enformer(ep.EnformerConfig(**(config or {}), use_tf_gamma=use_tf_gamma))
        for module in self.net.modules():  # as enformer_pytorch.from_pretrained does for the official weights
            if hasattr(module, "use_tf_gamma"):
                module.use_tf_gamma = use_tf_gamma
        self.head = head
        self.bin_size = 2 ** int(getattr(self.net.config, "num_downsamples", 7))  # 128 for the published model
        self._setup(seq_len, self.net.target_length, tracks, tss_bins, aggregate, tss_index)
        self._with_head(n_targets, tracks, embedding_head, self.net.dim * 2, ("net._heads",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding_head is not None:
            return self.embedding_head(self.pool_bins(self.net(x.transpose(1, 2), return_only_embeddings=True)))
        return self.select(self.net(x.transpose(1, 2), head=self.head))


@register("borzoi")
class BorzoiTss(_TssTracks):
    """Borzoi's human tracks at the TSS. ``config``: ``borzoi_pytorch`` ``BorzoiConfig`` fields (the published
    model: 524,288-nt input, the central 6,144 bins of 32 nt)."""

    example = None  # a published genome-scale model: imported (models import), never built small
    bin_size = 32

    def __init__(self, seq_len: int, n_targets: int = 1, config: dict[str, Any] | None = None,
                 tracks: Sequence[int] = (0,), tss_bins: int = 3, aggregate: str = "mean",
                 tss_index: int | None = None, embedding_head: bool = False):
        super().__init__()
        bp = _package("borzoi_pytorch")
        cfg = bp.config_borzoi.BorzoiConfig(**(config or {}))
        self.net = bp.Borzoi(cfg)
        n_bins = cfg.bins_to_return if cfg.return_center_bins_only else 16384 - 32
        self._setup(seq_len, n_bins, tracks, tss_bins, aggregate, tss_index)
        heads = tuple(f"net.{h}" for h in ("human_head", "mouse_head") if getattr(self.net, h, None) is not None)
        self._with_head(n_targets, tracks, embedding_head, 1920, heads)  # the joined convolutions' width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding_head is not None:  # the trunk up to the joined convolutions, then the new head
            emb = self.net.final_joined_convs(self.net.get_embs_after_crop(x))
            return self.embedding_head(self.pool_bins(emb.transpose(1, 2)))
        return self.select(self.net(x).transpose(1, 2))
