"""k-mer word2vec embeddings (DeepLncLoc, Zeng et al. 2022, Brief Bioinform).

A genome (or any set of sequences) is read as "sentences" of overlapping k-mers and a gensim Word2Vec
model learns one vector per k-mer from their co-occurrence. The vectors are stored as a dense table
indexed by the base-4 k-mer id (A=0 C=1 G=2 T=3, first base most significant), plus one extra row
(all zeros) for windows containing ``N``, so a batch of uint8 codes maps to vectors by a single gather.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seq2expr.atomic import atomic_path
from seq2expr.data.errors import DataError
from seq2expr.data.sequences import reverse_complement
from seq2expr.user_cache import cache_folder

_RUN = re.compile(r"[ACGT]+")


def kmer_ids(codes: np.ndarray | torch.Tensor, k: int) -> np.ndarray | torch.Tensor:
    """``(B, L)`` uint8 codes -> ``(B, L-k+1)`` int64 base-4 k-mer ids; windows with N get ``4**k``.

    Works on numpy arrays and torch tensors (returns the same kind), vectorised over batch and length.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    length = codes.shape[-1]
    n = length - k + 1
    if n <= 0:
        raise ValueError(f"sequence length {length} is shorter than k={k}")
    if isinstance(codes, torch.Tensor):
        c = codes.long()
        ids = torch.zeros(c.shape[:-1] + (n,), dtype=torch.long, device=c.device)
        bad = torch.zeros(ids.shape, dtype=torch.bool, device=c.device)
        for j in range(k):
            w = c[..., j : j + n]
            ids = ids * 4 + w.clamp(max=3)
            bad |= w > 3
        return ids.masked_fill(bad, 4**k)
    c = np.asarray(codes).astype(np.int64)
    ids = np.zeros(c.shape[:-1] + (n,), dtype=np.int64)
    bad = np.zeros(ids.shape, dtype=bool)
    for j in range(k):
        w = c[..., j : j + n]
        ids = ids * 4 + np.minimum(w, 3)
        bad |= w > 3
    ids[bad] = 4**k
    return ids


def kmer_string_to_id(kmer: str) -> int:
    """Base-4 id of an ACGT k-mer string (the row of the embedding table)."""
    out = 0
    for ch in kmer:
        out = out * 4 + "ACGT".index(ch)
    return out


def all_kmers(k: int) -> list[str]:
    """Every ACGT k-mer, ordered by id."""
    letters = np.array(list("ACGT"))
    grid = np.indices((4,) * k).reshape(k, -1).T
    return ["".join(letters[row]) for row in grid]


@dataclass
class KmerEmbedding:
    """A ``(4**k + 1, D)`` float32 table: row ``kmer_ids(...)`` is that k-mer's vector, the last row is N."""

    table: np.ndarray
    k: int
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.table = np.ascontiguousarray(self.table, dtype=np.float32)
        if self.table.ndim != 2 or self.table.shape[0] != 4**self.k + 1:
            raise ValueError(f"table shape {self.table.shape} does not fit k={self.k} (needs {4**self.k + 1} rows)")

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def vector(self, kmer: str) -> np.ndarray:
        return self.table[kmer_string_to_id(kmer.upper())]

    def embed(self, codes: np.ndarray) -> np.ndarray:
        """``(B, L)`` codes -> ``(B, L-k+1, D)`` vectors."""
        return self.table[kmer_ids(codes, self.k)]

    def save(self, path: str | Path) -> Path:
        """Write ``.npz`` (by suffix) or safetensors (otherwise) atomically; never pickle."""
        path = Path(path)
        meta = {**self.meta, "k": str(self.k), "format": "seq2expr-kmer-embedding"}
        with atomic_path(path) as tmp:
            if path.suffix == ".npz":
                with open(tmp, "wb") as fh:
                    np.savez(fh, table=self.table, k=np.int64(self.k), meta_keys=np.array(list(meta), dtype=str),
                             meta_values=np.array(list(meta.values()), dtype=str))
            else:
                from safetensors.numpy import save_file

                save_file({"table": self.table}, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> KmerEmbedding:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: k-mer embedding file not found")
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                meta = dict(zip(z["meta_keys"].tolist(), z["meta_values"].tolist(), strict=True))
                return cls(z["table"], int(z["k"]), meta)
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            meta = dict(fh.metadata() or {})
            table = fh.get_tensor("table")
        if "k" not in meta:
            raise DataError("no 'k' in the safetensors metadata; not a k-mer embedding", source=str(path))
        return cls(table, int(meta["k"]), meta)


def read_fasta_sequences(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield ``(name, sequence)`` from a plain or gzip FASTA (upper-cased), streaming record by record."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    name, parts = None, []
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith(">"):
                if name is not None:
                    yield name, "".join(parts).upper()
                words = line[1:].split()
                name, parts = (words[0] if words else ""), []
            elif name is None:
                if line.strip():
                    raise DataError("sequence line before the first '>' header", source=str(path), record=1)
            else:
                parts.append(line.strip())
    if name is None:
        raise DataError("no FASTA records", source=str(path))
    yield name, "".join(parts).upper()


class KmerSentences:
    """Restartable iterable of k-mer "sentences": each ACGT run, cut into chunks, as overlapping k-mers.

    Runs are split at any non-ACGT base so no k-mer spans an ``N``; chunks stay under gensim's
    10,000-token sentence limit. ``both_strands`` also emits each chunk's reverse complement.
    """

    def __init__(self, source: Sequence[str] | str | Path, k: int, chunk: int = 10_000, stride: int = 1,
                 both_strands: bool = False):
        self.source, self.k, self.chunk, self.stride, self.both = source, k, chunk, stride, both_strands

    def _sequences(self) -> Iterable[str]:
        if isinstance(self.source, str | Path):
            return (s for _, s in read_fasta_sequences(self.source))
        return (s.upper() for s in self.source)

    def __iter__(self) -> Iterator[list[str]]:
        k, step = self.k, self.chunk
        for seq in self._sequences():
            for m in _RUN.finditer(seq):
                run = m.group()
                for start in range(0, len(run) - k + 1, step):
                    piece = run[start : start + step + k - 1]
                    views = [piece, reverse_complement(piece)] if self.both else [piece]
                    for p in views:
                        words = [p[i : i + k] for i in range(0, len(p) - k + 1, self.stride)]
                        if words:
                            yield words


def _stable_hash(text: str) -> int:
    """Process-independent hash for gensim's vector seeding (builtin ``hash`` varies with PYTHONHASHSEED)."""
    return zlib.crc32(text.encode())


def train_kmer_word2vec(source: Sequence[str] | str | Path, k: int = 6, vector_size: int = 64, window: int = 5,
                        epochs: int = 5, seed: int = 0, workers: int = 1, min_count: int = 1, sg: int = 0,
                        negative: int = 5, chunk: int = 10_000, stride: int = 1,
                        both_strands: bool = False) -> KmerEmbedding:
    """Train word2vec on overlapping k-mers of ``source`` (sequences, or a FASTA path such as a genome).

    With ``workers=1`` and a fixed ``seed`` the vectors are identical from run to run. K-mers never seen
    (or below ``min_count``) keep a zero row, as does the N row.
    """
    from gensim.models import Word2Vec

    sentences = KmerSentences(source, k, chunk=chunk, stride=stride, both_strands=both_strands)
    model = Word2Vec(sentences=sentences, vector_size=vector_size, window=window, min_count=min_count,
                     workers=workers, seed=seed, epochs=epochs, sg=sg, negative=negative, hashfxn=_stable_hash)
    if len(model.wv) == 0:
        raise DataError(f"no k-mers of length {k} found in the input", source=str(source)[:200])
    table = np.zeros((4**k + 1, vector_size), dtype=np.float32)
    keys = list(model.wv.index_to_key)
    table[[kmer_string_to_id(w) for w in keys]] = model.wv.vectors[[model.wv.key_to_index[w] for w in keys]]
    meta = {"vector_size": str(vector_size), "window": str(window), "epochs": str(epochs), "seed": str(seed),
            "sg": str(sg), "stride": str(stride), "both_strands": str(both_strands),
            "source": str(source) if isinstance(source, str | Path) else f"{len(source)} sequences"}
    return KmerEmbedding(table, k, meta)


FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz")


def is_fasta_path(path: str | Path) -> bool:
    """True when ``path`` names a (plain or gzip) FASTA by its suffix."""
    return str(path).lower().endswith(FASTA_SUFFIXES)


def genome_kmer_embedding(genome: str | Path, k: int = 6, vector_size: int = 32, *, window: int = 5, epochs: int = 1,
                          seed: int = 0, exclude: Sequence[str] = (), cache_dir: str | Path | None = None,
                          **kw) -> tuple[KmerEmbedding, Path]:
    """Word2vec table of ``genome`` (a FASTA), trained once and cached on disk; returns it and its file.

    The cache file is keyed by the genome's content hash, ``exclude`` (chromosomes left out, e.g. the
    held-out test chromosomes so they are never seen even unlabelled) and every training option, so
    ``seq2expr train`` with ``model.params.embedding: genome.fa`` trains the table on its first run only.
    """
    import hashlib
    import json

    from seq2expr.data.cache import file_hash

    genome = Path(genome)
    if not genome.is_file():
        raise FileNotFoundError(f"{genome}: genome FASTA not found")
    opts = {"k": int(k), "vector_size": int(vector_size), "window": int(window), "epochs": int(epochs),
            "seed": int(seed), "exclude": sorted(map(str, exclude)), **kw}
    key = hashlib.sha256(json.dumps([file_hash(genome), opts], sort_keys=True).encode()).hexdigest()[:24]
    path = Path(cache_dir or cache_folder("kmer")) / f"kmer{k}-d{vector_size}-{key}.safetensors"
    if path.is_file():
        return KmerEmbedding.load(path), path
    skip = set(opts["exclude"])
    seqs = [s for name, s in read_fasta_sequences(genome) if name not in skip]
    if not seqs:
        raise DataError(f"every sequence was excluded ({sorted(skip)})", source=str(genome))
    emb = train_kmer_word2vec(seqs, k=k, vector_size=vector_size, window=window, epochs=epochs, seed=seed, **kw)
    emb.meta.update(source=str(genome), exclude=",".join(opts["exclude"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    emb.save(path)
    return emb, path
