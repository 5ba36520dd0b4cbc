"""Where a variant lands in a model's input, and the reference and alternative windows it gives.

Two placements:

* **gene mode** (models trained on ``seq2expr data genes`` windows): a variant is scored for every gene whose
  window (TSS part, and TTS part for split windows) contains it; windows are rebuilt exactly as for training,
  in transcript orientation (minus-strand genes reverse-complemented).
* **centred mode** (MPRA-style models): a window of the model's variable length centred on the allele, between
  the construct's fixed flanks when there are any (a promoter model then scores only its variable region).

Indel policy (windows keep the model's length): in gene mode each window part keeps its *anchor* (the TSS, or
the TTS boundary) at the same index. A variant that ends before the anchor keeps the part's far end: the
sequence between variant and anchor shifts, and bases enter (deletion) or leave (insertion) at the upstream
end. Otherwise the part's start stays and the shift happens at its downstream end. This equals reading the
window from the edited genome with the annotation lifted over it. In centred mode, the reference and
alternative windows are each centred on their own allele (``(V - len(allele)) // 2`` bases before it).
SNVs and MNVs change only their own positions; they are applied to the encoded reference window directly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.data.genome.fasta import Genome, padded_slice, reconcile_chromosomes
from seq2expr.data.genome.windows import WindowSource, WindowSpec, assemble_window, window_parts
from seq2expr.data.sequences import reverse_complement

_CODE = {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}


def edited_part(seq: str, start: int, end: int, anchor: int, p0: int, ref_len: int, alt: str) -> str:
    """The bases of window part ``[start, end)`` (+ strand, anchor as in :func:`window_parts`) after replacing
    ``seq[p0:p0 + ref_len]`` by ``alt``, under the module's indel policy."""
    length, p1 = end - start, p0 + ref_len
    if p1 <= start or p0 >= end:
        return padded_slice(seq, start, end)
    if p1 <= anchor:  # before the anchor: the far (downstream) end stays, the upstream end moves
        right = padded_slice(seq, p1, end)
        need = length - len(right) - len(alt)
        return padded_slice(seq, p0 - need, p0) + alt + right if need >= 0 else (alt + right)[-length:]
    left, mid = (padded_slice(seq, start, p0), alt) if start <= p0 else ("", alt[min(start - p0, len(alt)):])
    need = length - len(left) - len(mid)
    return left + mid + padded_slice(seq, p1, p1 + need) if need >= 0 else (left + mid)[:length]


@dataclass
class GeneWindows:
    """Gene-mode placement: genes (``gene_id, chrom, strand, tss, tts`` on the genome's chromosome names) and
    the window spec the model was trained with."""

    genes: pd.DataFrame
    spec: WindowSpec
    intervals: pd.DataFrame = field(init=False)  # one row per window part: gene, chrom, start, end, anchor, offset

    def __post_init__(self) -> None:
        g = self.genes.reset_index(drop=True)
        self.genes = g
        n_parts = 1 if self.spec.tts_upstream is None else 2
        # (genes, parts) arrays: genomic start/end and the part's first index in the window
        self.start, self.end, self.offset = (np.zeros((len(g), n_parts), np.int64) for _ in range(3))
        self.minus = (g["strand"] == "-").to_numpy()
        rows = []
        for i, (chrom, strand, tss, tts) in enumerate(zip(g["chrom"], g["strand"], g["tss"], g["tts"], strict=True)):
            offset = 0
            for k, (s, e, a) in enumerate(window_parts(strand, int(tss), int(tts), self.spec)):
                rows.append((i, k, chrom, s, e, a, offset))
                self.start[i, k], self.end[i, k], self.offset[i, k] = s, e, offset
                offset += (e - s) + self.spec.spacer
        self.intervals = pd.DataFrame(rows, columns=["gene", "part", "chrom", "start", "end", "anchor", "offset"])

    @property
    def length(self) -> int:
        return self.spec.length

    def ref_window(self, genome: Genome, i: int) -> str:
        chrom, strand = self.genes.at[i, "chrom"], self.genes.at[i, "strand"]
        seq = genome.sequence(chrom)
        parts = [padded_slice(seq, s, e) for s, e, _ in window_parts(strand, int(self.genes.at[i, "tss"]),
                                                               int(self.genes.at[i, "tts"]), self.spec)]
        return assemble_window([reverse_complement(p) for p in parts] if strand == "-" else parts, self.spec)

    def alt_window(self, genome: Genome, i: int, p0: int, ref: str, alt: str, chrom: str | None = None) -> str:
        """Gene ``i``'s window with ``ref`` at ``p0`` replaced by ``alt`` (on the gene's chromosome: every part of
        a gene window is; ``chrom`` matters to windows with parts elsewhere, :mod:`seq2expr.variants.loops`)."""
        chrom, strand = self.genes.at[i, "chrom"], self.genes.at[i, "strand"]
        seq = genome.sequence(chrom)
        parts = [edited_part(seq, s, e, a, p0, len(ref), alt)
                 for s, e, a in window_parts(strand, int(self.genes.at[i, "tss"]), int(self.genes.at[i, "tts"]),
                                             self.spec)]
        return assemble_window([reverse_complement(p) for p in parts] if strand == "-" else parts, self.spec)

    def masked(self) -> np.ndarray:
        """Window indices always N (the spacer, and the codon masks): substitutions there change nothing."""
        spec, idx = self.spec, []
        if spec.mask_codons:
            idx += list(range(spec.upstream, spec.upstream + min(3, spec.downstream)))
        if spec.tts_upstream is not None:
            tss_len = spec.upstream + spec.downstream
            idx += list(range(tss_len, tss_len + spec.spacer))
            if spec.mask_codons:
                k = tss_len + spec.spacer
                idx += list(range(k + max(spec.tts_upstream - 3, 0), k + spec.tts_upstream))
        return np.asarray(idx, dtype=np.int64)

    def substitution_index(self, gene: np.ndarray, gpos: np.ndarray, part: int, chrom: np.ndarray | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Window index of 0-based genome position ``gpos`` in part ``part`` of each ``gene`` (vectorised; -1 where
        the position is outside that part), and whether the base is complemented there (minus strand). ``chrom``
        (the variants' chromosomes) matters only to windows with parts on other chromosomes."""
        start, end, offset = self.start[gene, part], self.end[gene, part], self.offset[gene, part]
        minus = self.minus[gene]
        index = np.where(minus, offset + (end - 1 - gpos), offset + (gpos - start))
        return np.where((gpos >= start) & (gpos < end), index, -1), minus

    def annotate(self, gene: np.ndarray, part: np.ndarray, info: pd.DataFrame) -> pd.DataFrame:
        """Columns a placement adds to each scored row (none here; the loop and input part for promoter + distal
        windows, :class:`seq2expr.variants.loops.LoopWindows`)."""
        return info

    def overlaps(self, variants: pd.DataFrame) -> pd.DataFrame:
        """Pairs ``(row, gene, part)``: each variant row (``chrom, start, end`` of its REF span) with every window
        part it touches, through bioframe's interval overlap."""
        import bioframe

        iv = self.intervals[["chrom", "start", "end", "gene", "part"]]
        v = variants[["chrom", "start", "end"]].assign(row=np.arange(len(variants)))
        with warnings.catch_warnings():  # bioframe's own use of pandas' deprecated inplace= keyword
            warnings.filterwarnings("ignore", message=".*inplace keyword.*")
            hits = bioframe.overlap(v, iv, how="inner", suffixes=("", "_w"), return_index=False)
        return hits[["row", "gene_w", "part_w"]].rename(columns={"gene_w": "gene", "part_w": "part"}).astype(np.int64)


@dataclass
class CentredWindows:
    """Centred-mode placement: the model's input is ``left + variable region + right``; the variable region
    (``length - len(left) - len(right)`` bases of genome) is centred on the allele."""

    length: int
    left: str = ""
    right: str = ""

    def __post_init__(self) -> None:
        self.left, self.right = self.left.upper(), self.right.upper()
        if self.variable < 1:
            raise DataError(f"the construct's flanks ({len(self.left)} + {len(self.right)} bp) leave no room in the "
                            f"model's {self.length}-bp input")

    @property
    def variable(self) -> int:
        return self.length - len(self.left) - len(self.right)

    def ref_start(self, p0: int, ref_len: int) -> int:
        """Genome position of the variable region's first base for a reference allele at ``p0``."""
        return p0 - (self.variable - ref_len) // 2

    def ref_window(self, seq: str, p0: int, ref: str) -> str:
        s = self.ref_start(p0, len(ref))
        return self.left + padded_slice(seq, s, s + self.variable) + self.right

    def alt_window(self, seq: str, p0: int, ref: str, alt: str) -> str:
        before = (self.variable - len(alt)) // 2
        after = self.variable - before - len(alt)
        p1 = p0 + len(ref)
        return self.left + padded_slice(seq, p0 - before, p0) + alt + padded_slice(seq, p1, p1 + after) + self.right


def substitute(codes: np.ndarray, index: np.ndarray, alt_codes: np.ndarray, masked: np.ndarray | None = None
               ) -> np.ndarray:
    """Rows of ``codes`` (a copy) with ``alt_codes[j]`` written at ``index[j]`` of row ``j``; masked indices
    (always-N positions) are left as they are."""
    out = codes.copy()
    keep = np.ones(len(index), bool) if masked is None or not len(masked) else ~np.isin(index, masked)
    rows = np.arange(len(index))
    out[rows[keep], index[keep]] = alt_codes[keep]
    return out


def allele_codes(alleles: pd.Series | list[str]) -> np.ndarray:
    """First base of each allele as a code (A=0 ... N=4)."""
    return np.fromiter((_CODE[a[0]] for a in alleles), dtype=np.uint8, count=len(alleles))


def load_genes(source: WindowSource | None, genome: Genome, *, genes: str | Path | None = None,
               annotation: str | Path | None = None, tss_bed: str | Path | None = None,
               tss_names: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Gene positions (``gene_id, gene_name, chrom, strand, tss, tts`` on the genome's names) for gene mode.

    From, in order: an annotation (GTF/GFF3, + a TSS BED) with the model's TSS/TTS rules; a gene table
    (``id``/``gene_id``, ``chromosome``/``chrom``, ``strand``, ``tss``, ``tts``; e.g. one built by ``seq2expr
    data genes``); else the gene table the model was trained on. Chromosome names are matched to the genome's
    (the renaming is reported).
    """
    if annotation is not None:
        from seq2expr.data.io.annotation import apply_tss_bed, read_bed, read_genes, read_name_table

        table = read_genes(annotation, tss_from=(source.tss_from if source else "gene"))
        biotypes = source.biotypes if source else None
        if biotypes:
            table = table[table["biotype"].isin(biotypes)]
        cmap, crep = reconcile_chromosomes(table["chrom"].unique(), genome.names)
        table = table.assign(chrom=table["chrom"].map(cmap)).dropna(subset=["chrom"])
        if tss_bed is not None:
            bed = read_bed(tss_bed)
            bmap, _ = reconcile_chromosomes(bed["chrom"].unique(), genome.names)
            names = read_name_table(tss_names) if tss_names is not None else None
            table, _ = apply_tss_bed(table, bed, names=names, chrom_map=bmap,
                                     use_end_as_tts=bool(source and source.tss_bed_tts), source=str(tss_bed))
        where = str(annotation)
    else:
        path = genes or (source.table if source else None)
        if path is None:
            raise DataError("gene mode needs gene positions: the model records no gene table; pass an annotation "
                            "(--annotation) or a gene table (--genes)")
        from seq2expr.data.genome.build import load_gene_dataset

        raw = load_gene_dataset(path)
        if "gene_id" in raw.columns:  # a table of one row per interaction holds each gene several times
            raw = raw.drop_duplicates("gene_id")
        cols = {c.lower(): c for c in raw.columns}
        pick = {"gene_id": ("gene_id", "id"), "chrom": ("chromosome", "chrom"), "strand": ("strand",),
                "tss": ("tss",), "tts": ("tts",)}
        found = {}
        for key, names in pick.items():
            hit = next((cols[n] for n in names if n in cols), None)
            if hit is None:
                raise DataError(f"gene table needs columns id, chromosome, strand, tss, tts (0-based); no {key}",
                                source=str(path))
            found[key] = hit
        table = pd.DataFrame({k: raw[v].to_numpy() for k, v in found.items()})
        table["gene_name"] = raw[cols["gene_name"]].to_numpy() if "gene_name" in cols else table["gene_id"]
        cmap, crep = reconcile_chromosomes(table["chrom"].astype(str).unique(), genome.names)
        table = table.assign(chrom=table["chrom"].astype(str).map(cmap)).dropna(subset=["chrom"])
        where = str(path)
    if table.empty:
        raise DataError(f"no gene lies on a chromosome of the genome (genome: {genome.names[:8]})", source=where)
    out = table[["gene_id", "gene_name", "chrom", "strand", "tss", "tts"]].reset_index(drop=True)
    out = out.astype({"gene_id": str, "gene_name": str, "chrom": str, "tss": np.int64, "tts": np.int64})
    return out, {"source": where, "genes": len(out), "chromosomes": crep}
