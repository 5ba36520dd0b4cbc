"""The one place that decides where seq2expr caches things: ``$SEQ2EXPR_CACHE/<kind>``.

``$SEQ2EXPR_CACHE`` when set, else ``~/.cache/seq2expr``; each kind of cached file has its own sub-folder
(:data:`KINDS`), so nothing a cache writes lands beside another kind's files or outside the cache. Every cache
user asks :func:`cache_folder` (tested by ``tests/test_cache_paths.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SEQ2EXPR_CACHE"

# kind -> what it holds (one sub-folder each)
KINDS: dict[str, str] = {
    "encoded": "encoded-sequence memmaps (seq2expr.data.cache)",
    "kmer": "genome word2vec k-mer tables (seq2expr.embeddings.kmer)",
    "genomes": "decompressed genomes and FASTA indexes (seq2expr.data.genome.fasta)",
    "downloads": "registry data-set files (seq2expr.data.registry)",
    "models": "model zoo files and converted checkpoints (seq2expr.zoo.store)",
    "variants": "SNV backgrounds of gene-mode variant scoring, per model, genome and windows "
                "(seq2expr.variants.background)",
    "temporaries": "the registry of running writes' temporaries, swept of killed ones (seq2expr.atomic)",
}


def cache_base() -> Path:
    """``$SEQ2EXPR_CACHE`` when set, else ``~/.cache/seq2expr``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "seq2expr"


def cache_folder(kind: str, *parts: str) -> Path:
    """The cache folder of one kind (``$SEQ2EXPR_CACHE/<kind>/<parts...>``); not created here."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; known: {', '.join(KINDS)}")
    return cache_base().joinpath(kind, *parts)
