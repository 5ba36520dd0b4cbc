"""The files of a variant run: the streamed effect table, the input VCF annotated with one INFO field per target,
and the accumulators behind the report (the top variants, a bounded sample of every target's effects)."""

from __future__ import annotations

import heapq
import re
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.data.io.vcf import declare, open_vcf, undeclared
from seq2expr.tsv import TsvWriter

INFO_PREFIX = "S2E_"


def info_key(target: str) -> str:
    """A VCF INFO ID for a target name (letters, digits, ``_`` and ``.``; not starting with a digit)."""
    return INFO_PREFIX + re.sub(r"[^0-9A-Za-z_.]", "_", target)


class Table:
    """Chunks of a DataFrame appended to a TSV or a parquet file."""

    def __init__(self, path: Path):
        self.path, self.parquet, self.writer, self.fh, self.tsv = path, path.suffix == ".parquet", None, None, None

    def write(self, df: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, table.schema)
            self.writer.write_table(table.cast(self.writer.schema))
        else:
            if self.tsv is None:
                self.fh = open(self.path, "w", newline="")  # noqa: SIM115 - closed by close()
                self.tsv = TsvWriter(self.fh)
            self.tsv.write(df)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.fh is not None:
            self.fh.close()


class AnnotatedVcf:
    """The input VCF's records, re-written with the scores as INFO fields."""

    def __init__(self, source: Path, path: Path, targets: list[str], gene_mode: bool):
        import pysam

        self.targets = targets
        vcf = open_vcf(source)
        # tags the records use but the header does not declare: the reader declares them (read_variants with
        # keep_records), or htslib's copy of a record would end the process without a word; so does this header
        self.undeclared = undeclared(source, vcf.header)
        header = vcf.header.copy()
        vcf.close()
        declare(header, self.undeclared)
        what = "GENE" if gene_mode else "."
        for t in targets:
            header.info.add(info_key(t), ".", "String",
                            f"seq2expr predicted effect on {t} (alt - ref, original scale) per scored allele and "
                            f"window: ALT|{what}|EFFECT|PERCENTILE")
        self.out = pysam.VariantFile(str(path), "wz", header=header)

    def write(self, records: list, scores: pd.DataFrame, first_record: int) -> None:
        by_record: dict[int, dict[str, list[str]]] = {}
        gene = scores["gene_id"] if "gene_id" in scores else pd.Series(".", index=scores.index)
        for t in self.targets:
            pct = scores.get(f"percentile_{t}", pd.Series(np.nan, index=scores.index))
            for rec, alt, g, e, p in zip(scores["record"], scores["alt"], gene, scores[f"effect_{t}"], pct,
                                         strict=True):
                value = f"{alt}|{g}|{e:.4g}|{'.' if p != p else f'{p:.3g}'}"
                by_record.setdefault(int(rec), {}).setdefault(t, []).append(value)
        for k, rec in enumerate(records):
            rec.translate(self.out.header)
            for t, values in by_record.get(first_record + k, {}).items():
                rec.info[info_key(t)] = tuple(values)
            self.out.write(rec)

    def close(self) -> None:
        self.out.close()


class Reservoir:
    """A uniform random sample of at most ``size`` values from a stream (memory flat in the stream's length)."""

    def __init__(self, size: int = 200_000, seed: int = 0):
        self.size, self.seen, self.rng = size, 0, np.random.default_rng(seed)
        self.buf = np.empty(0, np.float32)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        room = self.size - len(self.buf)
        if room > 0:
            self.buf = np.concatenate([self.buf, x[:room]])
            self.seen += min(room, len(x))
            x = x[room:]
        if not len(x):
            return
        # each later value replaces a random slot with probability size / (number seen so far)
        j = (self.rng.random(len(x)) * (self.seen + np.arange(1, len(x) + 1))).astype(np.int64)
        hit = j < self.size
        self.buf[j[hit]] = x[hit]
        self.seen += len(x)

    def values(self) -> np.ndarray:
        return self.buf


def note_chunk(scores: pd.DataFrame, targets: list[str], effects: dict, best: list, offset: int, top: int) -> None:
    """Add a chunk of scored rows to the per-target effect samples and to the heap of the ``top`` largest
    |effect| rows (first target); ``offset`` numbers the chunk's rows for stable ties."""
    for t in targets:
        effects[t].add(scores[f"effect_{t}"].to_numpy(np.float32))
    key = np.abs(scores[f"effect_{targets[0]}"].to_numpy())
    for i in np.argsort(-key, kind="stable")[:top]:
        item = (float(key[i]), offset + int(i), scores.iloc[int(i)].to_dict())
        (heapq.heappushpop if len(best) >= top else heapq.heappush)(best, item)


def tabix(path: Path) -> bool:
    """Index the annotated VCF (.tbi) when its records are sorted, as tabix needs; False when they are not."""
    import pysam

    try:
        pysam.tabix_index(str(path), preset="vcf", force=True)
    except OSError:
        return False
    return True


def empty_reason(summary: dict) -> str:
    """Why a run scored no variant, in words (for ``summary.json`` and the command's message)."""
    if not summary.get("records"):
        where = "this shard of the input" if summary.get("shard") else "the input"
        return f"{where} holds no variant records (a header only?)"
    skipped = summary.get("skipped") or {}
    if skipped:
        return "every allele was skipped: " + "; ".join(f"{n} {summary['skip_reasons'].get(k, k)}"
                                                         for k, n in skipped.items())
    return "no allele could be scored"
