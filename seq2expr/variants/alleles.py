"""Variants in: a VCF/BCF (read with pysam) or a table ``chrom, pos, ref, alt[, id]``, streamed in chunks of
alleles (multi-allelic records split, one row per ALT), each classified or skipped with a stated reason.

Rows carry ``record`` (0-based index of the input record, so results can be joined back, e.g. into the annotated
VCF), ``line`` (the file line, for messages), ``chrom``, ``pos`` (1-based, as in VCF), ``id``, ``ref``, ``alt``
and ``kind``: ``snv``, ``mnv`` (same length), ``insertion``, ``deletion``, or the reason it is not scored.
A record the reader cannot parse at all is a :class:`~seq2expr.data.errors.DataError` naming file and line.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.files import reads

# why an allele is not scored; values are the explanations shown in summaries
SKIP_REASONS = {
    "symbolic": "symbolic, breakend or spanning-deletion ALT (<DEL>, N[chr:pos[, *)",
    "missing_alt": "no ALT allele (.)",
    "non_acgt": "REF or ALT with letters other than A, C, G, T",
    "identical": "ALT equals REF",
    "unknown_chromosome": "chromosome not in the genome",
    "ref_mismatch": "REF differs from the genome",
    "outside_windows": "in no gene's window",
    "allele_too_long": "allele longer than the model's input window",
}
SCORED_KINDS = ("snv", "mnv", "insertion", "deletion")
COLUMNS = ["record", "line", "chrom", "pos", "id", "ref", "alt", "kind"]
_ACGT = re.compile(r"[ACGT]+")
_TABLE_ALIASES = {"chrom": ("chrom", "#chrom", "chromosome", "chr", "seqnames", "contig"),
                  "pos": ("pos", "position", "start"), "ref": ("ref", "reference"), "alt": ("alt", "alternate"),
                  "id": ("id", "variant_id", "name", "rsid", "snp")}


def allele_kind(ref: str, alt: str) -> str:
    """``snv``/``mnv``/``insertion``/``deletion``, or the skip reason (see :data:`SKIP_REASONS`)."""
    if alt in (".", ""):
        return "missing_alt"
    if alt == "*" or alt.startswith("<") or "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
        return "symbolic"
    if not _ACGT.fullmatch(ref) or not _ACGT.fullmatch(alt):
        return "non_acgt"
    if ref == alt:
        return "identical"
    if len(ref) == len(alt):
        return "snv" if len(ref) == 1 else "mnv"
    return "insertion" if len(alt) > len(ref) else "deletion"


def is_vcf(path: str | Path) -> bool:
    name = Path(path).name.lower()
    return name.endswith((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf"))


@reads()
def read_variants(path: str | Path, *, chunk_size: int = 100_000, keep_records: bool = False
                  ) -> Iterator[tuple[pd.DataFrame, list | None]]:
    """Chunks of alleles from a VCF/BCF or a variant table; with ``keep_records`` (VCF) also each chunk's pysam
    records, in input order, for writing an annotated copy."""
    path = Path(path)
    if not path.is_file():
        raise DataError("variant file not found", source=str(path))
    if is_vcf(path):
        yield from _read_vcf(path, chunk_size, keep_records)
    else:
        for chunk in _read_table(path, chunk_size):
            yield chunk, None


def open_vcf(path: str | Path):
    """A pysam ``VariantFile`` with htslib's own messages silenced (errors are reported by the caller)."""
    import pysam

    pysam.set_verbosity(0)
    try:
        return pysam.VariantFile(str(path))
    except (OSError, ValueError) as err:
        raise DataError(f"not a readable VCF/BCF ({err})", source=str(path)) from None


def _read_vcf(path: Path, chunk_size: int, keep_records: bool) -> Iterator[tuple[pd.DataFrame, list | None]]:
    vcf = open_vcf(path)
    text = not path.name.lower().endswith(".bcf")
    header_lines = _header_lines(path) if text else 0
    rows: list[tuple] = []
    records: list = []
    i = -1
    it = iter(vcf)
    try:
        while True:
            try:
                rec = next(it)
            except StopIteration:
                break
            except (OSError, ValueError) as err:
                line = header_lines + i + 2
                raise DataError(_diagnose(path, line, err) if text else f"malformed record ({err})",
                                source=str(path), record=f"line {line}" if text else f"record {i + 2}") from None
            i += 1
            line = header_lines + i + 1 if text else None
            ref = (rec.ref or "").upper()
            if rec.pos < 1:
                raise DataError(f"POS {rec.pos} is not a 1-based position", source=str(path), record=f"line {line}")
            for alt in rec.alts or (".",):
                a = alt.upper()
                rows.append((i, line, rec.chrom, rec.pos, rec.id or f"{rec.chrom}:{rec.pos}", ref, a,
                             allele_kind(ref, a)))
            if keep_records:
                records.append(rec)
            if len(rows) >= chunk_size:
                yield _frame(rows), (records if keep_records else None)
                rows, records = [], []
        if rows or i < 0:
            yield _frame(rows), (records if keep_records else None)
    finally:
        vcf.close()


def _opener(path: Path):
    return gzip.open if path.name.lower().endswith(("gz", "bgz")) else open


def _header_lines(path: Path) -> int:
    """Lines before the first record of a text VCF (htslib's own header copy has lines the file does not)."""
    n = 0
    with _opener(path)(path, "rt", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            n += 1
    return n


def _diagnose(path: Path, line: int, err: Exception) -> str:
    """Why a VCF line could not be parsed, read from the line itself (htslib only says 'truncated file')."""
    try:
        with _opener(path)(path, "rt", errors="replace") as fh:
            text = next((t for n, t in enumerate(fh, 1) if n == line), None)
        if text is None:
            return f"unreadable record ({err})"
    except (OSError, EOFError):
        return f"unreadable record ({err})"
    fields = text.rstrip("\n").split("\t")
    if len(fields) < 8:
        return (f"{len(fields)} tab-separated field(s); a VCF record has at least 8 "
                "(CHROM POS ID REF ALT QUAL FILTER INFO)")
    if not fields[1].isdigit():
        return f"POS {fields[1]!r} is not a position"
    return f"malformed record ({err})"


def _frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype({"record": np.int64, "pos": np.int64, "chrom": str, "id": str, "ref": str, "alt": str})


def _find_columns(header: list[str], path: Path) -> dict[str, str]:
    low = {h.strip().lower(): h for h in header}
    found = {}
    for key, names in _TABLE_ALIASES.items():
        hit = next((low[n] for n in names if n in low), None)
        if hit is None and key != "id":
            raise DataError(f"no {key} column; a variant table has columns chrom, pos, ref, alt (and optionally id); "
                            f"found {header}", source=str(path), record="header")
        if hit is not None:
            found[key] = hit
    return found


def _read_table(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    sep = "," if ".csv" in path.name.lower() else "\t"
    try:
        reader = pd.read_csv(path, sep=sep, dtype=str, chunksize=chunk_size, comment=None, keep_default_na=False)
        start = 0
        cols = None
        for chunk in reader:
            if cols is None:
                cols = _find_columns(list(chunk.columns), path)
            n = len(chunk)
            lines = np.arange(start, start + n) + 2
            pos = pd.to_numeric(chunk[cols["pos"]], errors="coerce")
            bad = np.flatnonzero(pos.isna().to_numpy() | (pos.to_numpy() < 1))
            if bad.size:
                k = int(bad[0])
                raise DataError(f"pos {chunk[cols['pos']].iloc[k]!r} is not a 1-based position", source=str(path),
                                record=f"line {lines[k]}")
            ref = chunk[cols["ref"]].str.strip().str.upper().to_numpy()
            rows = []
            for k, (c, p, r, alts) in enumerate(zip(chunk[cols["chrom"]].str.strip(), pos.astype(np.int64), ref,
                                                    chunk[cols["alt"]].str.strip().str.upper(), strict=True)):
                vid = chunk[cols["id"]].iloc[k] if "id" in cols else f"{c}:{p}"
                for a in alts.split(",") if alts else ["."]:
                    rows.append((start + k, int(lines[k]), c, int(p), vid or f"{c}:{p}", r, a, allele_kind(r, a)))
            start += n
            yield _frame(rows)
        if cols is None:
            raise DataError("empty variant table", source=str(path))
    except (UnicodeDecodeError, pd.errors.ParserError, EOFError, OSError) as err:
        raise DataError(f"cannot read the variant table ({' '.join(str(err).split())})", source=str(path)) from None
