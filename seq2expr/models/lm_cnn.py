"""Model ``lm_cnn``: a CNN over frozen DNA embeddings (DeepLncLoc k-mer word2vec, or TExCNN LM segments)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seq2expr.models.layers import GlobalPoolHead, conv_stack
from seq2expr.models.registry import register

_LM_CACHE: dict[tuple, object] = {}


def codes_from_onehot(x: torch.Tensor) -> torch.Tensor:
    """``(B, 4, L)`` one-hot (any positive scale) -> ``(B, L)`` long codes; all-equal columns (N) become 4."""
    top, arg = x.max(1)
    is_n = top <= x.min(1).values
    return arg.masked_fill(is_n, 4)


def _load_lm(path: str, kind: str, trust_remote_code: bool):
    """One loaded language model per (folder, kind): ensembles and reloads share it."""
    from seq2expr.embeddings.lm import DNALanguageModel

    key = (str(Path(path).expanduser().resolve()), kind, trust_remote_code)
    if key not in _LM_CACHE:
        _LM_CACHE[key] = DNALanguageModel(path, kind, trust_remote_code=trust_remote_code)
    return _LM_CACHE[key]


@register("lm_cnn")
class LMCNN(nn.Module):
    """Convolutions over frozen pretrained DNA embeddings.

    ``mode="kmer"`` follows DeepLncLoc (Zeng et al. 2022, *Briefings in Bioinformatics* 23:bbac178): each
    overlapping k-mer is replaced by its word2vec vector (a frozen table from
    :func:`seq2expr.embeddings.train_kmer_word2vec`), the vectors are averaged over consecutive
    subsequences of ``segment_pool`` k-mers (1: no averaging), then a CNN reads the map. ``embedding`` is
    a saved table (``.safetensors``/``.npz``) or a genome FASTA: then a ``k``-mer, ``embed_dim``-wide table is
    trained on it with gensim (``w2v_window``, ``w2v_epochs``, chromosomes ``w2v_exclude`` left out) and
    cached on disk (:func:`seq2expr.embeddings.kmer.genome_kmer_embedding`, in ``cache_dir`` when given),
    so ``seq2expr train`` reaches it from the config alone. The table is a buffer: the saved weights carry
    it and a saved model needs no external file (rebuild with ``k`` and ``embed_dim`` when the file is
    gone). The lookup is gated by the product of the one-hot values under each k-mer (1 for one-hot input),
    so input gradients and attributions are non-zero.

    ``mode="lm"`` follows TExCNN (Ji et al. 2023, *Briefings in Bioinformatics*): a frozen DNA language model
    (DNABERT / DNABERT-2 / Nucleotide Transformer, local folder ``lm_path``, never downloaded) embeds
    consecutive segments, pooled per segment, and a CNN reads the ``(D, n_segments)`` map. The LM is kept
    outside the module tree: its weights are not in ``state_dict`` (the saved config keeps ``lm_path``).
    Segment embeddings are cached per sequence in memory (``embedding_cache``; on disk per batch with ``cache_dir``), so
    epochs after the first skip the transformer. LM-mode outputs have no gradient w.r.t. the input.

    Changed from the papers: one shared conv stack (``convs``, ConvBlocks with BatchNorm) and a global
    avg+max pooling head instead of flatten, so any length works; raw outputs (no sigmoid).
    """

    head_modules = ("head",)  # the output head (fine-tuning replaces or keeps it; the rest is the trunk)
    example = {"seq_len": 110, "n_targets": 2,  # small: docs examples, smoke tests
               "params": {"mode": "kmer", "k": 3, "embed_dim": 8, "channels": [16], "kernel_sizes": 5,
                          "pool_sizes": 2, "hidden": [16]}}

    def __init__(self, seq_len: int, n_targets: int = 1, mode: Literal["kmer", "lm"] = "kmer",
                 embedding: str | None = None, k: int | None = None, embed_dim: int | None = None,
                 lm_path: str | None = None, lm_kind: str = "auto", pooling: str = "mean", layer: int = -1,
                 max_tokens: int = 512, segment_bp: int | None = None, trust_remote_code: bool = False,
                 lm_batch_size: int = 16, cache_dir: str | None = None, segment_pool: int = 1,
                 w2v_window: int = 5, w2v_epochs: int = 1, w2v_exclude: Sequence[str] = (),
                 channels: Sequence[int] | None = None, kernel_sizes: int | Sequence[int] | None = None,
                 pool_sizes: int | Sequence[int] | None = None, dropout: float | Sequence[float] = 0.2,
                 hidden: Sequence[int] = (64,), head_dropout: float = 0.2, global_pool: str = "avgmax"):
        super().__init__()
        if mode not in ("kmer", "lm"):
            raise ValueError(f"lm_cnn mode must be 'kmer' or 'lm', not {mode!r}")
        self.mode, self.n_targets, self.seq_len = mode, n_targets, seq_len
        if mode == "kmer":
            table = self._kmer_table(embedding, k, embed_dim,
                                     dict(window=w2v_window, epochs=w2v_epochs, exclude=tuple(w2v_exclude),
                                          cache_dir=cache_dir))
            self.k = int(round(math.log(table.shape[0] - 1, 4)))
            if seq_len < self.k:
                raise ValueError(f"seq_len={seq_len} is shorter than k={self.k}")
            self.register_buffer("table", table)
            if segment_pool < 1 or seq_len - self.k + 1 < segment_pool:
                raise ValueError(f"segment_pool={segment_pool} must be between 1 and seq_len - k + 1")
            self.segment_pool = int(segment_pool)
            dim, length = table.shape[1], (seq_len - self.k + 1) // self.segment_pool
            defaults = ((64, 64), 9, 4)  # DeepLncLoc-sized: two wide convolutions
        else:
            if not lm_path:
                raise ValueError("lm_cnn mode 'lm' needs lm_path (a local model folder)")
            from seq2expr.embeddings.lm import LMOptions

            lm = _load_lm(lm_path, lm_kind, trust_remote_code)
            object.__setattr__(self, "lm", lm)  # not a submodule: stays out of state_dict and parameters()
            self.lm_options = LMOptions(pooling=pooling, layer=layer, max_tokens=max_tokens, segment_bp=segment_bp,
                                        batch_size=lm_batch_size)
            self.cache_dir = cache_dir
            self.embedding_cache: dict[bytes, torch.Tensor] = {}  # sha1 of the codes -> (n_positions, D)
            dim, length = lm.hidden_size, math.ceil(seq_len / lm.segment_bp(self.lm_options))
            defaults = ((64,), 3, 1)  # TExCNN-sized: few segments, no pooling
        channels = tuple(channels or defaults[0])
        ks = defaults[1] if kernel_sizes is None else kernel_sizes
        pools = defaults[2] if pool_sizes is None else pool_sizes
        self.embed_dim, self.n_positions = int(dim), int(length)
        self.convs = conv_stack(self.embed_dim, channels, ks, pools, dropout)
        self.head = GlobalPoolHead(channels[-1], n_targets, tuple(hidden), global_pool, head_dropout)

    @staticmethod
    def _kmer_table(embedding: str | None, k: int | None, embed_dim: int | None, w2v: dict) -> torch.Tensor:
        from seq2expr.embeddings.kmer import genome_kmer_embedding, is_fasta_path

        if embedding and is_fasta_path(embedding) and Path(embedding).is_file():
            emb, _ = genome_kmer_embedding(embedding, int(k or 6), int(embed_dim or 32), **w2v)
            return torch.from_numpy(emb.table.copy())
        if embedding and Path(embedding).is_file():
            from seq2expr.embeddings.kmer import KmerEmbedding

            emb = KmerEmbedding.load(embedding)
            for name, want, got in (("k", k, emb.k), ("embed_dim", embed_dim, emb.dim)):
                if want is not None and int(want) != got:
                    raise ValueError(f"{embedding}: {name}={got} but the model params say {want}")
            return torch.from_numpy(emb.table.copy())
        if k is None or embed_dim is None:
            where = f"file {embedding!r} not found" if embedding else "no embedding file given"
            raise ValueError(f"lm_cnn kmer mode: {where}; pass k and embed_dim to rebuild from saved weights")
        return torch.zeros(4 ** int(k) + 1, int(embed_dim))  # filled by load_state_dict

    @property
    def gradcam_layer(self) -> nn.Module:
        return self.convs[-1].act

    def kmer_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 4, L)`` -> ``(B, D, L-k+1)`` gated k-mer vectors."""
        from seq2expr.embeddings.kmer import kmer_ids

        codes = codes_from_onehot(x)
        ids = kmer_ids(codes, self.k)
        base = x.gather(1, codes.clamp(max=3).unsqueeze(1)).squeeze(1)  # value of the observed base
        base = base.masked_fill(codes > 3, 1.0)
        n = ids.shape[-1]
        gate = base[:, :n]
        for j in range(1, self.k):
            gate = gate * base[:, j : j + n]
        feats = (F.embedding(ids, self.table) * gate.unsqueeze(-1)).transpose(1, 2)
        if self.segment_pool > 1:  # DeepLncLoc: mean k-mer vector per consecutive subsequence
            feats = F.avg_pool1d(feats, self.segment_pool)
        return feats

    @torch.no_grad()
    def segment_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 4, L)`` -> ``(B, D, n_segments)`` LM segment embeddings (cached per sequence)."""
        from seq2expr.data.sequences import decode
        from seq2expr.embeddings.lm import embed_sequences

        rows = codes_from_onehot(x).to(torch.uint8).cpu().numpy()
        keys = [hashlib.sha1(r.tobytes()).digest() for r in rows]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in self.embedding_cache}.values())
        if missing:
            if self.lm.device != x.device:
                self.lm.to(x.device)
            emb = embed_sequences(self.lm, decode(rows[missing]), self.lm_options, cache_dir=self.cache_dir)
            for i, e in zip(missing, np.asarray(emb), strict=True):
                self.embedding_cache[keys[i]] = torch.from_numpy(np.array(e[: self.n_positions]))
        out = torch.stack([self.embedding_cache[k] for k in keys]).to(x.device)
        return out.transpose(1, 2)

    def precompute(self, codes: np.ndarray, batch_size: int = 1024, rc: bool = True) -> None:
        """Fill the in-memory cache for ``(N, L)`` codes (and their reverse complements, for RC augmentation
        and averaging) before training. Chunks are fixed, so with ``cache_dir`` a later run on the same data
        and options reads every chunk from disk instead of running the language model."""
        from seq2expr.data.sequences import one_hot, reverse_complement_onehot

        if self.mode != "lm":
            return
        for s in range(0, len(codes), batch_size):
            x = one_hot(np.asarray(codes[s : s + batch_size]))
            self.segment_features(x)
            if rc:
                self.segment_features(reverse_complement_onehot(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.kmer_features(x) if self.mode == "kmer" else self.segment_features(x)
        return self.head(self.convs(feats))
