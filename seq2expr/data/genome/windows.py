"""Sequence windows around a gene's TSS and TTS, in transcript orientation.

DeepCRE layout (Peleke et al. 2024, the default): ``upstream`` bases before the TSS and ``downstream`` bases
from it, an ``N`` spacer (DeepCRE: 20), then ``tts_upstream`` bases up to and including the TTS and
``tts_downstream`` after it -> 1000 + 500 + 20 + 500 + 1000 = 3,020 bp. A single window around the TSS
(Xpresso: 7,000 upstream + 3,500 downstream = 10.5 kb; any length up to tens of kb) is the same spec with
``tts_upstream=None``. Minus-strand genes are reverse-complemented so every window reads 5' -> 3' of the
transcript with the TSS at index ``upstream``. Windows running off a chromosome are N-padded and flagged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from seq2expr.data.genome.fasta import Genome


@dataclass(frozen=True)
class WindowSpec:
    """Where the sequence around a gene comes from (all lengths in bases)."""

    upstream: int = 1000  # before the TSS
    downstream: int = 500  # from the TSS into the gene
    tts_upstream: int | None = 500  # up to and including the TTS; None: TSS window only
    tts_downstream: int = 1000  # after the TTS
    spacer: int = 20  # Ns between the TSS and TTS windows
    mask_codons: bool = False  # DeepCRE: N over the 3 bases at the TSS and the 3 ending at the TTS

    def __post_init__(self):
        sizes = [self.upstream, self.downstream, self.tts_downstream, self.spacer, self.tts_upstream or 0]
        if min(sizes) < 0:
            raise ValueError(f"window sizes must be >= 0: {self}")
        if self.upstream + self.downstream == 0:
            raise ValueError("the TSS window is empty")

    @classmethod
    def single(cls, length: int, upstream: int | None = None) -> WindowSpec:
        """One window of ``length`` around the TSS; by default 2/3 upstream (Xpresso: 7,000 + 3,500)."""
        up = round(length * 2 / 3) if upstream is None else upstream
        if not 0 <= up <= length:
            raise ValueError(f"upstream {up} must lie within the window length {length}")
        return cls(upstream=up, downstream=length - up, tts_upstream=None, tts_downstream=0, spacer=0)

    @property
    def length(self) -> int:
        n = self.upstream + self.downstream
        if self.tts_upstream is not None:
            n += self.spacer + self.tts_upstream + self.tts_downstream
        return n

    def to_dict(self) -> dict:
        return {**asdict(self), "length": self.length}


def tss_interval(tss: int, strand: str, spec: WindowSpec) -> tuple[int, int]:
    """Genomic ``[start, end)`` of the TSS window (before any reverse complement)."""
    if strand == "-":
        return tss - spec.downstream + 1, tss + spec.upstream + 1
    return tss - spec.upstream, tss + spec.downstream


def tts_interval(tts: int, strand: str, spec: WindowSpec) -> tuple[int, int]:
    """Genomic ``[start, end)`` of the TTS window; the TTS base is the last of the ``tts_upstream`` part."""
    up = spec.tts_upstream or 0
    if strand == "-":
        return tts - spec.tts_downstream, tts + up
    return tts + 1 - up, tts + 1 + spec.tts_downstream


def gene_window(genome: Genome, chrom: str, strand: str, tss: int, tts: int, spec: WindowSpec) -> tuple[str, bool]:
    """The window sequence of one gene and whether any part was N-padded off a chromosome end."""
    s, e = tss_interval(tss, strand, spec)
    seq, padded = genome.fetch(chrom, s, e, strand)
    if spec.mask_codons:
        seq = seq[: spec.upstream] + "N" * min(3, spec.downstream) + seq[spec.upstream + 3:]
    if spec.tts_upstream is None:
        return seq, padded
    s, e = tts_interval(tts, strand, spec)
    tseq, tpad = genome.fetch(chrom, s, e, strand)
    if spec.mask_codons:
        k = spec.tts_upstream
        tseq = tseq[: max(k - 3, 0)] + "N" * min(3, k) + tseq[k:]
    return seq + "N" * spec.spacer + tseq, padded or tpad


def gene_windows(genome: Genome, genes: pd.DataFrame, spec: WindowSpec) -> tuple[list[str], np.ndarray]:
    """Windows for every row of ``genes`` (columns ``chrom, strand, tss, tts`` on the genome's names)."""
    seqs, padded = [], np.zeros(len(genes), dtype=bool)
    for i, (chrom, strand, tss, tts) in enumerate(zip(genes["chrom"], genes["strand"], genes["tss"],
                                                      genes["tts"], strict=True)):
        seq, padded[i] = gene_window(genome, chrom, strand, int(tss), int(tts), spec)
        seqs.append(seq)
    return seqs, padded
