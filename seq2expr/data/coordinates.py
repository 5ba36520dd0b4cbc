"""Genomic coordinates of the rows (tiles): overlap clusters for a leak-free split and an overlap check of any split.

A table with a chromosome, start and end column (any common spelling, :data:`COORDINATE_NAMES`) has tiles. Tiles
that share a base (or, with ``min_gap``, lie closer than ``min_gap`` bp) are joined, transitively, into clusters by
one sorted sweep (:func:`coordinate_clusters`); :func:`overlap_report` counts the rows of a split overlapping a row
of another split, whatever split made them.

Coordinates are read as BED-like half-open ``[start, end)``, unless every tile spans one base fewer than its
sequence (``end - start == length - 1``: 1-based inclusive, as DeepSTARR's tables), which is read as ``[start, end]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from seq2expr.data.errors import DataError

#: Accepted column names (compared case-insensitively), in order of preference.
COORDINATE_NAMES: dict[str, tuple[str, ...]] = {
    "chrom": ("chrom", "chr", "chromosome", "seqnames", "seqname", "contig"),
    "start": ("start", "begin", "chromstart", "chrom_start"),
    "end": ("end", "stop", "chromend", "chrom_end"),
}


@dataclass(frozen=True)
class Tiles:
    """Per-row chromosome and half-open ``[start, end)``; ``columns`` names the table's three columns."""

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    columns: tuple[str, str, str]
    closed: bool = False  # the table's ends were inclusive (converted to half-open here)

    def __len__(self) -> int:
        return len(self.chrom)

    def subset(self, rows: np.ndarray) -> Tiles:
        return Tiles(self.chrom[rows], self.start[rows], self.end[rows], self.columns, self.closed)


def coordinate_columns(columns: Sequence[str]) -> tuple[str, str, str] | None:
    """The (chrom, start, end) columns among ``columns`` in any accepted spelling, or None unless all three exist."""
    lower = {str(c).strip().lower(): c for c in reversed(list(columns))}
    found = [next((lower[n] for n in names if n in lower), None) for names in COORDINATE_NAMES.values()]
    return None if None in found else (found[0], found[1], found[2])


def missing_coordinates(columns: Sequence[str]) -> list[str]:
    """Which of chrom/start/end have no column among ``columns`` (with the spellings accepted)."""
    lower = {str(c).strip().lower() for c in columns}
    return ["/".join(names[:4] if key == "chrom" else names[:2]) for key, names in COORDINATE_NAMES.items()
            if not lower.intersection(names)]


def _integers(values: np.ndarray, column: str, source: str | None) -> np.ndarray:
    try:
        as_float = np.asarray(values).astype(float)
    except ValueError as err:
        raise DataError(f"coordinate column {column!r} holds a value that is not a whole number ({err})",
                        source=source) from None
    if not np.isfinite(as_float).all():
        raise DataError(f"coordinate column {column!r} has missing values", source=source)
    return as_float.astype(np.int64)


def read_tiles(groups: Mapping[str, np.ndarray], seq_len: int | None = None, source: str | None = None
               ) -> Tiles | None:
    """The tiles of a table's group columns (None without chrom/start/end); ``seq_len`` tells inclusive ends."""
    cols = coordinate_columns(list(groups))
    if cols is None:
        return None
    chrom = np.asarray(groups[cols[0]]).astype(str)
    start, end = (_integers(groups[c], c, source) for c in cols[1:])
    bad = np.flatnonzero(end < start)
    if bad.size:
        raise DataError(f"{bad.size} row(s) end before they start ({cols[1]} > {cols[2]}), e.g. row {int(bad[0])}",
                        source=source)
    closed = bool(seq_len is not None and len(start) and (end - start == seq_len - 1).all())
    return Tiles(chrom, start, end + 1 if closed else end, cols, closed)


def coordinate_clusters(tiles: Tiles, min_gap: int = 0) -> np.ndarray:
    """Cluster label per tile: tiles overlapping (or less than ``min_gap`` bp apart) share one, transitively."""
    n = len(tiles)
    if n == 0:
        return np.zeros(0, np.int64)
    names, code = np.unique(tiles.chrom, return_inverse=True)
    order = np.lexsort((tiles.start, code))
    c, s, e = code[order], tiles.start[order], tiles.end[order]
    reach = np.maximum.accumulate(e + c.astype(np.int64) * (int(e.max()) + int(min_gap) + 1))  # per-chrom running end
    reach -= c.astype(np.int64) * (int(e.max()) + int(min_gap) + 1)
    new = np.ones(n, bool)
    new[1:] = (c[1:] != c[:-1]) | (s[1:] - reach[:-1] >= min_gap)
    labels = np.empty(n, np.int64)
    labels[order] = np.cumsum(new) - 1
    return labels


def _best_overlaps(query: Tiles, ref: Tiles) -> np.ndarray:
    """Per query tile, its largest overlap in bp with any reference tile (0: none)."""
    best = np.zeros(len(query), np.int64)
    if not len(query) or not len(ref):
        return best
    longest = int((ref.end - ref.start).max())
    for chrom in np.intersect1d(query.chrom, ref.chrom):
        q = np.flatnonzero(query.chrom == chrom)
        r = np.flatnonzero(ref.chrom == chrom)
        r = r[np.argsort(ref.start[r], kind="stable")]
        rs, re_ = ref.start[r], ref.end[r]
        lo = np.searchsorted(rs, query.start[q] - longest, side="right")  # refs starting later can still overlap
        hi = np.searchsorted(rs, query.end[q], side="left")  # refs starting at or after the query's end cannot
        counts = np.maximum(hi - lo, 0)  # every (query, candidate) pair, vectorised
        qi = np.repeat(np.arange(len(q)), counts)
        ri = lo[qi] + np.arange(len(qi)) - np.repeat(np.cumsum(counts) - counts, counts)
        ov = np.minimum(re_[ri], query.end[q][qi]) - np.maximum(rs[ri], query.start[q][qi])
        got = np.zeros(len(q), np.int64)
        np.maximum.at(got, qi, ov)
        best[q] = got
    return best


def overlap_report(tiles: Tiles, splits: Mapping[str, np.ndarray], n_examples: int = 5) -> dict:
    """Rows of a held-out split whose tile overlaps a tile of an earlier split (test vs train+valid, valid vs train).

    Returns ``{"columns", "inclusive_ends", "test_overlapping", "test_rows", "test_overlap_bp": [min, max] | None,
    "valid_overlapping", "valid_rows", "valid_overlap_bp", "examples"}``; ``*_overlap_bp`` spans each overlapping
    row's largest overlap.
    """
    rows = {s: np.asarray(splits.get(s, []), dtype=np.int64) for s in ("train", "valid", "test")}
    rep: dict = {"columns": list(tiles.columns), "inclusive_ends": tiles.closed, "examples": []}
    for held, against in (("test", ("train", "valid")), ("valid", ("train",))):
        ref = np.concatenate([rows[s] for s in against])
        best = _best_overlaps(tiles.subset(rows[held]), tiles.subset(ref))
        hit = best > 0
        rep[f"{held}_overlapping"] = int(hit.sum())
        rep[f"{held}_rows"] = int(len(rows[held]))
        rep[f"{held}_overlap_bp"] = [int(best[hit].min()), int(best[hit].max())] if hit.any() else None
        if held == "test":
            rep["examples"] = [{"test": int(rows["test"][i]), "overlap_bp": int(best[i])}
                               for i in np.flatnonzero(hit)[:n_examples]]
    return rep
