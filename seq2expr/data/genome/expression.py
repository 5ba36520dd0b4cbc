"""Gene expression tables: read, validate, match to the annotation, normalise to TPM, aggregate replicates.

Inputs: a genes x samples table (TSV/CSV(.gz) or parquet; first column or ``gene_column`` = gene ID), or a
folder / tarball of htseq-count style files (``gene<TAB>count``, one file per sample). htseq's counter rows
(``__no_feature`` etc., and the same names without ``__`` written by old htseq versions) are skipped.

Values may be read counts, TPM or FPKM. Counts become TPM with the annotation's exonic gene lengths
(``rate = counts / length_kb``; ``TPM = rate / sum(rate) * 1e6`` per sample, summed over every annotated gene
in the table, before any biotype filter), FPKM by rescaling each sample to sum to 1e6.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.files import reads

Units = Literal["auto", "counts", "tpm", "fpkm"]
Aggregate = Literal["mean", "median", "max", "none"]
HTSEQ_COUNTERS = {"no_feature", "ambiguous", "too_low_aQual", "not_aligned", "alignment_not_unique"}
_SUFFIXES = (".gz", ".txt", ".tsv", ".tab", ".csv", ".counts", ".count", ".htseq", ".gbgout", ".out", ".bam")


def sample_name(filename: str) -> str:
    """File name without counting-pipeline suffixes (``WT_rep01.bam.gbgout`` -> ``WT_rep01``)."""
    name = Path(filename).name
    changed = True
    while changed:
        changed = False
        for suf in _SUFFIXES:
            if name.lower().endswith(suf) and len(name) > len(suf):
                name, changed = name[: -len(suf)], True
    return name


def _read_htseq(fh, source: str, name: str) -> pd.Series:
    try:
        df = pd.read_csv(fh, sep="\t", header=None, dtype=str, comment=None, quoting=3)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"not a 2-column htseq-count file ({err})", source=source) from None
    if df.shape[1] != 2:
        raise DataError(f"htseq-count files have 2 columns (gene, count), this one has {df.shape[1]}",
                        source=source)
    gene = df[0].astype(str)
    df = df[~gene.str.startswith("__") & ~gene.isin(HTSEQ_COUNTERS)]
    values = pd.to_numeric(df[1], errors="coerce")
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise DataError(f"count {df[1].iloc[i]!r} is not a number", source=source, record=df[0].iloc[i])
    s = pd.Series(values.to_numpy(np.float64), index=df[0].to_numpy(), name=sample_name(name))
    _check_unique(s.index, source)
    return s


def _check_unique(index: pd.Index, source: str) -> None:
    dup = index[index.duplicated()]
    if len(dup):
        raise DataError(f"duplicate gene ID ({int(index.duplicated(keep=False).sum())} rows share "
                        f"{len(set(dup))} IDs)", source=source, record=dup[0])


def _combine_samples(series: list[pd.Series], source: str) -> pd.DataFrame:
    if not series:
        raise DataError("no count files found", source=source)
    names = [s.name for s in series]
    dup = [n for n in names if names.count(n) > 1]
    if dup:
        raise DataError(f"two count files give the same sample name {dup[0]!r}", source=source)
    first = series[0]
    for s in series[1:]:
        missing, extra = first.index.difference(s.index), s.index.difference(first.index)
        if len(missing) or len(extra):
            raise DataError(f"gene list differs from sample {first.name!r} (missing e.g. {missing[:3].tolist()}, "
                            f"extra e.g. {extra[:3].tolist()})", source=source, record=s.name)
    return pd.concat(series, axis=1).reindex(first.index)


@reads()
def read_htseq_dir(path: str | Path) -> pd.DataFrame:
    """All htseq-count files in a folder (hidden files skipped), one column per file."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    series = []
    for f in files:
        with open(f, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        series.append(_read_htseq(io.BytesIO(raw), str(f), f.name))
    return _combine_samples(series, str(path))


@reads()
def read_htseq_tar(path: str | Path) -> pd.DataFrame:
    """All htseq-count files inside a tarball (any compression tarfile reads)."""
    path = Path(path)
    series = []
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in sorted(tar.getmembers(), key=lambda m: m.name):
                base = Path(m.name).name
                if not m.isfile() or base.startswith("."):
                    continue
                fh = tar.extractfile(m)
                series.append(_read_htseq(io.BytesIO(fh.read()), f"{path}:{m.name}", base))
    except tarfile.TarError as err:
        raise DataError(f"cannot read tarball ({err})", source=str(path)) from None
    return _combine_samples(series, str(path))


def _separator(path: Path) -> str:
    """Tab, comma, or runs of whitespace, from the first line."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    with (gzip.open(path, "rt") if head == b"\x1f\x8b" else open(path)) as fh:
        first = fh.readline()
    return "\t" if "\t" in first else "," if "," in first else r"\s+"


@reads()
def read_table(path: str | Path, *, gene_column: str | None = None) -> pd.DataFrame:
    """A genes x samples table; descriptive text columns (names, biotypes) are dropped and listed in attrs."""
    path = Path(path)
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep=_separator(path), dtype=str, comment=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as err:
        raise DataError(f"cannot read expression table ({err})", source=str(path)) from None
    if df.shape[1] < 2:
        raise DataError("an expression table needs a gene column and at least one sample column",
                        source=str(path))
    gcol = gene_column or df.columns[0]
    if gcol not in df.columns:
        raise DataError(f"gene column {gcol!r} not found (columns: {list(df.columns)[:10]})", source=str(path))
    genes = df[gcol].astype(str).str.strip()
    dropped, cols = [], {}
    for c in df.columns:
        if c == gcol:
            continue
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        filled = raw.notna() & (raw.astype(str).str.strip() != "")
        if num[filled].isna().all():
            dropped.append(str(c))  # a text column: gene names, descriptions
            continue
        bad = filled & num.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"value {raw.iloc[i]!r} in sample {c!r} is not a number", source=str(path),
                            record=genes.iloc[i])
        cols[str(c)] = num.to_numpy(np.float64)
    if not cols:
        raise DataError("no numeric sample columns", source=str(path))
    out = pd.DataFrame(cols, index=pd.Index(genes.to_numpy(), name="gene_id"))
    out.attrs["dropped_columns"] = dropped
    return out


def read_expression(path: str | Path, *, gene_column: str | None = None,
                    samples: list[str] | None = None) -> pd.DataFrame:
    """Read a table, a folder of htseq files or a tarball of them; validate; optionally keep some samples.

    Raises :class:`DataError` (file, gene, reason) for duplicate genes, missing (NaN) or negative values.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("expression input not found", source=str(path))
    if path.is_dir():
        df = read_htseq_dir(path)
    elif re.search(r"\.(tar|tar\.gz|tgz|tar\.bz2|tar\.xz)$", path.name.lower()):
        df = read_htseq_tar(path)
    else:
        df = read_table(path, gene_column=gene_column)
    if samples:
        missing = [s for s in samples if s not in df.columns]
        if missing:
            raise DataError(f"samples {missing[:5]} not found (have {list(df.columns)[:10]})", source=str(path))
        df = df[samples]
    validate_expression(df, str(path))
    df.attrs["source"] = str(path)
    return df


def validate_expression(df: pd.DataFrame, source: str) -> None:
    """Unique gene IDs; no NaN; no negative values."""
    _check_unique(df.index, source)
    vals = df.to_numpy(np.float64)
    for bad, what in ((np.isnan(vals), "missing (NaN) value"), (vals < 0, "negative value")):
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise DataError(f"{what} {vals[r, c]} in sample {df.columns[c]!r}", source=source, record=df.index[r])


def guess_units(df: pd.DataFrame) -> str:
    """``counts`` when every value is a whole number, else ``tpm``."""
    vals = df.to_numpy(np.float64)
    return "counts" if np.all(vals == np.round(vals)) else "tpm"


def match_gene_ids(expr_ids: pd.Index, genes: pd.DataFrame, *, source: str | None = None
                   ) -> tuple[pd.Series, dict]:
    """Map expression IDs onto ``genes.gene_id`` via gene ID, unique gene name, or version-less ID.

    Picks whichever key matches most IDs. Returns ``(series expr_id -> gene_id, report)``; raises
    :class:`DataError` naming examples from both sides when nothing matches.
    """
    ids = pd.Index(expr_ids.astype(str))
    names = genes.loc[genes["gene_name"] != "", ["gene_name", "gene_id"]]
    names = names[~names["gene_name"].duplicated(keep=False)]
    strip = lambda s: s.str.replace(r"\.\d+$", "", regex=True)  # noqa: E731 (ENSG...12 -> ENSG...)
    candidates = {
        "gene_id": (ids, pd.Series(genes["gene_id"].to_numpy(), index=genes["gene_id"].to_numpy())),
        "gene_name": (ids, pd.Series(names["gene_id"].to_numpy(), index=names["gene_name"].to_numpy())),
        "gene_id_without_version": (
            pd.Index(strip(pd.Series(ids)).to_numpy()),
            pd.Series(genes["gene_id"].to_numpy(), index=strip(genes["gene_id"]).to_numpy())),
    }
    best, best_n, best_map = None, -1, None
    for key, (query, table) in candidates.items():
        table = table[~table.index.duplicated(keep=False)]
        mapped = pd.Series(query.to_numpy(), index=ids).map(table)
        n = int(mapped.notna().sum())
        if n > best_n:
            best, best_n, best_map = key, n, mapped
    if best_n == 0:
        raise DataError(f"no gene IDs in common with the annotation: expression IDs look like "
                        f"{ids[:5].tolist()}, annotation gene IDs like {genes['gene_id'].head(5).tolist()}"
                        f" (names like {names['gene_name'].head(3).tolist()})", source=source)
    mapped = best_map.dropna()
    dup = mapped[mapped.duplicated(keep=False)]
    if len(dup):
        raise DataError(f"expression IDs {dup.index[:3].tolist()} all map to gene {dup.iloc[0]}",
                        source=source, record=dup.index[0])
    unmatched = ids[best_map.isna().to_numpy()]
    report = {"matched_by": best, "matched": best_n, "not_in_annotation": len(unmatched),
              "not_in_annotation_examples": unmatched[:10].tolist()}
    return mapped, report


def counts_to_tpm(counts: pd.DataFrame, lengths: pd.Series) -> pd.DataFrame:
    """TPM from read counts and gene lengths (bp), per sample; genes must be in both (same index)."""
    kb = lengths.reindex(counts.index).to_numpy(np.float64)[:, None] / 1e3
    if np.isnan(kb).any() or (kb <= 0).any():
        bad = counts.index[(np.isnan(kb) | (kb <= 0))[:, 0]][0]
        raise DataError("gene has no positive length for TPM", record=bad)
    rate = counts.to_numpy(np.float64) / kb
    total = rate.sum(axis=0, keepdims=True)
    tpm = np.divide(rate, total, out=np.zeros_like(rate), where=total > 0) * 1e6
    return pd.DataFrame(tpm, index=counts.index, columns=counts.columns)


def fpkm_to_tpm(fpkm: pd.DataFrame) -> pd.DataFrame:
    """TPM from FPKM/RPKM: rescale each sample to sum to one million."""
    vals = fpkm.to_numpy(np.float64)
    total = vals.sum(axis=0, keepdims=True)
    return pd.DataFrame(np.divide(vals, total, out=np.zeros_like(vals), where=total > 0) * 1e6,
                        index=fpkm.index, columns=fpkm.columns)


def to_tpm(values: pd.DataFrame, units: str, lengths: pd.Series | None = None) -> pd.DataFrame:
    if units == "counts":
        if lengths is None:
            raise ValueError("counts -> TPM needs gene lengths")
        return counts_to_tpm(values, lengths)
    if units == "fpkm":
        return fpkm_to_tpm(values)
    if units == "tpm":
        return values
    raise ValueError(f"units must be counts, tpm or fpkm, not {units!r}")


def aggregate_samples(tpm: pd.DataFrame, how: Aggregate) -> pd.Series:
    """Combine replicates per gene (``none`` uses the mean for the summary column)."""
    if how in ("mean", "none"):
        return tpm.mean(axis=1)
    if how == "median":
        return tpm.median(axis=1)
    if how == "max":  # DeepCRE's logMaxTPM
        return tpm.max(axis=1)
    raise ValueError(f"aggregate must be mean, median, max or none, not {how!r}")
