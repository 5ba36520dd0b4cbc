"""Segment embeddings from pretrained DNA language models, loaded only from a local folder.

Supported families (detected from the folder, or named with ``kind``):

* ``dnabert`` (Ji et al. 2021): BERT over overlapping k-mers; input is the space-separated k-mers.
* ``dnabert2`` (Zhou et al. 2024): BPE tokenizer; input is the raw sequence (needs ``trust_remote_code``
  for its custom model code, which must already be in the folder).
* ``nt`` (Nucleotide Transformer, Dalla-Torre et al. 2024): ESM model, non-overlapping 6-mer tokenizer;
  input is the raw sequence.

A long sequence is cut into consecutive segments that fit the model's token limit, each segment is
encoded, one layer's hidden states are pooled (mean over real tokens, or the CLS token), giving
``(N, n_segments, D)``: the input of TExCNN-style models. For BPE and 6-mer tokenisers the segment
length is an estimate (``segment_bp``): segments whose tokens would exceed ``max_tokens`` are counted
(``last_truncated``) and logged as a warning, never cut silently. Nothing is ever downloaded
(``local_files_only=True``); results can be cached on disk keyed by model, options and sequences.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from seq2expr.atomic import atomic_path
from seq2expr.data.cache import seal, verified

log = logging.getLogger(__name__)
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
        self.last_truncated = 0  # segments cut to max_tokens by the last embed() call

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> DNALanguageModel:
        self.model.to(device)
        return self

    def max_tokens(self, options: LMOptions) -> int:
        """``options.max_tokens`` capped by the model's own input limit (tokenizer or position table)."""
        limit = getattr(self.tokenizer, "model_max_length", None)
        if not limit or limit > 100_000:  # transformers' "no limit" sentinel
            limit = getattr(self.config, "max_position_embeddings", None) or options.max_tokens
        return int(min(options.max_tokens, limit))

    def segment_bp(self, options: LMOptions) -> int:
        """Bases per segment: the option, or the most whose tokens fit in ``max_tokens``."""
        if options.segment_bp:
            return int(options.segment_bp)
        room = self.max_tokens(options) - 2  # CLS/SEP (or CLS/EOS)
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
        truncated, limit = 0, self.max_tokens(options)
        for b in range(0, len(items), options.batch_size):
            chunk = items[b : b + options.batch_size]
            texts = [self._text(s) for _, _, s in chunk]
            if self.kind != "dnabert":  # BPE / 6-mer: tokens per base vary, so check what truncation would cut
                lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]]
                truncated += sum(n > limit for n in lengths)
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=limit,
                                 return_tensors="pt", return_special_tokens_mask=True)
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
        if truncated:
            log.warning("%s: %d of %d segments of %d bp had more than max_tokens=%d tokens and were cut; "
                        "set a smaller segment_bp", self.path, truncated, len(items), seg_bp, limit)
        self.last_truncated = truncated
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

    The cache file is ``<sha256>.npy`` over (model fingerprint, options, sequences), written atomically with a
    checksum sidecar and memory-mapped on reuse, so a second call with the same inputs does not run the model
    (and a damaged cache file is recomputed, not read).
    """
    model = lm if isinstance(lm, DNALanguageModel) else DNALanguageModel(lm, kind, trust_remote_code=trust_remote_code)
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(json.dumps([model.fingerprint(), asdict(options) | {"batch_size": None},
                                         sequences_hash(sequences), len(sequences)]).encode()).hexdigest()
        path = Path(cache_dir) / f"lm-{key}.npy"
        if path.is_file():
            cached = verified(path, len(sequences), dtype=np.float32)  # truncated or altered: computed again
            if cached is not None:
                return cached
    emb = model.embed(sequences, options)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, emb)
        seal(path)
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


def make_tiny_lm(path: str | Path, kind: Literal["dnabert", "dnabert2", "nt"], hidden: int = 16,
                 max_tokens: int = 64, seed: int = 0) -> Path:
    """Save a tiny random model of one family to ``path`` (offline tests of each tokenisation).

    ``dnabert``: :func:`make_tiny_bert` (3-mers). ``dnabert2``: a BERT with a byte-pair vocabulary learnt by
    ``tokenizers`` on random DNA. ``nt``: an ESM model with the Nucleotide Transformer vocabulary (every 6-mer
    plus single bases, greedy 6-mer split).
    """
    if kind == "dnabert":
        return make_tiny_bert(path, hidden=hidden, max_tokens=max_tokens, seed=seed)
    from seq2expr.data.sequences import decode
    from seq2expr.embeddings.kmer import all_kmers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if kind == "nt":
        from transformers import EsmConfig, EsmModel, EsmTokenizer

        words = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"] + all_kmers(6) + list("ACGTN")
        (path / "vocab.txt").write_text("\n".join(words) + "\n")
        EsmTokenizer(str(path / "vocab.txt"), model_max_length=max_tokens).save_pretrained(str(path))
        cfg = EsmConfig(vocab_size=len(words), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=max_tokens + 2, pad_token_id=1,
                        mask_token_id=2, position_embedding_type="absolute")
        EsmModel(cfg).eval().save_pretrained(str(path))
        return path
    from tokenizers import Tokenizer, models, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.train_from_iterator(decode(np.random.default_rng(seed).integers(0, 4, (50, 500)).astype(np.uint8)),
                            trainers.BpeTrainer(vocab_size=200, special_tokens=_SPECIAL, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(t, tok.token_to_id(t)) for t in ("[CLS]", "[SEP]")])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_tokens)
    fast.save_pretrained(str(path))
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=2 * hidden, max_position_embeddings=max_tokens, pad_token_id=0)
    BertModel(cfg).eval().save_pretrained(str(path))
    return path
