"""Motif databases and motif comparison: JASPAR (offline, pyjaspar), MEME files, Tomtom, FIMO.

Motifs are ``(4, w)`` probability matrices (ACGT rows), keyed by a display name; the files (MEME, JASPAR) are
read and written by :mod:`seq2expr.data.io.motifs`, the one place and orientation. Tomtom and FIMO run
in-process through memelite.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from seq2expr.data.io.motifs import jaspar_collection, jaspar_releases, read_meme
from seq2expr.interpret._utils import keep_torch_threads

# JASPAR CORE taxonomic groups (tax_group); "all" takes every CORE matrix
TAXA = ("fungi", "plants", "vertebrates", "insects", "nematodes", "urochordates", "cnidaria", "diatoms",
        "dictyostelium", "oomycota", "trematodes")


def parse_taxa(taxon: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"plants,vertebrates"`` or ``["plants", "vertebrates"]`` -> a tuple of JASPAR taxonomic groups; ``"all"``
    or None -> None (every group). Raises ValueError naming an unknown group."""
    if taxon is None:
        return None
    items = taxon.split(",") if isinstance(taxon, str) else list(taxon)
    names = tuple(dict.fromkeys(t.strip().lower() for t in items if t.strip()))
    if not names or "all" in names:
        return None
    unknown = [t for t in names if t not in TAXA]
    if unknown:
        raise ValueError(f"unknown JASPAR taxon {unknown[0]!r}; choose from {', '.join(TAXA)}, or all "
                         "(several: comma-separated)")
    return names


def jaspar_motifs(collection: str = "CORE", taxon: str | Sequence[str] | None = "fungi", release: str | None = None
                  ) -> dict[str, np.ndarray]:
    """JASPAR motifs as ``{"MA0363.3 REB1": pwm (4, w)}`` from pyjaspar's bundled SQLite (no network).

    ``release`` defaults to the newest bundled one (e.g. JASPAR2026); ``taxon``: one taxonomic group, several
    (a list or ``"plants,vertebrates"``), or ``"all"``/None for every group.
    """
    taxa = parse_taxa(taxon)
    motifs: dict[str, np.ndarray] = {}
    for t in taxa or (None,):
        motifs.update(jaspar_collection(collection, t, release or jaspar_releases()[0]))
    if not motifs:
        raise ValueError(f"JASPAR {release or jaspar_releases()[0]} has no {collection} motifs for taxon {taxon!r}")
    return {k: v.copy() for k, v in motifs.items()}


def motif_collections(taxon: str | Sequence[str] | None = None, motifs_files: Sequence[str | Path] = (),
                      release: str | None = None) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The motif database of an interpretation: JASPAR CORE groups (``taxon``; skipped when it is ``()``) and
    MEME files, merged; returns ``(motifs, collections)`` where each collection is ``{"name", "n_matrices"}``
    (what a report states was searched). A name found in two sources gets its file's stem appended."""
    motifs: dict[str, np.ndarray] = {}
    collections: list[dict] = []

    def add(name: str, found: dict[str, np.ndarray], tag: str) -> None:
        for k, v in found.items():
            motifs[f"{k} ({tag})" if k in motifs else k] = v
        collections.append({"name": name, "n_matrices": len(found)})

    if taxon != ():
        rel = release or jaspar_releases()[0]
        taxa = parse_taxa(taxon)
        for t in taxa or (None,):
            add(f"{rel} CORE {t or 'all taxa'}", jaspar_motifs(taxon=t or "all", release=rel), t or "all")
    for path in motifs_files:
        add(str(path), read_meme(path), Path(path).stem)
    if not motifs:
        raise ValueError("no motif collection to search: give a JASPAR taxon or a MEME file")
    return motifs, collections


def split_name(name: str) -> tuple[str, str]:
    """``"MA0363.3 REB1"`` -> ("MA0363.3", "REB1"); a single word is used for both."""
    parts = name.split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (name, name)


def match_motifs(patterns: dict[str, np.ndarray], database: dict[str, np.ndarray], *, n_top: int = 5,
                 max_q: float | None = None) -> pd.DataFrame:
    """Tomtom each pattern against ``database``: the ``n_top`` best targets per pattern.

    Columns: pattern, rank, motif_id, tf, p_value, q_value (Benjamini-Hochberg over all database
    targets of that pattern), e_value (p x database size), offset, orientation (+ or -), overlap, motif
    (the database key).
    Patterns may be CWMs (any sign) or PWMs: each is compared as given.
    """
    from memelite.tomtom import tomtom

    cols = ["pattern", "rank", "motif_id", "tf", "p_value", "q_value", "e_value", "offset", "orientation", "overlap",
            "motif"]
    if not patterns or not database:
        return pd.DataFrame(columns=cols)
    names = list(database)
    T = [np.asarray(database[k], dtype=np.float64) for k in names]
    Q = [np.asarray(v, dtype=np.float64) for v in patterns.values()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with keep_torch_threads():
            p, _scores, offsets, overlaps, strands = tomtom(Q, T, n_jobs=1)
    rows = []
    n_db = len(T)
    for qi, qname in enumerate(patterns):
        pv = np.asarray(p[qi], dtype=np.float64)
        order = np.argsort(pv, kind="stable")
        q = false_discovery_control(np.clip(pv, 0.0, 1.0), method="bh")  # over this pattern's comparisons
        for r, ti in enumerate(order[:n_top]):
            if max_q is not None and q[ti] > max_q:
                break
            mid, tf = split_name(names[ti])
            rows.append({"pattern": qname, "rank": r + 1, "motif_id": mid, "tf": tf, "p_value": float(pv[ti]),
                         "q_value": float(q[ti]), "e_value": float(pv[ti] * n_db),
                         "offset": int(offsets[qi, ti]), "orientation": "-" if strands[qi, ti] else "+",
                         "overlap": int(overlaps[qi, ti]), "motif": names[ti]})
    return pd.DataFrame(rows, columns=cols)


def scan(sequences: np.ndarray, motifs: dict[str, np.ndarray], *, threshold: float = 1e-4,
         ids: list[str] | None = None) -> pd.DataFrame:
    """FIMO-style scan of one-hot ``(N, 4, L)`` sequences: sites with p-value below ``threshold``.

    Columns: motif, motif_id, tf, sequence (id), seq_index, start, end, strand, score, p_value.
    """
    from memelite.fimo import fimo

    cols = ["motif", "motif_id", "tf", "sequence", "seq_index", "start", "end", "strand", "score", "p_value"]
    x = np.asarray(sequences, dtype=np.float32)
    if not motifs or len(x) == 0:
        return pd.DataFrame(columns=cols)
    with keep_torch_threads():
        hits = fimo({k: np.asarray(v, dtype=np.float64) for k, v in motifs.items()}, x, threshold=threshold)
    frames = [h for h in hits if len(h)]
    if not frames:
        return pd.DataFrame(columns=cols)
    df = pd.concat(frames, ignore_index=True)
    split = df["motif_name"].map(split_name)
    out = pd.DataFrame({
        "motif": df["motif_name"], "motif_id": [s[0] for s in split], "tf": [s[1] for s in split],
        "seq_index": df["sequence_name"].astype(int),
        "start": df["start"].astype(int), "end": df["end"].astype(int), "strand": df["strand"],
        "score": df["score"].astype(float), "p_value": df["p-value"].astype(float)})
    out.insert(3, "sequence", [ids[i] for i in out["seq_index"]] if ids is not None else out["seq_index"].astype(str))
    return out.sort_values(["seq_index", "start", "p_value"], kind="stable").reset_index(drop=True)


def information_content(pwm: np.ndarray, background: float = 0.25) -> np.ndarray:
    """Per-position information content (bits) of a ``(4, w)`` probability matrix."""
    p = np.clip(np.asarray(pwm, dtype=np.float64), 1e-9, None)
    p = p / p.sum(0, keepdims=True)
    return (p * np.log2(p / background)).sum(0)


def consensus(pwm: np.ndarray) -> str:
    """Most likely base per column."""
    return "".join("ACGT"[i] for i in np.asarray(pwm).argmax(0))


def _composition(pwm: np.ndarray) -> np.ndarray:
    """Fraction of each base (ACGT) in the consensus."""
    idx = np.asarray(pwm).argmax(0)
    return np.bincount(idx, minlength=4) / max(1, len(idx))


def composition_entropy(pwm: np.ndarray) -> float:
    """Shannon entropy (bits, 0-2) of the consensus's base composition: near 0 for a run of one base."""
    c = _composition(pwm)
    c = c[c > 0]
    return float(-(c * np.log2(c)).sum())


def low_complexity(pwm: np.ndarray, one_base: float = 0.8, two_bases: float = 0.95, repeat: float = 0.85,
                   min_width: int = 10) -> str:
    """Why a motif's consensus is low-complexity, or ``""``: one base makes up ``one_base`` of it (a G run), it is
    a dinucleotide repeat (``repeat`` of its positions equal the one two before, e.g. CACACACA) or two bases make
    up ``two_bases`` of it (a GC or AT stretch). Only for ``min_width`` bp or longer (12 for the last two): short
    TF sites rich in one base (SP1's GGGGCGGGG, MIG1's CCCCGC, TBP's TATATA) are motifs. Tomtom matches a
    low-complexity pattern to any matrix rich in the same bases (a GC run to CTCF at q 1e-10): no TF call."""
    cons = consensus(pwm)
    comp = _composition(pwm)
    order = np.argsort(-comp, kind="stable")
    if len(cons) >= min_width and comp[order[0]] >= one_base:
        return f"one base: {'ACGT'[order[0]]} {comp[order[0]]:.0%}"
    if len(cons) < min_width + 2:
        return ""
    if np.mean([a == b for a, b in zip(cons, cons[2:], strict=False)]) >= repeat:
        return f"dinucleotide repeat: ({cons[:2]})n"
    top2 = comp[order[0]] + comp[order[1]]
    if top2 >= two_bases:
        return f"two bases: {'ACGT'[order[0]]}+{'ACGT'[order[1]]} {top2:.0%}"
    return ""
