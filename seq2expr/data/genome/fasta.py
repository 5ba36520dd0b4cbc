"""Random access to a genome FASTA (plain, bgzip, or plain gzip) and chromosome-name reconciliation.

pyfaidx reads plain and bgzip FASTA in place. A plain ``.gz`` cannot be indexed, so it is decompressed once
into the cache (``$SEQ2EXPR_CACHE/genomes`` or ``~/.cache/seq2expr/genomes``), keyed by the file's path,
size and modification time, and written atomically. Indexes (``.fai``/``.gzi``) go to the cache too unless
one already sits beside the FASTA, so read-only genome folders work.

Annotation, BED and FASTA files often name chromosomes differently (``chrI`` / ``I``, ``chr1`` / ``1`` /
``Chr1``, ``chrM`` / ``MT`` / ``Mito``, ``chr10`` / ``X`` in yeast). :func:`reconcile_chromosomes` maps names
onto the FASTA's and reports what was renamed and what stayed unmatched.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from seq2expr.atomic import atomic_path
from seq2expr.data.errors import DataError
from seq2expr.data.sequences import reverse_complement
from seq2expr.files import reads
from seq2expr.user_cache import cache_folder

_MITO = {"m", "mt", "mito", "mitochondrion", "mitochondria", "mitochondrial", "chrm", "dmel_mitochondrion_genome"}
_PLASTID = {"pt", "cp", "chloroplast", "plastid"}
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
# anything that is not A, C, G, T or N (IUPAC ambiguity codes, other letters) becomes N
_NON_ACGTN = re.compile(r"[^ACGTN]")
_ACGTN = re.compile(r"[ACGTN]*")


def _roman_to_int(s: str) -> int | None:
    if not s or any(ch not in _ROMAN for ch in s):
        return None
    total = 0
    for a, b in zip(s, s[1:] + " ", strict=True):
        v = _ROMAN[a]
        total += -v if b != " " and _ROMAN[b] > v else v
    return total if 0 < total < 100 and _int_to_roman(total) == s else None


def _int_to_roman(n: int) -> str:
    out = ""
    for v, r in ((90, "xc"), (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= v:
            out += r
            n -= v
    return out


def chrom_key(name: str) -> str:
    """Normalised name: case-folded, ``chr``/``chromosome`` prefix removed, organelle aliases unified."""
    k = name.strip().lower()
    k = re.sub(r"^(chromosome|chrom|chr)[_\s-]?", "", k)
    if k in _MITO or name.lower() in _MITO:
        return "<mito>"
    if k in _PLASTID or (k == "c" and name.strip().lower() != "c"):  # ChrC, chrC: plastid
        return "<plastid>"
    return k


def _alt_key(key: str) -> str | None:
    """Roman <-> arabic alternative of a normalised key (``x`` <-> ``10``), tried only after exact keys."""
    if key.isdigit():
        return _int_to_roman(int(key)) if 0 < int(key) < 100 else None
    n = _roman_to_int(key)
    return str(n) if n is not None else None


def reconcile_chromosomes(names: Iterable[str], fasta_names: Iterable[str]) -> tuple[dict[str, str], dict]:
    """Map each name onto a FASTA sequence name.

    Tried in order: the exact name; the normalised name (``chrI`` = ``I``, ``Chr1`` = ``1``, ``chrM`` = ``MT``
    = ``Mito``); the roman/arabic alternative (``chr10`` = ``X``) when that is unambiguous. Returns
    ``(mapping, report)``; the mapping holds matched names only, the report lists ``renamed`` (old -> new) and
    ``unmatched``.
    """
    fasta = list(fasta_names)
    by_key: dict[str, list[str]] = {}
    for f in fasta:
        by_key.setdefault(chrom_key(f), []).append(f)
    fasta_set = set(fasta)
    mapping: dict[str, str] = {}
    renamed: dict[str, str] = {}
    unmatched: list[str] = []
    for name in dict.fromkeys(names):
        if name in fasta_set:
            mapping[name] = name
            continue
        key = chrom_key(name)
        hits = by_key.get(key, [])
        if len(hits) != 1:
            alt = _alt_key(key)
            hits = by_key.get(alt, []) if alt is not None and not hits else hits
        if len(hits) == 1:
            mapping[name] = renamed[name] = hits[0]
        else:
            unmatched.append(name)
    report = {"renamed": renamed, "unmatched": unmatched, "n_names": len(mapping) + len(unmatched),
              "n_renamed": len(renamed)}
    return mapping, report


def _file_tag(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]


def _is_bgzf(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(18)
    # gzip magic, FEXTRA flag, and the "BC" subfield that marks a BGZF block
    return len(head) >= 18 and head[:2] == b"\x1f\x8b" and head[3] & 4 == 4 and head[12:14] == b"BC"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


@reads()
def decompress_to_cache(path: Path, cache: Path | None = None) -> Path:
    """Decompress a plain-gzip FASTA once into the cache (atomically) and return the cached path."""
    cache = cache or cache_folder("genomes")
    name = path.name.removesuffix(".gz")
    out = cache / f"{_file_tag(path)}-{name}"
    if not out.exists():
        with atomic_path(out) as tmp, gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 22)
    return out


def padded_slice(seq, start: int, end: int) -> str:
    """Bases ``[start, end)`` of a sequence (a string, or a pyfaidx record read lazily), N-padded beyond its ends."""
    if end <= start:
        return ""
    lo, hi = max(start, 0), min(end, len(seq))
    if hi <= lo:
        return "N" * (end - start)
    return "N" * (lo - start) + seq[lo:hi] + "N" * (end - hi)


class Genome:
    """A FASTA genome with padded, strand-aware fetches.

    ``fetch(chrom, start, end, strand)`` returns ``(sequence, padded)``: bases off either chromosome end are
    ``N`` and ``padded`` is True, so a window never silently shrinks. Sequences are upper case; letters
    other than ACGTN (IUPAC codes) become ``N`` and are counted in ``n_iupac_masked``.
    """

    @reads()
    def __init__(self, path: str | Path, *, cache: str | Path | None = None):
        import pyfaidx

        self.source = Path(path)
        if not self.source.exists():
            raise DataError("genome FASTA not found", source=str(path))
        cache_dir = Path(cache) if cache else cache_folder("genomes")
        fasta = self.source
        if _is_gzip(fasta) and not _is_bgzf(fasta):
            fasta = decompress_to_cache(fasta, cache_dir)
        kwargs = {}
        if not Path(str(fasta) + ".fai").exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            stem = f"{_file_tag(fasta)}-{fasta.name}"
            kwargs["indexname"] = str(cache_dir / f"{stem}.fai")
            if _is_bgzf(fasta):
                kwargs["gzi_indexname"] = str(cache_dir / f"{stem}.gzi")
        self.path = fasta
        try:
            self._fa = pyfaidx.Fasta(str(fasta), as_raw=True, sequence_always_upper=True, **kwargs)
        except Exception as err:  # pyfaidx raises several types for malformed input
            raise DataError(f"cannot index FASTA ({type(err).__name__}: {err})", source=str(path)) from None
        self.lengths = {k: len(v) for k, v in self._fa.items()}
        self.n_iupac_masked = 0
        self._last: tuple[str, str] | None = None

    @property
    def names(self) -> list[str]:
        return list(self.lengths)

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> tuple[str, bool]:
        """Bases ``[start, end)`` (0-based) of ``chrom``, reverse-complemented on ``-``, N-padded off the ends."""
        if chrom not in self.lengths:
            raise DataError(f"chromosome {chrom!r} is not in the genome", source=str(self.source))
        seq = padded_slice(self._fa[chrom], start, end)
        if seq and not _ACGTN.fullmatch(seq):
            seq, k = _NON_ACGTN.subn("N", seq)
            self.n_iupac_masked += k
        padded = end > start and (start < 0 or end > self.lengths[chrom])
        return (reverse_complement(seq) if strand == "-" else seq), padded

    def sequence(self, chrom: str) -> str:
        """A whole chromosome, upper case, other letters than ACGTN as ``N``; the last one read is kept, so a
        caller walking a sorted VCF reads each chromosome once."""
        if self._last is not None and self._last[0] == chrom:
            return self._last[1]
        if chrom not in self.lengths:
            raise DataError(f"chromosome {chrom!r} is not in the genome", source=str(self.source))
        seq = self._fa[chrom][:]
        if not _ACGTN.fullmatch(seq):
            seq, k = _NON_ACGTN.subn("N", seq)
            self.n_iupac_masked += k
        self._last = (chrom, seq)
        return seq

    def close(self) -> None:
        self._fa.close()

