"""Where a variant is scored: the two placement strategies of :class:`~seq2expr.variants.score.VariantScorer`.

* :class:`GeneStrategy`: every gene window (the model's ``data genes`` layout) that holds the variant; each
  gene's reference window is predicted once for the whole run.
* :class:`CentredStrategy`: one window centred on the variant (inside a construct's fixed flanks, if any); each
  site's reference window is predicted once per chunk.

A strategy knows its windows; the scorer it is given (:class:`Scoring`) predicts, encodes, counts what was skipped
and builds the output table, the same for both.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

import numpy as np
import pandas as pd

from seq2expr.data.genome.fasta import Genome
from seq2expr.data.sequences import complement_codes
from seq2expr.variants.place import CentredWindows, GeneWindows, allele_codes, substitute

BLOCK = 2048  # alternative windows built and predicted at a time


class BackgroundOptions(Protocol):
    """What a strategy reads of the scorer's options (:class:`~seq2expr.variants.score.ScoreOptions`)."""

    background: int  # random SNVs in the background (0: none)
    seed: int


class Scoring(Protocol):
    """What a strategy uses of the scorer."""

    genome: Genome
    fast: bool  # SNVs/MNVs may be written straight into the encoded reference
    options: BackgroundOptions
    skipped: Counter
    background: np.ndarray | None  # (n, outputs) sorted |effect| of random SNVs, set by the first chunk
    background_reused: bool

    def background_identity(self) -> dict | None: ...
    def predict_codes(self, codes: np.ndarray) -> np.ndarray: ...
    def encode(self, windows: list[str]) -> np.ndarray: ...
    def snv_background(self, ref: np.ndarray, ref_pred: np.ndarray, rng: np.random.Generator, lo: int = 0,
                       hi: int | None = None) -> np.ndarray: ...
    def table(self, v: pd.DataFrame, rows: np.ndarray, info: pd.DataFrame, ref: np.ndarray,
              alt: np.ndarray) -> pd.DataFrame: ...
    def empty(self) -> pd.DataFrame: ...


class GeneStrategy:
    """Score each variant in every gene window it falls in (see the module docstring)."""

    mode = "gene"

    def __init__(self, place: GeneWindows):
        self.place = place
        self.refs: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # gene -> (reference codes, prediction)

    @property
    def length(self) -> int:
        return self.place.length

    def _refs(self, s: Scoring, genes: np.ndarray) -> None:
        todo = [int(g) for g in np.unique(genes) if int(g) not in self.refs]
        chrom = self.place.genes["chrom"].to_numpy()
        todo.sort(key=lambda g: chrom[g])  # one chromosome at a time: the genome keeps only the last one read
        for k0 in range(0, len(todo), BLOCK):
            block = todo[k0:k0 + BLOCK]
            codes = s.encode([self.place.ref_window(s.genome, g) for g in block])
            pred = s.predict_codes(codes)
            for k, g in enumerate(block):
                self.refs[g] = (codes[k], pred[k])

    def _background(self, s: Scoring) -> np.ndarray | None:
        """|effect| of a seeded sample of all possible SNVs in the gene windows, sorted per output: computed once
        per model, genome, windows and settings, then reused from the cache (:mod:`seq2expr.variants.background`)."""
        if not s.options.background or not s.fast:
            return None
        from seq2expr.variants.background import array_digest, cached

        parts = s.background_identity()
        if parts is not None:
            place = self.place
            rows = pd.util.hash_pandas_object(place.intervals.astype(str), index=False).to_numpy()
            parts = {**parts, "windows": array_digest(rows, place.minus), "spec": repr(place.spec),
                     "distal": repr(getattr(place, "distal", None)), "length": place.length}
        background, s.background_reused = cached(parts, lambda: self._sample(s))
        return background

    def _sample(self, s: Scoring) -> np.ndarray:
        rng = np.random.default_rng(s.options.seed)
        genes = rng.integers(0, len(self.place.genes), s.options.background)
        self._refs(s, genes)
        ref = np.stack([self.refs[int(g)][0] for g in genes])
        return s.snv_background(ref, np.stack([self.refs[int(g)][1] for g in genes]), rng)

    def score(self, s: Scoring, df: pd.DataFrame) -> pd.DataFrame:
        """One row per allele x gene window holding it; alleles outside every window are counted."""
        place = self.place
        spans = pd.DataFrame({"chrom": df["gchrom"], "start": df["p0"],
                              "end": df["p0"] + df["ref"].str.len().clip(lower=1)})
        hits = place.overlaps(spans) if len(df) else pd.DataFrame(columns=["row", "gene", "part"], dtype=np.int64)
        hits = hits.sort_values(["row", "gene", "part"], kind="stable")
        outside = np.setdiff1d(np.arange(len(df)), hits["row"].to_numpy())
        s.skipped["outside_windows"] += len(outside)
        pairs = hits.drop_duplicates(["row", "gene"]).reset_index(drop=True)
        if s.background is None:
            s.background = self._background(s)
        if pairs.empty:
            return s.empty()
        self._refs(s, pairs["gene"].to_numpy())
        rows, genes = pairs["row"].to_numpy(), pairs["gene"].to_numpy()
        v = df.iloc[rows].reset_index(drop=True)
        ref_pred = np.stack([self.refs[int(g)][1] for g in genes])
        alt_pred = np.empty_like(ref_pred)
        same = (v["ref"].str.len() == v["alt"].str.len()).to_numpy() & s.fast
        for k0 in range(0, len(v), BLOCK):
            sl = slice(k0, k0 + BLOCK)
            idx = np.arange(len(v))[sl]
            codes = np.stack([self.refs[int(g)][0] for g in genes[sl]])
            sub = same[sl]
            if sub.any():
                codes[sub] = self._substituted(codes[sub], v.iloc[idx[sub]], genes[sl][sub])
            if (~sub).any():
                wins = [place.alt_window(s.genome, int(g), int(r.p0), r.ref, r.alt, chrom=r.gchrom)
                        for g, r in zip(genes[sl][~sub], v.iloc[idx[~sub]].itertuples(), strict=True)]
                codes[~sub] = s.encode(wins)
            alt_pred[sl] = s.predict_codes(codes)
        g = place.genes.iloc[genes].reset_index(drop=True)
        minus = (g["strand"] == "-").to_numpy()
        info = pd.DataFrame({"gene_id": g["gene_id"], "gene_name": g["gene_name"], "strand": g["strand"],
                             "tss_distance": np.where(minus, g["tss"] - v["p0"], v["p0"] - g["tss"])})
        info = place.annotate(genes, pairs["part"].to_numpy(), info)
        return s.table(v, rows, info, ref_pred, alt_pred)

    def _substituted(self, codes: np.ndarray, v: pd.DataFrame, genes: np.ndarray) -> np.ndarray:
        """Reference window codes with each SNV/MNV written in (in every part of the window it falls in)."""
        place = self.place
        masked = place.masked()
        lengths = v["ref"].str.len().to_numpy()
        for m in range(int(lengths.max())):
            has = lengths > m
            gpos = v["p0"].to_numpy() + m
            alt = allele_codes(v["alt"].str[m:].where(has, "N"))
            for part in range(place.start.shape[1]):
                index, minus = place.substitution_index(genes, gpos, part, v["gchrom"].to_numpy())
                inside = has & (index >= 0)
                if inside.any():
                    base = np.where(minus, complement_codes(alt), alt)
                    codes[inside] = substitute(codes[inside], index[inside], base[inside], masked)
        return codes


class CentredStrategy:
    """Score each variant in a window centred on it (see the module docstring)."""

    mode = "centred"

    def __init__(self, place: CentredWindows):
        self.place = place

    @property
    def length(self) -> int:
        return self.place.length

    def _background(self, s: Scoring, ref_codes: np.ndarray, ref_pred: np.ndarray) -> np.ndarray | None:
        """|effect| of random SNVs in the variable region of the first chunk's reference windows."""
        if not s.options.background or not s.fast:
            return None
        rng = np.random.default_rng(s.options.seed)
        pick = rng.integers(0, len(ref_codes), s.options.background)
        return s.snv_background(ref_codes[pick], ref_pred[pick], rng, lo=len(self.place.left),
                                hi=len(self.place.left) + self.place.variable)

    def score(self, s: Scoring, df: pd.DataFrame) -> pd.DataFrame:
        """One row per allele that fits the variable region (longer ones counted as skipped)."""
        place = self.place
        long = (df[["ref", "alt"]].map(len).max(axis=1) > place.variable).to_numpy()
        s.skipped["allele_too_long"] += int(long.sum())
        v = df[~long].reset_index(drop=True)
        rows = np.flatnonzero(~long)
        if v.empty:
            return s.empty()
        sites = v.groupby(["gchrom", "p0", "ref"], sort=False).ngroup().to_numpy()
        first = pd.Series(np.arange(len(v))).groupby(sites).first().to_numpy()
        ref_codes = s.encode([place.ref_window(s.genome.sequence(r.gchrom), int(r.p0), r.ref)
                              for r in v.iloc[first].itertuples()])
        ref_site = s.predict_codes(ref_codes)  # each site's reference predicted once per chunk
        if s.background is None:
            s.background = self._background(s, ref_codes, ref_site)
        ref_pred = ref_site[sites]
        alt_pred = np.empty_like(ref_pred)
        same = (v["ref"].str.len() == v["alt"].str.len()).to_numpy() & s.fast
        centre = len(place.left) + (place.variable - v["ref"].str.len().to_numpy()) // 2
        for k0 in range(0, len(v), BLOCK):
            idx = np.arange(len(v))[k0:k0 + BLOCK]
            codes = ref_codes[sites[idx]].copy()
            sub = same[idx]
            for m in range(int(v["ref"].str.len().max())):
                has = sub & (v["ref"].str.len().to_numpy()[idx] > m)
                if has.any():
                    codes[has] = substitute(codes[has], centre[idx][has] + m,
                                            allele_codes(v["alt"].iloc[idx[has]].str[m:]))
            if (~sub).any():
                wins = [place.alt_window(s.genome.sequence(r.gchrom), int(r.p0), r.ref, r.alt)
                        for r in v.iloc[idx[~sub]].itertuples()]
                codes[~sub] = s.encode(wins)
            alt_pred[idx] = s.predict_codes(codes)
        return s.table(v, rows, pd.DataFrame(index=range(len(v))), ref_pred, alt_pred)
