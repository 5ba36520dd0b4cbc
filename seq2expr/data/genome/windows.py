"""Sequence windows around a gene's TSS and TTS, in transcript orientation.

DeepCRE layout (Peleke et al. 2024, the default): ``upstream`` bases before the TSS and ``downstream`` bases
from it, an ``N`` spacer (DeepCRE: 20), then ``tts_upstream`` bases up to and including the TTS and
``tts_downstream`` after it -> 1000 + 500 + 20 + 500 + 1000 = 3,020 bp. A single window around the TSS
(Xpresso: 7,000 upstream + 3,500 downstream = 10.5 kb; any length up to tens of kb) is the same spec with
``tts_upstream=None``. Minus-strand genes are reverse-complemented so every window reads 5' -> 3' of the
transcript with the TSS at index ``upstream``. Windows running off a chromosome are N-padded and flagged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from seq2expr.data.genome.fasta import Genome
from seq2expr.progress import track


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


def window_parts(strand: str, tss: int, tts: int, spec: WindowSpec) -> list[tuple[int, int, int]]:
    """The genomic pieces of a gene's window in transcript order: ``(start, end, anchor)`` per part.

    ``anchor`` is the genomic boundary between the part's upstream and downstream bases (the TSS, or just after
    the TTS; on the minus strand the mirror image). The variant layer keeps it at the same window index when an
    indel changes the length of the sequence around it.
    """
    s, e = tss_interval(tss, strand, spec)
    parts = [(s, e, tss + 1 if strand == "-" else tss)]
    if spec.tts_upstream is not None:
        s, e = tts_interval(tts, strand, spec)
        parts.append((s, e, tts if strand == "-" else tts + 1))
    return parts


def assemble_window(parts: list[str], spec: WindowSpec) -> str:
    """A window from its parts' sequences (in transcript orientation): the N spacer between the TSS and TTS parts,
    and DeepCRE's codon masks when the spec asks for them."""
    seq = parts[0]
    if spec.mask_codons:
        seq = seq[: spec.upstream] + "N" * min(3, spec.downstream) + seq[spec.upstream + 3:]
    if spec.tts_upstream is None:
        return seq
    tseq = parts[1]
    if spec.mask_codons:
        k = spec.tts_upstream
        tseq = tseq[: max(k - 3, 0)] + "N" * min(3, k) + tseq[k:]
    return seq + "N" * spec.spacer + tseq


def gene_window(genome: Genome, chrom: str, strand: str, tss: int, tts: int, spec: WindowSpec) -> tuple[str, bool]:
    """The window sequence of one gene and whether any part was N-padded off a chromosome end."""
    fetched = [genome.fetch(chrom, s, e, strand) for s, e, _ in window_parts(strand, tss, tts, spec)]
    return assemble_window([seq for seq, _ in fetched], spec), any(pad for _, pad in fetched)


def gene_windows(genome: Genome, genes: pd.DataFrame, spec: WindowSpec) -> tuple[list[str], np.ndarray]:
    """Windows for every row of ``genes`` (columns ``chrom, strand, tss, tts`` on the genome's names)."""
    seqs, padded = [], np.zeros(len(genes), dtype=bool)
    rows = zip(genes["chrom"], genes["strand"], genes["tss"], genes["tts"], strict=True)
    for i, (chrom, strand, tss, tts) in enumerate(track(rows, total=len(genes), description="gene windows")):
        seq, padded[i] = gene_window(genome, chrom, strand, int(tss), int(tts), spec)
        seqs.append(seq)
    return seqs, padded


class DistalLayout(BaseModel):
    """The distal input of a model trained on ``dual_sequence`` (``seq2expr data genes --interactions``): the gene's
    window, ``spacer`` Ns, then ``slots`` windows of ``window`` bases (``slot_spacer`` Ns between them), each read in
    the gene's orientation. The regions of each row are the gene table's ``distal_regions``."""

    model_config = ConfigDict(extra="ignore")

    column: str = "dual_sequence"
    window: int
    slots: int = 1
    slot_spacer: int = 20
    spacer: int = 20
    policy: str = "slots"

    @property
    def length(self) -> int:
        """Bases of the distal input."""
        return self.slots * self.window + (self.slots - 1) * self.slot_spacer


class WindowSource(BaseModel):
    """How a gene data set's windows were built (``seq2expr data genes``), recorded in a model trained on it so
    that variant scoring rebuilds the same windows: the spec, the sources of gene positions, the gene table."""

    model_config = ConfigDict(extra="ignore")

    windows: WindowSpec
    table: str | None = None  # the built gene table (id, chromosome, strand, tss, tts on the genome's names)
    genome: str | None = None
    annotation: str | None = None
    tss_from: str = "gene"
    tss_bed: str | None = None
    tss_names: str | None = None
    tss_bed_tts: bool = False
    biotypes: list[str] | None = None
    strand_rule: str = "transcript orientation: minus-strand windows reverse-complemented"
    distal: DistalLayout | None = None  # promoter + distal input (model dual on dual_sequence)


def read_window_source(table: str | Path, column: str | None = None) -> WindowSource | None:
    """The :class:`WindowSource` of a gene table built by ``seq2expr data genes`` (its ``report.json`` beside
    it), or None when ``table`` is not such a table. A model reading ``column`` = the table's ``dual_sequence``
    also gets the table's :class:`DistalLayout`."""
    path = Path(table)
    report = (path if path.is_dir() else path.parent) / "report.json"
    try:
        rep = json.loads(report.read_text())
        settings, inputs = rep["settings"], rep["inputs"]
        spec = {k: v for k, v in settings["windows"].items() if k != "length"}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    loops, dual = settings.get("interactions"), rep.get("dual") or {}
    distal = None
    if loops and column is not None and column == dual.get("column"):
        distal = DistalLayout(column=column, window=loops["window"], slots=loops["slots"],
                              slot_spacer=loops["slot_spacer"], spacer=loops["spacer"], policy=loops["policy"])
    return WindowSource(windows=WindowSpec(**spec), table=str(path), genome=inputs.get("genome"),
                        annotation=inputs.get("annotation"), tss_from=settings.get("tss_from", "gene"),
                        tss_bed=inputs.get("tss_bed"), tss_names=inputs.get("tss_names"),
                        tss_bed_tts=bool(settings.get("tss_bed_tts", False)), biotypes=settings.get("biotypes"),
                        distal=distal)
