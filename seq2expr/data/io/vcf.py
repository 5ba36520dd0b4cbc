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
from seq2expr.files import FileError, reading, reads

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


def open_vcf(path: str | Path, *, declare_missing: bool = False):
    """A pysam ``VariantFile`` with htslib's own messages silenced (errors are reported by the caller); a VCF
    compressed with plain gzip is read from a bgzip copy (:func:`readable_vcf`). ``declare_missing``: the tags its
    records use but its header does not declare are added to the header before any record is read
    (:func:`undeclared`): needed for records that are copied into another file."""
    import pysam

    pysam.set_verbosity(0)
    try:
        vcf = pysam.VariantFile(str(readable_vcf(Path(path))))
    except FileError:  # the bgzip copy could not read the file: already one line naming it
        raise
    except (OSError, ValueError) as err:
        raise DataError(f"not a readable VCF/BCF ({err})", source=str(path)) from None
    if declare_missing:
        declare(vcf.header, undeclared(path, vcf.header))
    return vcf


def is_plain_gzip(path: str | Path) -> bool:
    """A gzip file that is not BGZF (bgzip's blocked gzip: an extra field ``BC`` in every block header)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    return head[:2] == b"\x1f\x8b" and not (len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC")


_BGZIP_COPIES: dict[tuple, tuple] = {}  # (path, mtime, size) -> (TemporaryDirectory, copy): one copy per process


def readable_vcf(path: Path) -> Path:
    """The file htslib reads for ``path``: itself, or for a VCF compressed with plain gzip (htslib reads only bgzip's
    blocks, and fails with 'seek not implemented') a bgzip copy in a temporary folder, made once per process and
    removed at exit. Recompressing the file with ``bgzip`` avoids the copy."""
    if not path.name.lower().endswith(("gz", "bgz")) or not path.is_file() or not is_plain_gzip(path):
        return path
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _BGZIP_COPIES:
        import logging
        import shutil
        import tempfile

        import pysam

        tmp = tempfile.TemporaryDirectory(prefix="seq2expr-vcf-")
        copy = Path(tmp.name) / "input.vcf.gz"
        try:
            with reading(path), gzip.open(path, "rb") as src:
                dst = pysam.BGZFile(str(copy), "wb")
                try:
                    shutil.copyfileobj(src, dst, 1 << 20)
                finally:
                    dst.close()
        except BaseException:
            tmp.cleanup()
            raise
        # said once the copy is whole: a broken file gets its error line alone
        logging.getLogger(__name__).info("%s is compressed with plain gzip, not bgzip: read from a bgzip copy (run "
                                         "`gunzip -c FILE | bgzip > FILE.bgz` to skip this)", path)
        _BGZIP_COPIES[key] = (tmp, copy)
    return _BGZIP_COPIES[key][1]


_UNDECLARED: dict[tuple, dict[str, set[str]]] = {}  # (path, mtime, size) -> what its records use


def undeclared(path: str | Path, header) -> dict[str, list[str]]:
    """Contigs, FILTERs, INFO and FORMAT keys the records of a text VCF use but its ``header`` does not declare.

    htslib reads such a record, but marks it, and copying it into any other file (``translate``) then ends the
    process without a word. Public VCFs often carry undeclared tags, so they are declared in the reader's header
    before reading (:func:`declare`). One pass over the file's text (once per process and file).
    """
    path = Path(path)
    if path.name.lower().endswith(".bcf"):  # BCF records refer to the header's dictionary: nothing undeclared
        return {}
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _UNDECLARED:
        _UNDECLARED[key] = _used_keys(path)
    used = _UNDECLARED[key]
    declared = {"contig": header.contigs, "filter": header.filters, "info": header.info, "format": header.formats}
    return {k: sorted(v - set(declared[k].keys())) for k, v in used.items() if v - set(declared[k].keys())}


def _used_keys(path: Path) -> dict[str, set[str]]:
    """The contigs, FILTERs, INFO and FORMAT keys the records of a text VCF use."""
    used: dict[str, set[str]] = {"contig": set(), "filter": set(), "info": set(), "format": set()}
    with reading(path), _opener(path)(path, "rt", errors="replace") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t", 9)
            if len(f) < 8:
                continue
            used["contig"].add(f[0])
            used["filter"].update(x for x in f[6].split(";") if x not in (".", "PASS", ""))
            used["info"].update(x.split("=", 1)[0] for x in f[7].split(";") if x not in (".", ""))
            if len(f) > 8:
                used["format"].update(x for x in f[8].split(":") if x not in (".", ""))
    return used


def declare(header, missing: dict[str, list[str]]) -> None:
    """Add header lines for :func:`undeclared` entries, as htslib assumes them when reading (String, Number=1;
    ``END``, the record's end position, an Integer as the VCF specification reserves it)."""
    why = "Not declared in the input VCF header (added by seq2expr)"
    for name in missing.get("contig", []):
        header.contigs.add(name)
    for name in missing.get("filter", []):
        header.filters.add(name, None, None, why)
    for name in missing.get("info", []):
        header.info.add(name, "1", "Integer" if name == "END" else "String", why)
    for name in missing.get("format", []):
        header.formats.add(name, "1", "String", why)


def _read_vcf(path: Path, chunk_size: int, keep_records: bool) -> Iterator[tuple[pd.DataFrame, list | None]]:
    vcf = open_vcf(path, declare_missing=keep_records)  # kept records are copied into the annotated VCF
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
