"""A known answer for promoter + distal models: loops and expression generated on a real genome.

:func:`planted_loops` takes a genome and its annotation (the real yeast genome in the tests, the tutorial's small
genome in the docs) and writes, into one new folder:

* ``genome.fa``: a copy of the genome with two motifs written in: the **activator** (default ``ATGACTCAT``, a
  GCN4-like palindrome) near the centre of some distal anchors, and the **promoter motif** (default
  ``GCCACGTGGC``, an E-box palindrome) 60-120 bases upstream of some genes' TSSs;
* ``loops.bedpe``: each gene's promoter (``promoter_anchor`` bases around the TSS) looped to 0..n distal anchors on
  its chromosome, ``distance`` bases away and clear of every TSS by ``clearance`` bases, scored with random
  counts; chromosomes are written ``chr``-prefixed (``chrII``), as loop callers often do, so the builder must
  reconcile them with the FASTA's names;
* ``expression.tsv``: TPM per gene and tissue, ``log2 TPM = base + promoter_effect * promoter motif +
  effect[tissue] * active anchors + noise``: the activator raises the expression of every gene looped to it;
* ``truth.tsv``: per gene the planted promoter motif, its loops and active anchors, and the noise-free value.

Nothing else changes the expression: a promoter-only model can learn the promoter motif only, and what a
promoter + distal model gains over it is the distal effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.atomic import atomic_path
from seq2expr.data.genome.fasta import Genome, reconcile_chromosomes
from seq2expr.data.io.annotation import read_genes
from seq2expr.data.sequences import reverse_complement

ACTIVATOR, PROMOTER_MOTIF = "ATGACTCAT", "GCCACGTGGC"


@dataclass(frozen=True)
class PlantedLoops:
    """The files :func:`planted_loops` wrote, and what was planted."""

    folder: Path
    genome: Path
    annotation: Path
    interactions: Path
    expression: Path
    truth: Path
    activator: str
    promoter_motif: str
    tissues: tuple[str, ...]


def _plant(seq: bytearray, at: int, motif: str, strand: str) -> None:
    site = motif if strand == "+" else reverse_complement(motif)
    seq[at:at + len(site)] = site.encode()


def _distal_centres(rng: np.random.Generator, tss: int, n: int, length: int, tss_all: np.ndarray,
                    distance: tuple[int, int], clearance: int) -> list[int]:
    """Up to ``n`` anchor centres ``distance`` bases from ``tss`` (either side), inside the chromosome and at least
    ``clearance`` bases from every TSS of the chromosome (sorted ``tss_all``)."""
    out: list[int] = []
    for _ in range(20 * n):
        if len(out) == n:
            break
        c = tss + int(rng.choice([-1, 1]) * rng.integers(distance[0], distance[1] + 1))
        if not clearance <= c < length - clearance:
            continue
        k = np.searchsorted(tss_all, c)
        near = [abs(int(tss_all[j]) - c) for j in (k - 1, k) if 0 <= j < len(tss_all)]
        if min(near, default=clearance) >= clearance and all(abs(c - o) >= clearance for o in out):
            out.append(c)
    return out


def _genes(genome: Genome, annotation: str | Path, biotypes: Sequence[str] | None, n_genes: int | None,
           min_chromosome: int, rng: np.random.Generator) -> pd.DataFrame:
    genes = read_genes(annotation)
    if biotypes:
        genes = genes[genes["biotype"].isin(list(biotypes))]
    cmap, _ = reconcile_chromosomes(genes["chrom"].unique(), genome.names)
    genes = genes.assign(chrom=genes["chrom"].map(cmap)).dropna(subset=["chrom"])
    genes = genes[genes["chrom"].map(genome.lengths) >= min_chromosome]  # e.g. no loops on a mitochondrion
    if n_genes is not None and n_genes < len(genes):
        genes = genes.iloc[np.sort(rng.choice(len(genes), n_genes, replace=False))]
    return genes.reset_index(drop=True)


def planted_loops(genome: str | Path, annotation: str | Path, out: str | Path, *, activator: str = ACTIVATOR,
                  promoter_motif: str = PROMOTER_MOTIF, loop_fraction: float = 0.8, mean_loops: float = 1.5,
                  active_fraction: float = 0.35, effect: dict[str, float] | None = None,
                  promoter_fraction: float = 0.5, promoter_effect: float = 1.0, base: float = 4.0, noise: float = 0.35,
                  distance: tuple[int, int] = (3_000, 30_000), clearance: int = 1_000, promoter_anchor: int = 200,
                  anchor: int = 1_000, biotypes: Sequence[str] | None = ("protein_coding",),
                  n_genes: int | None = None, promoter_window: tuple[int, int] = (400, 100), chrom_prefix: str = "chr",
                  min_chromosome: int = 100_000, seed: int = 0) -> PlantedLoops:
    """Write the planted-distal data set into the new folder ``out`` (see the module docstring); returns its files.

    A fraction ``loop_fraction`` of genes gets ``1 + Poisson(mean_loops - 1)`` loops, each anchor active (two
    activator copies within 40 bases of its centre) with probability ``active_fraction``. ``effect`` gives each
    tissue's log2 effect of one active anchor (default ``{"leaf": 1.0, "root": 0.5}``); every tissue has its own
    noise. ``n_genes`` samples that many genes (the loops of the others are not written); genes on chromosomes
    shorter than ``min_chromosome`` (the yeast mitochondrion, the 2-micron plasmid) get no loops and no expression.

    A loop reaches every gene whose promoter window (``promoter_window`` = bases before and after the TSS, as
    ``seq2expr data genes --single-window`` would cut it) overlaps its promoter anchor, as the builder links them:
    a divergent neighbour is looped to the anchor too, and its expression rises with it.
    """
    rng = np.random.default_rng(seed)
    effect = effect or {"leaf": 1.0, "root": 0.5}
    fa = Genome(genome)
    genes = _genes(fa, annotation, biotypes, n_genes, min_chromosome, rng)
    seqs = {c: bytearray(fa.sequence(c).encode()) for c in fa.names}
    tss_by_chrom = {c: np.sort(g["tss"].to_numpy()) for c, g in genes.groupby("chrom")}
    loops, truth = [], []
    for g in genes.itertuples():
        length, tss = len(seqs[g.chrom]), int(g.tss)
        has_motif = rng.random() < promoter_fraction
        if has_motif:  # 60-120 bases upstream of the TSS, in the gene's orientation
            up = int(rng.integers(60, 121 - len(promoter_motif)))
            at = tss - up - len(promoter_motif) if g.strand == "+" else tss + up + 1
            _plant(seqs[g.chrom], at, promoter_motif, g.strand)
        n = 1 + int(rng.poisson(max(mean_loops - 1, 0))) if rng.random() < loop_fraction else 0
        centres = _distal_centres(rng, tss, n, length, tss_by_chrom[g.chrom], distance, clearance)
        for c in centres:
            on = rng.random() < active_fraction
            if on:
                for k in (-40, 20):
                    _plant(seqs[g.chrom], c + k + int(rng.integers(0, 10)), activator, "+-"[int(rng.integers(2))])
            loops.append((g.chrom, tss - promoter_anchor // 2, tss + promoter_anchor // 2, g.chrom, c - anchor // 2,
                          c + anchor // 2, int(rng.poisson(20)) + 1, on, g.gene_id))
        truth.append((g.gene_id, int(has_motif), base + promoter_effect * has_motif))
    truth = _looped(genes, loops, truth, promoter_window)
    return _write(out, fa, seqs, genes, loops, truth, effect, noise, rng, annotation, activator, promoter_motif,
                  chrom_prefix)


def _looped(genes: pd.DataFrame, loops: list[tuple], truth: list[tuple], promoter_window: tuple[int, int]
            ) -> pd.DataFrame:
    """The truth table with each gene's loops and active anchors counted as the builder links them."""
    from seq2expr.data.genome.interactions import _overlap, promoter_intervals
    from seq2expr.data.genome.windows import WindowSpec

    up, down = promoter_window
    t = pd.DataFrame(truth, columns=["gene_id", "promoter_motif", "promoter_part"])
    lp = pd.DataFrame([lo[:3] + (lo[7],) for lo in loops], columns=["chrom", "start", "end", "active"])
    hits = _overlap(lp, promoter_intervals(genes, WindowSpec.single(up + down, up)))
    rows, active = hits["j"].to_numpy(), lp["active"].to_numpy()[hits["i"].to_numpy()].astype(np.int64)
    t["loops"] = np.bincount(rows, minlength=len(t))
    t["active_anchors"] = np.bincount(rows, weights=active, minlength=len(t)).astype(np.int64)
    return t


def _write(out: str | Path, fa: Genome, seqs: dict[str, bytearray], genes: pd.DataFrame, loops: list[tuple],
           truth: pd.DataFrame, effect: dict[str, float], noise: float, rng: np.random.Generator,
           annotation: str | Path, activator: str, promoter_motif: str, prefix: str) -> PlantedLoops:
    """The folder's files, written together (a temporary folder moved into place)."""
    out = Path(out)
    t = truth
    expr = pd.DataFrame({"gene_id": t["gene_id"]})
    for tissue, e in effect.items():
        t[f"log2_{tissue}"] = t["promoter_part"] + e * t["active_anchors"]
        expr[tissue] = np.round(2.0 ** (t[f"log2_{tissue}"] + rng.normal(0, noise, len(t))), 3)
    lp = pd.DataFrame(loops, columns=["chrom1", "start1", "end1", "chrom2", "start2", "end2", "score", "active",
                                      "gene_id"])
    lp[["start1", "start2"]] = lp[["start1", "start2"]].clip(lower=0)
    for c in ("chrom1", "chrom2"):
        lp[c] = prefix + lp[c].astype(str)
    lp.insert(6, "name", [f"loop{i}" for i in range(len(lp))])
    with atomic_path(out, is_dir=True) as tmp:
        with open(tmp / "genome.fa", "w") as fh:
            for name in fa.names:
                fh.write(f">{name}\n")
                s = seqs[name].decode()
                fh.writelines(s[i:i + 80] + "\n" for i in range(0, len(s), 80))
        with open(tmp / "loops.bedpe", "w") as fh:
            fh.write("#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\tname\tscore\n")
            lp.iloc[:, :8].to_csv(fh, sep="\t", header=False, index=False)
        expr.to_csv(tmp / "expression.tsv", sep="\t", index=False)
        t.to_csv(tmp / "truth.tsv", sep="\t", index=False)
        lp.to_csv(tmp / "loops_truth.tsv", sep="\t", index=False)
    fa.close()
    return PlantedLoops(out, out / "genome.fa", Path(annotation), out / "loops.bedpe", out / "expression.tsv",
                        out / "truth.tsv", activator, promoter_motif, tuple(effect))
