"""Similarity of sequences without an N x N comparison: clusters of near-identical or k-mer-sharing sequences
(:func:`similarity_clusters`, for leak-free splits) and an exact check of any split (:func:`leakage_report`).
How clusters are found (near-linear, no N x N comparison):

1. Canonical k-mers (a k-mer and its reverse complement hash the same) of every sequence, ``k=20`` by
   default; windows with ``N`` are skipped. Long sequences are sketched FracMinHash-style: only k-mers
   whose hash falls below ``2**64 / sketch_scale`` are kept (the same k-mers in every sequence).
2. Sequences sharing a k-mer are candidate pairs: all pairs within small buckets, a chain of neighbours
   within large buckets (a k-mer shared by thousands of sequences, e.g. a constant flank, costs O(size)).
3. A candidate pair is joined if it is near-identical, i.e. Hamming distance (forward or reverse
   complement, equal-length codes) <= ``max_mismatch_fraction * L``, or if it shares at least
   ``min_containment`` of the smaller sketch (k-mer containment, a Jaccard-like similarity that
   tolerates shifts and indels: use it for gene-family-like similarity of long sequences). Only
   informative k-mers count here: those shared by at most ``all_pairs_max`` sequences.
4. Clusters are connected components of the joined pairs (scipy).

Guarantee: two equal-length sequences with at most ``(L - k) // (k + 1)`` mismatches share an exact
k-mer and, if within the mismatch fraction, end up together (4 mismatches for 110 bp and k = 20).

:func:`leakage_report` checks any split independently and exactly (pigeonhole seeds: with ``m``
mismatches, one of ``m + 1`` blocks of the non-constant columns is identical): it counts sequences with
an identical or near-identical (<= ``max_mismatches``, forward or reverse complement) sequence in
another split.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np

from seq2expr.data.sequences import N_CODE, reverse_complement_codes

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_P = np.uint64(0x100000001B3)
_SENTINEL = np.uint64(2**64 - 1)  # marks dropped windows; no 2-bit packed k-mer with k <= 31 reaches it
_ROW_BUDGET = 2_000_000  # hash-matrix cells per chunk (memory ~16 MB per array)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes uniformly over uint64."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _poly_hash(c: np.ndarray, start: int, width: int, k: int) -> np.ndarray:
    """Hash of ``c[:, start+i : start+i+k]`` for ``i < width`` (``c`` is codes + 1 as uint64)."""
    h = np.zeros((c.shape[0], width), dtype=np.uint64)
    for j in range(k):
        h = h * _P + c[:, start + j:start + j + width]
    return h


def _row_chunks(rows: np.ndarray, width: int) -> Iterator[np.ndarray]:
    step = max(1, _ROW_BUDGET // max(1, width))
    for s in range(0, len(rows), step):
        yield rows[s:s + step]


def _packed_kmers(c2: np.ndarray, k: int) -> np.ndarray:
    """2-bit packed value of every k-mer (``k <= 31``) of ``(n, L)`` codes in 0..3, by window doubling."""
    L = c2.shape[1]
    pieces = {1: c2.astype(np.uint64)}
    w = 1
    while 2 * w <= k:
        v = pieces[w]
        pieces[2 * w] = (v[:, :L - 2 * w + 1] << np.uint64(2 * w)) | v[:, w:]
        w *= 2
    res, res_w = None, 0
    for b in sorted(pieces, reverse=True):
        if k & b:
            if res is None:
                res, res_w = pieces[b], b
            else:
                width = L - (res_w + b) + 1
                res = (res[:, :width] << np.uint64(2 * b)) | pieces[b][:, res_w:res_w + width]
                res_w += b
    return res


def _kmer_entries(codes: np.ndarray, rows: np.ndarray, k: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Sketched canonical k-mers of ``codes[rows]``: (key, local row index) entries sorted by key, one per row."""
    L = codes.shape[1]
    W = L - k + 1
    limit = np.uint64(min(2**64 - 1, int(2**64 / scale)))
    keys, members = [], []
    for chunk in _row_chunks(np.arange(len(rows)), W):
        cod = np.asarray(codes[rows[chunk]])
        c2 = cod & np.uint8(3)  # N -> A; windows with N are dropped below
        h = np.minimum(_packed_kmers(c2, k), _packed_kmers(np.uint8(3) - c2[:, ::-1], k)[:, ::-1])
        is_n = np.zeros((len(cod), L + 1), np.int32)
        np.cumsum(cod == N_CODE, axis=1, out=is_n[:, 1:])
        if scale > 1:
            h = _mix(h)
        h[(is_n[:, k:] != is_n[:, :-k]) | (h >= limit)] = _SENTINEL
        h.sort(axis=1)  # per-row dedupe: a k-mer repeated within one sequence counts once
        ok = h != _SENTINEL
        ok[:, 1:] &= h[:, 1:] != h[:, :-1]
        r, _ = np.nonzero(ok)
        keys.append(h[ok])
        members.append(chunk[r])
    keys_a = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    mem_a = np.concatenate(members) if members else np.zeros(0, np.int64)
    order = np.argsort(keys_a)
    return keys_a[order], mem_a[order]


def _bucket_sizes(keys: np.ndarray) -> np.ndarray:
    """For entries sorted by key: (bucket id, size of the entry's bucket)."""
    new = np.ones(len(keys), dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    gid = np.cumsum(new) - 1
    return gid, np.bincount(gid)[gid]


def _bucket_pairs(keys: np.ndarray, members: np.ndarray, all_pairs_max: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs among entries sorted by key: all pairs in buckets up to ``all_pairs_max``, else a chain.

    Returns ``(lo, hi, small)``; ``small`` marks pairs from buckets within ``all_pairs_max`` (informative
    shared keys; a key shared by thousands, such as a constant adapter, says nothing about similarity).
    """
    empty = np.zeros(0, np.int64)
    if len(keys) < 2:
        return empty, empty, np.zeros(0, bool)
    gid, size = _bucket_sizes(keys)
    a_parts, b_parts, s_parts = [], [], []
    for d in range(1, max(2, all_pairs_max)):
        same = gid[d:] == gid[:-d]
        if d > 1:
            same &= size[d:] <= all_pairs_max
        if not same.any():
            break
        a_parts.append(members[:-d][same])
        b_parts.append(members[d:][same])
        s_parts.append(size[d:][same] <= all_pairs_max)
    if not a_parts:
        return empty, empty, np.zeros(0, bool)
    a, b, small = np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(s_parts)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    return lo[keep], hi[keep], small[keep]


def _unique_pairs(a: np.ndarray, b: np.ndarray, n: int, weight: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct pairs and, per pair, how many entries (with ``weight`` True, if given) produced it."""
    code, inv = np.unique(a.astype(np.int64) * n + b, return_inverse=True)
    counts = np.bincount(inv, weights=None if weight is None else weight.astype(np.float64), minlength=len(code))
    return code // n, code % n, counts


def _mismatches(codes: np.ndarray, rows: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hamming distance of each pair (local indices into ``rows``), forward and to b's reverse complement."""
    fwd = np.empty(len(a), dtype=np.int64)
    rc = np.empty(len(a), dtype=np.int64)
    step = max(1, _ROW_BUDGET // max(1, codes.shape[1]))
    for s in range(0, len(a), step):
        ca = np.asarray(codes[rows[a[s:s + step]]])
        cb = np.asarray(codes[rows[b[s:s + step]]])
        fwd[s:s + step] = (ca != cb).sum(axis=1)
        rc[s:s + step] = (ca != reverse_complement_codes(cb)).sum(axis=1)
    return fwd, rc


def _auto_scale(n: int, width: int) -> float:
    """Keep about 128 k-mers per long sequence and at most ~40M entries in all."""
    per_seq = max(1.0, width / 128.0)
    total = max(1.0, n * width / 40e6)
    return max(per_seq, total)


def similarity_clusters(codes: np.ndarray, *, k: int = 20, max_mismatch_fraction: float = 0.1,
                        min_containment: float = 0.5, sketch_scale: float | None = None, all_pairs_max: int = 16,
                        rows: np.ndarray | None = None) -> np.ndarray:
    """Cluster label per row so near-identical sequences (and reverse complements) share one.

    See the module docstring for the method. ``rows`` restricts clustering to those rows of ``codes``
    (labels are then per entry of ``rows``) without copying a large memmap.
    """
    rows = np.arange(len(codes)) if rows is None else np.asarray(rows, dtype=np.int64)
    n, L = len(rows), codes.shape[1]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, L)
    if not 1 <= k <= 31:
        raise ValueError(f"k must be in 1..31, got {k}")
    W = L - k + 1
    scale = sketch_scale if sketch_scale is not None else _auto_scale(n, W)
    keys, members = _kmer_entries(codes, rows, k, scale)
    a, b, small = _bucket_pairs(keys, members, all_pairs_max)
    a, b, shared = _unique_pairs(a, b, n, small)  # shared: informative k-mers in common
    if len(a):
        _, size = _bucket_sizes(keys)
        informative = np.bincount(members[size <= all_pairs_max], minlength=n)
        containment = shared / np.maximum(1, np.minimum(informative[a], informative[b]))
        accept = containment >= min_containment
        if max_mismatch_fraction > 0:
            fwd, rc = _mismatches(codes, rows, a, b)
            accept |= np.minimum(fwd, rc) <= math.floor(max_mismatch_fraction * L)
        a, b = a[accept], b[accept]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _variable_columns(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Columns whose base differs between some of ``codes[rows]`` (constant flanks carry no signal)."""
    first = np.asarray(codes[rows[0]])
    varies = np.zeros(codes.shape[1], dtype=bool)
    for chunk in _row_chunks(rows, codes.shape[1]):
        varies |= (np.asarray(codes[chunk]) != first).any(axis=0)
    return np.flatnonzero(varies) if varies.any() else np.arange(codes.shape[1])


def _block_entries(codes: np.ndarray, rows: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Pigeonhole seeds: keys of ``n_blocks`` blocks of each sequence and of its reverse complement.

    Blocks partition the variable columns only; restricting to a column subset never increases a Hamming
    distance, so a pair within ``n_blocks - 1`` mismatches still shares an identical block.
    """
    cols = _variable_columns(codes, rows)
    edges = np.linspace(0, len(cols), n_blocks + 1).astype(int)
    keys, members = [], []
    for chunk in _row_chunks(np.arange(len(rows)), codes.shape[1]):
        cod = np.asarray(codes[rows[chunk]])
        for c in (cod, reverse_complement_codes(cod)):
            cu = c[:, cols].astype(np.uint64) + np.uint64(1)
            for j in range(n_blocks):
                width = int(edges[j + 1] - edges[j])
                if width == 0:
                    continue
                h = _poly_hash(cu, int(edges[j]), 1, width)[:, 0]
                keys.append(_mix(h ^ _mix(np.full(len(h), j + 1, dtype=np.uint64))))
                members.append(chunk)
    keys_a, mem_a = np.concatenate(keys), np.concatenate(members)
    order = np.argsort(keys_a)
    return keys_a[order], mem_a[order]


def leakage_report(codes: np.ndarray, splits: Mapping[str, np.ndarray], max_mismatches: int = 4,
                   n_examples: int = 5, all_pairs_max: int = 256) -> dict:
    """Count sequences of one split with an identical / near-identical sequence in another split.

    Near-identical: Hamming distance <= ``max_mismatches`` to the sequence or its reverse complement
    (codes share one length). Exact for buckets up to ``all_pairs_max`` sequences (``exhaustive`` says so).
    Returns ``{"max_mismatches", "sizes", "pairs": {"valid~train": {"identical", "near", "examples"}},
    "total_near", "exhaustive"}``; counts are numbers of sequences of the first-named split.
    """
    order = ("train", "valid", "test")
    names = [s for s in order if s in splits] + [s for s in splits if s not in order]
    names = [s for s in names if len(splits[s])]
    rows = np.concatenate([np.asarray(splits[s], dtype=np.int64) for s in names]) if names else np.zeros(0, int)
    which = np.concatenate([np.full(len(splits[s]), i) for i, s in enumerate(names)]) if names else rows
    report: dict = {"max_mismatches": max_mismatches, "sizes": {s: int(len(splits[s])) for s in splits},
                    "pairs": {}, "total_near": 0, "exhaustive": True}
    if len(names) < 2:
        return report
    keys, members = _block_entries(codes, rows, max_mismatches + 1)
    report["exhaustive"] = bool(_bucket_sizes(keys)[1].max() <= all_pairs_max)
    a, b, _ = _bucket_pairs(keys, members, all_pairs_max)
    cross = which[a] != which[b]
    a, b, _ = _unique_pairs(a[cross], b[cross], len(rows))
    fwd, rc = _mismatches(codes, rows, a, b)
    dist = np.minimum(fwd, rc)
    near = dist <= max_mismatches
    a, b, fwd, rc, dist = a[near], b[near], fwd[near], rc[near], dist[near]
    for i, first in enumerate(names):
        for j, second in enumerate(names[:i]):
            # orient every pair as (member of `first`, member of `second`)
            m1 = (which[a] == i) & (which[b] == j)
            m2 = (which[b] == i) & (which[a] == j)
            x = np.concatenate([a[m1], b[m2]])
            y = np.concatenate([b[m1], a[m2]])
            d = np.concatenate([dist[m1], dist[m2]])
            is_rc = np.concatenate([rc[m1] < fwd[m1], rc[m2] < fwd[m2]])
            examples = [{first: int(rows[x[t]]), second: int(rows[y[t]]), "mismatches": int(d[t]),
                         "reverse_complement": bool(is_rc[t])} for t in np.argsort(d, kind="stable")[:n_examples]]
            n_near = int(len(np.unique(x)))
            report["pairs"][f"{first}~{second}"] = {"identical": int(len(np.unique(x[d == 0]))), "near": n_near,
                                                    "examples": examples}
            report["total_near"] += n_near
    return report


# ---------------------------------------------------------------- config dispatch
