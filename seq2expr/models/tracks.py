"""Models ``enformer`` and ``borzoi``: the published human genome-track models as gene-expression models.

Enformer (Avsec Z et al. 2021, Nat Methods 18:1196; PyTorch port ``enformer-pytorch``, weights
EleutherAI/enformer-official-rough) and Borzoi (Linder J et al. 2025, Nat Genet 57:949; PyTorch port
``borzoi-pytorch``, weights johahi/borzoi-replicate-0..3) predict thousands of tracks (CAGE, DNase, ChIP, RNA) in
bins along a long window. Here each runs the package's own network unchanged and keeps the chosen ``tracks``: a
plain track model ``(B, 4, L) -> (B, bins, len(tracks))``. Which bins are read (those around the TSS, where a
gene window puts it) is the readout's choice (:mod:`seq2expr.inference.positions`), so ``predict`` and
``variants`` gene mode work on it. The packages are the optional extra ``seq2expr[human]``; they are imported
only when such a model is built.
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


class _Tracks(nn.Module):
    """The tracks kept (``tracks``: indices into the published head; ``None``: every one) and, for fine-tuning, a
    new head: with ``embedding_head`` the published tracks are not read, and a new linear head maps the trunk's
    embedding in each bin to ``n_targets`` outputs (gReLU's tutorials fine-tune the same way). The trunk is frozen
    by default (``freeze_trunk_by_default``) and only the head learns. Either way the output is ``(B, bins, T)``;
    the readout's positions choose the bins (``models import`` names the TSS bins as the default and checks them
    against ``n_bins``, the output's length)."""

    n_bins: int
    freeze_trunk_by_default = True
    head_modules: tuple[str, ...] = ()

    @classmethod
    def new_head_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters of the same network with a new head on each bin's embedding."""
        return {**params, "embedding_head": True}

    def _with_head(self, n_targets: int, tracks: Sequence[int] | None, n_tracks: int, embedding_head: bool,
                   embedding_dim: int, track_heads: tuple[str, ...]) -> None:
        self.register_buffer("tracks", None if tracks is None else torch.as_tensor(list(tracks), dtype=torch.long),
                             persistent=False)
        if embedding_head:
            self.embedding_head = nn.Linear(embedding_dim, n_targets)
            self.head_modules = ("embedding_head",)
            return
        n = n_tracks if tracks is None else len(tracks)
        if tracks is not None and not tracks:
            raise ValueError("choose at least one track")
        if n_targets != n:
            raise ValueError(f"n_targets {n_targets} != {n} tracks")
        self.embedding_head = None
        self.head_modules = track_heads

    def select(self, out: torch.Tensor) -> torch.Tensor:
        """``(B, bins, all tracks)`` -> ``(B, bins, len(self.tracks))``."""
        return out if self.tracks is None else out.index_select(2, self.tracks)


@register("enformer")
class Enformer(_Tracks):
    """Enformer's ``head`` tracks in every output bin. ``config``: ``enformer_pytorch.EnformerConfig`` fields (the
    published model: the defaults, 196,608-nt input, 896 bins of 128 nt); ``use_tf_gamma``: the official
    weights' TensorFlow positional gammas (True for enformer-official-rough, as its ``from_pretrained`` sets)."""

    example = None  # a published genome-scale model: imported (models import), never built small

    def __init__(self, seq_len: int, n_targets: int = 1, config: dict[str, Any] | None = None, head: str = "human",
                 tracks: Sequence[int] | None = (0,), use_tf_gamma: bool = False, embedding_head: bool = False):
        super().__init__()
        ep = _package("enformer_pytorch")
        self.net = ep.Enformer(ep.EnformerConfig(**(config or {}), use_tf_gamma=use_tf_gamma))
        for module in self.net.modules():  # as enformer_pytorch.from_pretrained does for the official weights
            if hasattr(module, "use_tf_gamma"):
                module.use_tf_gamma = use_tf_gamma
        self.head = head
        self.n_bins = int(self.net.target_length)  # 896 for the published model
        n_tracks = int(self.net.config.output_heads[head])
        self._with_head(n_targets, tracks, n_tracks, embedding_head, self.net.dim * 2, ("net._heads",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding_head is not None:
            return self.embedding_head(self.net(x.transpose(1, 2), return_only_embeddings=True))
        return self.select(self.net(x.transpose(1, 2), head=self.head))


@register("borzoi")
class Borzoi(_Tracks):
    """Borzoi's human tracks in every output bin. ``config``: ``borzoi_pytorch`` ``BorzoiConfig`` fields (the published
    model: 524,288-nt input, the central 6,144 bins of 32 nt)."""

    example = None  # a published genome-scale model: imported (models import), never built small

    def __init__(self, seq_len: int, n_targets: int = 1, config: dict[str, Any] | None = None,
                 tracks: Sequence[int] | None = (0,), embedding_head: bool = False):
        super().__init__()
        bp = _package("borzoi_pytorch")
        cfg = bp.config_borzoi.BorzoiConfig(**(config or {}))
        self.net = bp.Borzoi(cfg)
        self.n_bins = int(self.net.crop.target_length)  # the network's own crop: 6,144 bins published
        heads = tuple(f"net.{h}" for h in ("human_head", "mouse_head") if getattr(self.net, h, None) is not None)
        n_tracks = int(self.net.human_head.out_channels)
        self._with_head(n_targets, tracks, n_tracks, embedding_head, 1920, heads)  # the joined convolutions' width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding_head is not None:  # the trunk up to the joined convolutions, then the new head
            emb = self.net.final_joined_convs(self.net.get_embs_after_crop(x))
            return self.embedding_head(emb.transpose(1, 2))
        return self.select(self.net(x).transpose(1, 2))
