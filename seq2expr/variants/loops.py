"""Variants that follow loops: gene mode for a promoter + distal model (``dual`` on ``dual_sequence``).

Each row of the model's gene table (``seq2expr data genes --interactions``) is one input: the gene's window, the
spacer, then its distal windows (``distal_regions``, each read in the gene's orientation). :class:`LoopWindows`
places a variant in every such input whose gene window or distal window holds it, so a variant inside a distal
anchor is scored on every gene that anchor loops to (and on no other gene), and a variant in a promoter is scored
as in plain gene mode. Each output row names the input part (``input``: ``promoter`` or ``distal``), the
``loop`` and the ``distal_region`` that hold the variant, and the table row (``sample``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.data.genome.fasta import Genome, padded_slice, reconcile_chromosomes
from seq2expr.data.genome.windows import DistalLayout, WindowSource
from seq2expr.data.sequences import reverse_complement
from seq2expr.variants.place import GeneWindows, edited_part


def _regions(text: str) -> list[tuple[str, int, int]]:
    """``chrom:start-end;...`` -> ``[(chrom, start, end), ...]``."""
    out = []
    for item in filter(None, str(text).split(";")):
        chrom, span = item.rsplit(":", 1)
        start, end = span.split("-")
        out.append((chrom, int(start), int(end)))
    return out


@dataclass
class LoopWindows(GeneWindows):
    """Gene-mode placement over promoter + distal inputs: ``genes`` holds one row per input (``gene_id, gene_name,
    chrom, strand, tss, tts, sample, distal_regions, loops``), ``distal`` the layout the model was trained with."""

    distal: DistalLayout | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        g, d = self.genes, self.distal
        self.n_gene_parts = self.start.shape[1]
        n = len(g)
        extra = [np.zeros((n, d.slots), np.int64) for _ in range(3)]
        self.part_chrom = np.empty((n, self.n_gene_parts + d.slots), dtype=object)
        self.part_chrom[:, : self.n_gene_parts] = g["chrom"].to_numpy()[:, None]
        self.slot_loops = np.full((n, d.slots), "", dtype=object)
        first = self.spec.length + d.spacer
        rows = []
        for i, (regions, loops) in enumerate(zip(g["distal_regions"], g["loops"], strict=True)):
            names = str(loops).split(";") if loops else []
            for k, (chrom, s, e) in enumerate(_regions(regions)[: d.slots]):
                offset = first + k * (d.window + d.slot_spacer)
                extra[0][i, k], extra[1][i, k], extra[2][i, k] = s, e, offset
                self.part_chrom[i, self.n_gene_parts + k] = chrom
                self.slot_loops[i, k] = names[k] if k < len(names) else ""
                rows.append((i, self.n_gene_parts + k, chrom, s, e, s, offset))
        self.start, self.end, self.offset = (np.concatenate([a, b], axis=1) for a, b in
                                             zip((self.start, self.end, self.offset), extra, strict=True))
        self.intervals = pd.concat([self.intervals, pd.DataFrame(rows, columns=self.intervals.columns)],
                                   ignore_index=True)

    @property
    def length(self) -> int:
        return self.spec.length + self.distal.spacer + self.distal.length

    def _distal(self, genome: Genome, i: int, edit: tuple[str, int, str, str] | None = None) -> str:
        """The distal input of row ``i``; ``edit = (chrom, p0, ref, alt)`` applies a variant where it falls."""
        d, minus = self.distal, self.minus[i]
        slots = []
        for k in range(d.slots):
            part = self.n_gene_parts + k
            chrom = self.part_chrom[i, part]
            if chrom is None:
                slots.append("N" * d.window)
                continue
            s, e = int(self.start[i, part]), int(self.end[i, part])
            seq = genome.sequence(chrom)
            text = edited_part(seq, s, e, s, edit[1], len(edit[2]), edit[3]) if edit and edit[0] == chrom \
                else padded_slice(seq, s, e)
            slots.append(reverse_complement(text) if minus else text)
        return "N" * d.spacer + ("N" * d.slot_spacer).join(slots)

    def ref_window(self, genome: Genome, i: int) -> str:
        gene = super().ref_window(genome, i)
        return gene + self._distal(genome, i)

    def alt_window(self, genome: Genome, i: int, p0: int, ref: str, alt: str, chrom: str | None = None) -> str:
        own = chrom is None or chrom == self.genes.at[i, "chrom"]
        gene = super().alt_window(genome, i, p0, ref, alt) if own else super().ref_window(genome, i)
        return gene + self._distal(genome, i, (chrom or self.genes.at[i, "chrom"], p0, ref, alt))

    def masked(self) -> np.ndarray:
        d = self.distal
        first = self.spec.length
        idx = list(range(first, first + d.spacer))
        for k in range(1, d.slots):
            start = first + d.spacer + k * d.window + (k - 1) * d.slot_spacer
            idx += list(range(start, start + d.slot_spacer))
        return np.concatenate([super().masked(), np.asarray(idx, dtype=np.int64)])

    def substitution_index(self, gene: np.ndarray, gpos: np.ndarray, part: int, chrom: np.ndarray | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
        index, minus = super().substitution_index(gene, gpos, part)
        if chrom is not None:
            index = np.where(self.part_chrom[gene, part] == np.asarray(chrom, dtype=object), index, -1)
        return index, minus

    def annotate(self, gene: np.ndarray, part: np.ndarray, info: pd.DataFrame) -> pd.DataFrame:
        """The input part, loop and distal region of each scored row, and the gene table row it is."""
        slot = part - self.n_gene_parts
        distal = slot >= 0
        k = np.where(distal, slot, 0)
        region = np.where(distal, [f"{c}:{s}-{e}" for c, s, e in zip(self.part_chrom[gene, part],
                                                                     self.start[gene, part], self.end[gene, part],
                                                                     strict=True)], "")
        return info.assign(sample=self.genes["sample"].to_numpy()[gene], input=np.where(distal, "distal", "promoter"),
                           loop=np.where(distal, self.slot_loops[gene, k], ""), distal_region=region)


def load_loop_rows(source: WindowSource, genome: Genome, *, genes: str | Path | None = None) -> tuple[pd.DataFrame,
                                                                                                    dict]:
    """The rows of a promoter + distal model's gene table (``genes``, else the one it was trained on), on the
    genome's chromosome names."""
    from seq2expr.data.genome.build import load_gene_dataset

    path = genes or source.table
    if path is None:
        raise DataError("a promoter + distal model scores variants on its gene table (the loops are in it): pass "
                        "--genes with a table built by `seq2expr data genes --interactions`")
    raw = load_gene_dataset(path)
    need = {"id", "chromosome", "strand", "tss", "tts", "distal_regions", "loops"}
    if need - set(raw.columns):
        raise DataError(f"not a table built with --interactions: no {sorted(need - set(raw.columns))} column(s)",
                        source=str(path))
    regions = raw["distal_regions"].fillna("").astype(str)
    names = set(raw["chromosome"].astype(str)) | {c for r in regions for c, _, _ in _regions(r)}
    cmap, crep = reconcile_chromosomes(sorted(names), genome.names)
    table = pd.DataFrame({
        "gene_id": (raw["gene_id"] if "gene_id" in raw else raw["id"]).astype(str).to_numpy(),
        "gene_name": raw["gene_name"].astype(str).to_numpy() if "gene_name" in raw else raw["id"].astype(str),
        "chrom": raw["chromosome"].astype(str).map(cmap).to_numpy(), "strand": raw["strand"].to_numpy(),
        "tss": raw["tss"].astype(np.int64).to_numpy(), "tts": raw["tts"].astype(np.int64).to_numpy(),
        "sample": raw["id"].astype(str).to_numpy(), "loops": raw["loops"].fillna("").astype(str).to_numpy(),
        "distal_regions": [";".join(f"{cmap[c]}:{s}-{e}" for c, s, e in _regions(r) if c in cmap) for r in regions]})
    table = table.dropna(subset=["chrom"]).reset_index(drop=True)
    if table.empty:
        raise DataError(f"no gene lies on a chromosome of the genome (genome: {genome.names[:8]})", source=str(path))
    return table, {"source": str(path), "genes": int(table["gene_id"].nunique()), "rows": len(table),
                   "chromosomes": crep}
