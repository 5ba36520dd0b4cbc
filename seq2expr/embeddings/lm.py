"""Segment embeddings from pretrained DNA language models, loaded only from a local folder.

Supported families (detected from the folder, or named with ``kind``):

* ``dnabert`` (Ji et al. 2021): BERT over overlapping k-mers; input is the space-separated k-mers.
* ``dnabert2`` (Zhou et al. 2024): BPE tokenizer; input is the raw sequence (needs ``trust_remote_code``
  for its custom model code, which must already be in the folder).
* ``nt`` (Nucleotide Transformer, Dalla-Torre et al. 2024): ESM model, non-overlapping 6-mer tokenizer;
  input is the raw sequence.

A long sequence is cut into consecutive segments that fit the model's token limit, each segment is
encoded, one layer's hidden states are pooled (mean over real tokens, or the CLS token), giving
``(N, n_segments, D)``: the input of TExCNN-style models. Nothing is ever downloaded
(``local_files_only=True``); results can be cached on disk keyed by model, options and sequences.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from seq2expr.atomic import atomic_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

Kind = Literal["auto", "dnabert", "dnabert2", "nt"]
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_TOKENS_PER_BP = {"nt": 1 / 6, "dnabert2": 1 / 4}  # BPE averages ~4.5 bp per token; 4 is conservative


@dataclass(frozen=True)
class LMOptions:
    """How sequences become segment embeddings."""

    pooling: Literal["mean", "cls"] = "mean"
    layer: int = -1  # index into hidden_states (0 = token embeddings, -1 = last layer)
    max_tokens: int = 512  # model input limit including special tokens
    segment_bp: int | None = None  # bases per segment (None: the most that fits in max_tokens)
    batch_size: int = 16


def _kmer_vocab_k(vocab: dict[str, int]) -> int | None:
    """k when the vocabulary is (almost) every ACGT k-mer of one length, as in DNABERT; else None."""
    dna = [t for t in vocab if t and set(t) <= set("ACGTN")]
    lengths = {len(t) for t in dna}
    if len(lengths) == 1:
        k = lengths.pop()
        if k >= 2 and len(dna) >= 0.9 * 4**k:
            return k
    return None


class DNALanguageModel:
    """A frozen local DNA language model plus its tokenizer, in eval mode."""

    def __init__(self, path: str | Path, kind: Kind = "auto", *, trust_remote_code: bool = False,
                 device: str | torch.device = "cpu"):
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path}: not a local model folder (models are never downloaded; "
                                    "save one with save_pretrained and give its path)")
        kw = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        self.config = AutoConfig.from_pretrained(str(self.path), **kw)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), **kw)
        except (OSError, ValueError, TypeError, KeyError):
            vocab_file = self.path / "vocab.txt"  # original DNABERT folders name a tokenizer class transformers lacks
            if not vocab_file.is_file():
                raise
            from transformers import BertTokenizer

            words = vocab_file.read_text().split()
            self.tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)}, do_lower_case=False)
        self.model = AutoModel.from_pretrained(str(self.path), **kw).eval().to(device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.k = _kmer_vocab_k(self.tokenizer.get_vocab())
        if kind == "auto":
            if getattr(self.config, "model_type", "") == "esm":
                kind = "nt"
            elif self.k is not None:
                kind = "dnabert"
            else:
                kind = "dnabert2"
        if kind == "dnabert" and self.k is None:
            raise ValueError(f"{self.path}: kind 'dnabert' needs a k-mer vocabulary, found none")
        self.kind: str = kind
        self.hidden_size = int(self.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> DNALanguageModel:
        self.model.to(device)
        return self

    def segment_bp(self, options: LMOptions) -> int:
        """Bases per segment: the option, or the most whose tokens fit in ``max_tokens``."""
        if options.segment_bp:
            return int(options.segment_bp)
        room = options.max_tokens - 2  # CLS/SEP (or CLS/EOS)
        if self.kind == "dnabert":
            return room + self.k - 1
        return int(room / _TOKENS_PER_BP[self.kind])

    def _text(self, seg: str) -> str:
        if self.kind == "dnabert":
            return " ".join(seg[i : i + self.k] for i in range(len(seg) - self.k + 1))
        return seg

    @torch.no_grad()
    def embed(self, sequences: Sequence[str], options: LMOptions = LMOptions()) -> np.ndarray:
        """``N`` sequences -> ``(N, n_segments, D)`` float32 (segments past a short sequence's end are 0)."""
        seg_bp = self.segment_bp(options)
        n_seg = max(1, max(math.ceil(len(s) / seg_bp) for s in sequences)) if len(sequences) else 1
        out = np.zeros((len(sequences), n_seg, self.hidden_size), dtype=np.float32)
        items = [(i, j, s[j * seg_bp : (j + 1) * seg_bp].upper()) for i, s in enumerate(sequences)
                 for j in range(math.ceil(len(s) / seg_bp))]
        items = [it for it in items if len(it[2]) >= (self.k or 1)]
        for b in range(0, len(items), options.batch_size):
            chunk = items[b : b + options.batch_size]
            enc = self.tokenizer([self._text(s) for _, _, s in chunk], padding=True, truncation=True,
                                 max_length=options.max_tokens, return_tensors="pt",
                                 return_special_tokens_mask=True)
            special = enc.pop("special_tokens_mask").bool()
            enc = {k: v.to(self.device) for k, v in enc.items() if k in _MODEL_INPUTS}
            hidden = self._hidden(enc, options.layer)
            if options.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = (enc["attention_mask"].bool() & ~special.to(hidden.device)).unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = pooled.float().cpu().numpy()
            for (i, j, _), vec in zip(chunk, pooled, strict=True):
                out[i, j] = vec
        return out

    def _hidden(self, enc: dict[str, torch.Tensor], layer: int) -> torch.Tensor:
        """Hidden states of ``layer``; models whose custom code lacks ``output_hidden_states`` give the last."""
        try:
            res = self.model(**enc, output_hidden_states=True)
        except TypeError:  # e.g. DNABERT-2's remote code
            res = self.model(**enc)
        states = getattr(res, "hidden_states", None)
        if states:
            return states[layer]
        if layer not in (-1, None):
            raise ValueError(f"{self.path}: this model does not return per-layer hidden states; use layer=-1")
        return res[0]

    def fingerprint(self) -> str:
        """Hash of the model folder's identity (path, config and file sizes/mtimes) for cache keys."""
        files = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in self.path.iterdir() if p.is_file())
        blob = json.dumps([str(self.path), self.kind, self.config.to_dict(), files], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def sequences_hash(sequences: Sequence[str]) -> str:
    h = hashlib.sha256()
    for s in sequences:
        h.update(s.upper().encode())
        h.update(b"\n")
    return h.hexdigest()


def embed_sequences(lm: DNALanguageModel | str | Path, sequences: Sequence[str], options: LMOptions = LMOptions(),
                    *, cache_dir: str | Path | None = None, kind: Kind = "auto",
                    trust_remote_code: bool = False) -> np.ndarray:
    """Segment embeddings ``(N, n_segments, D)``, read from / written to ``cache_dir`` when given.

    The cache file is ``<sha256>.npy`` over (model fingerprint, options, sequences), written atomically
    and memory-mapped on reuse, so a second call with the same inputs does not run the model.
    """
    model = lm if isinstance(lm, DNALanguageModel) else DNALanguageModel(lm, kind, trust_remote_code=trust_remote_code)
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(json.dumps([model.fingerprint(), asdict(options) | {"batch_size": None},
                                         sequences_hash(sequences), len(sequences)]).encode()).hexdigest()
        path = Path(cache_dir) / f"lm-{key}.npy"
        if path.is_file():
            return np.load(path, mmap_mode="r")
    emb = model.embed(sequences, options)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, emb)
    return emb


def make_tiny_bert(path: str | Path, k: int = 3, hidden: int = 32, layers: int = 2, heads: int = 2,
                   max_tokens: int = 128, seed: int = 0) -> Path:
    """Save a tiny randomly initialised DNABERT-style model (k-mer vocabulary) to ``path``, for offline tests."""
    from transformers import BertConfig, BertModel, BertTokenizer

    from seq2expr.embeddings.kmer import all_kmers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    words = _SPECIAL + all_kmers(k)
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(words)}, do_lower_case=False,
                        model_max_length=max_tokens)
    tok.save_pretrained(str(path))
    cfg = BertConfig(vocab_size=len(words), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=2 * hidden, max_position_embeddings=max_tokens, pad_token_id=0)
    torch.manual_seed(seed)
    BertModel(cfg).eval().save_pretrained(str(path))
    return path
