"""Chromatin-interaction files: BEDPE loops and gene-pair tables (the DeepCBA layout), plain or gzip.

* **BEDPE** (:func:`read_bedpe`): ``chrom1 start1 end1 chrom2 start2 end2 [name score strand1 strand2 ...]``,
  0-based half-open, tab-separated (whitespace accepted), with or without a header line (HiCCUPS' ``#chr1 x1 x2
  chr2 y1 y2 ...``, FitHiChIP's ``chr1 s1 e1 chr2 s2 e2 cc ...``). The score is the column named ``score`` (or
  ``cc``, ``count``, ``counts``, ``observed``, ``ChIN``) of a header, else the 8th column when it holds numbers;
  otherwise every loop scores 1.
* **Gene pairs** (:func:`read_gene_pairs`): ``gene1, gene2[, score]`` in a CSV or TSV. DeepCBA's public tables
  (``Annotation1,Annotation2,ChIN,ID``) are read as they are: ``ChIN`` is the score, other columns are ignored.

A record that cannot be parsed (too few fields, a coordinate that is not a number, an end before its start) is a
:class:`~seq2expr.data.errors.DataError` naming the file and the line. Records that are well formed but cannot
be used are skipped and counted by reason in ``attrs["skipped"]`` (an unplaced anchor, chromosome ``.``; a
pair of one gene with itself); chromosome names are matched to a genome's later, by the builder
(:func:`seq2expr.data.genome.fasta.reconcile_chromosomes`), as for VCF records.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.files import reads

BEDPE_COLUMNS = ["chrom1", "start1", "end1", "chrom2", "start2", "end2"]
SCORE_NAMES = ("score", "cc", "count", "counts", "observed", "chin", "weight", "strength")
GENE1_NAMES = ("gene1", "annotation1", "gene_1", "gene_a", "genea", "source", "from", "id1", "anchor1_gene")
GENE2_NAMES = ("gene2", "annotation2", "gene_2", "gene_b", "geneb", "target", "to", "id2", "anchor2_gene")
Format = Literal["auto", "bedpe", "pairs"]


def _open(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _split(line: str) -> list[str]:
    fields = line.rstrip("\r\n").split("\t")
    return fields if len(fields) >= 6 else line.split()


def _score_index(header: list[str] | None, rows: list[list[str]]) -> int | None:
    """The score column: a named one in the header, else the 8th when every value is a number (or ``.``)."""
    if header is not None:
        low = [h.strip().lstrip("#").lower() for h in header]
        for name in SCORE_NAMES:
            if name in low:
                return low.index(name)
    values = [r[7] for r in rows if len(r) > 7 and r[7] not in (".", "")]
    if values and all(_float(v) is not None for v in values):
        return 7
    return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@reads()
def read_bedpe(path: str | Path) -> pd.DataFrame:
    """Loops as ``chrom1, start1, end1, chrom2, start2, end2, name, score, line`` (see the module docstring).

    ``name`` is the file's name column (7th) when present, else ``loop<line>``. Unplaced anchors (chromosome
    ``.`` or coordinate ``-1``) are skipped; ``attrs`` holds ``skipped`` (reason -> count), ``records``,
    ``score_column`` (its header name or 1-based number, None when every loop scores 1) and ``source``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("interaction file not found", source=str(path))
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    unplaced = 0
    with _open(path) as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("track", "browser")):
                continue
            fields = _split(line)
            if line.startswith("#"):
                if not rows and header is None and len(fields) >= 6 and _int(fields[1]) is None:
                    header = fields  # HiCCUPS-style "#chr1 x1 x2 chr2 y1 y2 ..."
                continue
            if len(fields) < 6:
                raise DataError(f"{len(fields)} field(s); a BEDPE record has at least 6 (chrom1 start1 end1 chrom2 "
                                "start2 end2)", source=str(path), record=f"line {i}")
            if not rows and header is None and _int(fields[1]) is None and _int(fields[4]) is None:
                header = fields
                continue
            if "." in (fields[0], fields[3]) or "-1" in (fields[1], fields[4]):
                unplaced += 1
                continue
            coords = [_int(fields[k]) for k in (1, 2, 4, 5)]
            if any(c is None for c in coords):
                bad = next(fields[k] for k, c in zip((1, 2, 4, 5), coords, strict=True) if c is None)
                raise DataError(f"coordinate {bad!r} is not a whole number", source=str(path), record=f"line {i}")
            s1, e1, s2, e2 = coords
            if s1 < 0 or s2 < 0 or e1 <= s1 or e2 <= s2:
                raise DataError(f"anchor [{s1}, {e1}) / [{s2}, {e2}): starts must be >= 0 and ends after them "
                                "(0-based, half-open)", source=str(path), record=f"line {i}")
            rows.append(fields)
            lines.append(i)
    if not rows:
        raise DataError("no BEDPE records" + (f" ({unplaced} unplaced)" if unplaced else ""), source=str(path))
    return _bedpe_frame(rows, lines, header, path, unplaced)


def _bedpe_frame(rows: list[list[str]], lines: list[int], header: list[str] | None, path: Path,
                 unplaced: int) -> pd.DataFrame:
    """The parsed records as a table, with their scores checked."""
    k = _score_index(header, rows)
    score = np.ones(len(rows))
    if k is not None:
        for j, (r, line) in enumerate(zip(rows, lines, strict=True)):
            text = r[k] if len(r) > k else "."
            value = 1.0 if text in (".", "") else _float(text)
            if value is None or not np.isfinite(value):
                raise DataError(f"score {text!r} is not a number", source=str(path), record=f"line {line}")
            score[j] = value
    df = pd.DataFrame({
        "chrom1": [r[0] for r in rows], "start1": [int(r[1]) for r in rows], "end1": [int(r[2]) for r in rows],
        "chrom2": [r[3] for r in rows], "start2": [int(r[4]) for r in rows], "end2": [int(r[5]) for r in rows],
        "name": [r[6] if len(r) > 6 and r[6] not in (".", "") and k != 6 else f"loop{n}"
                 for r, n in zip(rows, lines, strict=True)],
        "score": score, "line": np.asarray(lines, dtype=np.int64)})
    df.attrs.update(source=str(path), records=len(rows) + unplaced, skipped={"unplaced": unplaced} if unplaced else {},
                    score_column=None if k is None else (header[k].lstrip("#") if header else k + 1))
    return df


def _pair_columns(header: list[str], path: Path) -> tuple[int, int, int | None]:
    low = [h.strip().lower() for h in header]

    def find(names: tuple[str, ...]) -> int | None:
        return next((low.index(n) for n in names if n in low), None)

    g1, g2, sc = find(GENE1_NAMES), find(GENE2_NAMES), find(SCORE_NAMES)
    if g1 is None or g2 is None:
        raise DataError(f"no gene1/gene2 columns in the header {header} (a gene-pair table has gene1, gene2 and "
                        "optionally score; DeepCBA's Annotation1, Annotation2, ChIN)", source=str(path),
                        record="header")
    return g1, g2, sc


@reads()
def read_gene_pairs(path: str | Path) -> pd.DataFrame:
    """Gene-gene interactions as ``gene1, gene2, score, line`` (see the module docstring).

    CSV when the first line holds a comma and no tab, else tab-separated. A header is recognised by its column
    names; without one the columns are ``gene1, gene2[, score]``. A pair of a gene with itself is skipped and
    counted (``attrs["skipped"]["self"]``); IDs are matched to the annotation by the builder.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("interaction file not found", source=str(path))
    with _open(path) as fh:
        text = [(i, line.rstrip("\r\n")) for i, line in enumerate(fh, 1)]
    text = [(i, t) for i, t in text if t.strip() and not t.startswith("#")]
    if not text:
        raise DataError("no gene pairs", source=str(path))
    sep = "," if "," in text[0][1] and "\t" not in text[0][1] else "\t"
    first = [f.strip() for f in text[0][1].split(sep)]
    has_header = any(f.lower() in GENE1_NAMES + GENE2_NAMES for f in first)
    if has_header:
        g1, g2, sc = _pair_columns(first, path)
        text = text[1:]
    else:
        g1, g2 = 0, 1
        sc = 2 if len(first) > 2 and _float(first[2]) is not None else None
    need = max(g1, g2, sc or 0) + 1
    genes1, genes2, scores, lines = [], [], [], []
    skipped = 0
    for i, t in text:
        f = [x.strip() for x in t.split(sep)]
        if len(f) < need:
            raise DataError(f"{len(f)} field(s); a gene-pair record needs gene1{sep}gene2"
                            + (f"{sep}score" if sc is not None else ""), source=str(path), record=f"line {i}")
        if not f[g1] or not f[g2]:
            raise DataError(f"empty gene name in column {(g2 if f[g1] else g1) + 1}", source=str(path),
                            record=f"line {i}")
        value = 1.0 if sc is None else _float(f[sc])
        if value is None or not np.isfinite(value):
            raise DataError(f"score {f[sc]!r} is not a number", source=str(path), record=f"line {i}")
        if f[g1] == f[g2]:
            skipped += 1
            continue
        genes1.append(f[g1])
        genes2.append(f[g2])
        scores.append(value)
        lines.append(i)
    df = pd.DataFrame({"gene1": genes1, "gene2": genes2, "score": np.asarray(scores, dtype=np.float64),
                       "line": np.asarray(lines, dtype=np.int64)})
    df.attrs.update(source=str(path), records=len(text), skipped={"self": skipped} if skipped else {},
                    score_column=(first[sc] if has_header else sc + 1) if sc is not None else None)
    return df


def detect_interactions(path: str | Path) -> Literal["bedpe", "pairs"]:
    """``bedpe`` for a ``.bedpe`` name or when the first record has at least 6 fields and coordinates in fields 2
    and 3, else ``pairs`` (gene IDs)."""
    if Path(path).name.lower().removesuffix(".gz").endswith(".bedpe"):
        return "bedpe"
    with _open(Path(path)) as fh:
        for line in fh:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = _split(line)
            if len(fields) >= 6 and all(re.fullmatch(r"-?\d+", fields[k]) for k in (1, 2)):
                return "bedpe"
            if len(fields) >= 6 and any(f.strip().lower() in ("start1", "s1", "x1") for f in fields):
                return "bedpe"  # a header line
            return "pairs"
    raise DataError("empty interaction file", source=str(path))


@reads()
def read_interactions(path: str | Path, fmt: Format = "auto") -> tuple[Literal["bedpe", "pairs"], pd.DataFrame]:
    """A BEDPE or gene-pair file (``fmt="auto"``: told apart by :func:`detect_interactions`)."""
    if not Path(path).is_file():
        raise DataError("interaction file not found", source=str(path))
    kind = detect_interactions(path) if fmt == "auto" else fmt
    if kind not in ("bedpe", "pairs"):
        raise ValueError(f"interaction format must be auto, bedpe or pairs, not {fmt!r}")
    return kind, (read_bedpe(path) if kind == "bedpe" else read_gene_pairs(path))
