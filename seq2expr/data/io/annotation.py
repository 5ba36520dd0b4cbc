"""Gene models from a GTF or GFF3 annotation (plain or .gz), as one row per gene with TSS and TTS.

Parsing uses pandas (+ pyarrow's RE2 regex kernels for attributes) rather than bioframe:
``bioframe.read_table(schema="gtf")`` is the same ``pandas.read_csv`` call with column names and parses
neither GTF ``key "value";`` nor GFF3 ``key=value`` attributes nor the GFF3 ``ID``/``Parent`` hierarchy, all
needed here; and ``bioframe.merge(..., on=["gene_id"])`` (the union of each gene's exons, the TPM length)
runs one pandas group at a time (70 s for yeast's 7,000 genes) where a sorted cumulative maximum takes
milliseconds (:func:`_exonic_lengths`).

Coordinates in the returned table are 0-based half-open (``start``, ``end``) like BED; ``tss`` and ``tts`` are
the 0-based positions of the first and last transcribed base (strand-aware: on the minus strand
``tss = end - 1``). Where the annotation has no UTRs (the yeast Ensembl GTF) gene bounds are the start and stop
codons, so those stand in for TSS/TTS; ``tss_from`` picks gene bounds, a canonical transcript, or the
codons explicitly, and :func:`apply_tss_bed` replaces TSSs with measured ones from a BED file.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.files import reads

GFF_COLUMNS = ["seqid", "source", "type", "start", "end", "score", "strand", "phase", "attributes"]
GENE_COLUMNS = ["gene_id", "gene_name", "biotype", "chrom", "start", "end", "strand", "tss", "tts",
                "exonic_length", "tss_source"]
TRANSCRIPT_TYPES = {"transcript", "mrna", "ncrna", "trna", "rrna", "snrna", "snorna", "lnc_rna", "mirna",
                    "pseudogenic_transcript", "primary_transcript", "unconfirmed_transcript", "scrna"}
TssFrom = Literal["gene", "transcript", "codon"]


def _is_gene_type(types: pd.Series) -> pd.Series:
    t = types.str.lower()
    return (t == "gene") | t.str.endswith("_gene") | (t == "pseudogene")


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path)


def detect_format(path: str | Path) -> Literal["gtf", "gff3"]:
    """GTF or GFF3, from the name (``.gtf``, ``.gff3``, ``.gff``) or else from the first attribute's syntax."""
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith(".gtf"):
        return "gtf"
    if name.endswith((".gff3", ".gff")):
        return "gff3"
    with _open_text(Path(path)) as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 9:
                return "gtf" if re.match(r'\s*[\w.]+\s+"', fields[8]) else "gff3"
    raise DataError("cannot tell GTF from GFF3: no 9-column feature line", source=str(path))


@reads()
def read_features(path: str | Path) -> pd.DataFrame:
    """The 9 GFF columns of every feature line; ``start`` 0-based, ``end`` exclusive; ``line`` 1-based."""
    path = Path(path)
    if not path.exists():
        raise DataError("annotation file not found", source=str(path))
    try:
        with _open_text(path) as fh:
            df = pd.read_csv(fh, sep="\t", header=None, names=GFF_COLUMNS, dtype=str, quoting=3,
                             skip_blank_lines=False, engine="c")
    except pd.errors.ParserError as err:
        m = re.search(r"line (\d+)", str(err))
        raise DataError(f"not a 9-column GTF/GFF line ({err})", source=str(path),
                        record=f"line {m.group(1)}" if m else None) from None
    df["line"] = np.arange(1, len(df) + 1)
    seqid = df["seqid"].fillna("")
    fasta = np.flatnonzero(seqid.str.startswith("##FASTA").to_numpy())
    if len(fasta):  # GFF3 may end with the sequences themselves
        df, seqid = df.iloc[: fasta[0]], seqid.iloc[: fasta[0]]
    content = ~seqid.str.startswith("#") & (seqid != "")
    short = content & df["attributes"].isna()
    if short.any():
        row = df[short].iloc[0]
        n = int(row[GFF_COLUMNS].notna().sum())
        raise DataError(f"{n} tab-separated fields where GTF/GFF needs 9", source=str(path),
                        record=f"line {row['line']}")
    df = df[content]
    if df.empty:
        raise DataError("no feature lines", source=str(path))
    start = pd.to_numeric(df["start"], errors="coerce")
    end = pd.to_numeric(df["end"], errors="coerce")
    bad = start.isna() | end.isna() | (end < start) | (start < 1)
    if bad.any():
        row = df[bad].iloc[0]
        raise DataError(f"bad coordinates start={row['start']!r} end={row['end']!r}", source=str(path),
                        record=f"line {row['line']}")
    bad_strand = ~df["strand"].isin(["+", "-", ".", "?"])
    if bad_strand.any():
        row = df[bad_strand].iloc[0]
        raise DataError(f"bad strand {row['strand']!r}", source=str(path), record=f"line {row['line']}")
    df = df.assign(start=start.astype(np.int64) - 1, end=end.astype(np.int64))
    return df.reset_index(drop=True)


def _extract(attrs: pd.Series, pattern: str) -> pd.Series:
    """First capture of ``pattern`` (named group ``v``) per row, NaN where absent; pyarrow's RE2 (fast)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(attrs.to_numpy(dtype=object), type=pa.string())
    hit = pc.struct_field(pc.extract_regex(arr, pattern), "v")
    return pd.Series(hit.to_numpy(zero_copy_only=False), index=attrs.index, dtype=object)


def _attr(attrs: pd.Series, key: str, fmt: str) -> pd.Series:
    k = re.escape(key)
    if fmt == "gtf":
        quoted = _extract(attrs, rf'(?:^|;)\s*{k}\s+"(?P<v>[^"]*)"')
        return quoted.fillna(_extract(attrs, rf'(?:^|;)\s*{k}\s+(?P<v>[^";\s]+)'))
    out = _extract(attrs, rf"(?:^|;)\s*{k}=(?P<v>[^;]*)")
    escaped = out.str.contains("%", regex=False, na=False)
    if escaped.any():
        out[escaped] = out[escaped].map(unquote)
    return out


def _strip_prefix(ids: pd.Series) -> pd.Series:
    return ids.str.replace(r"^(?:gene|transcript|rna)[:-]", "", regex=True)


def _hierarchy(df: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """Add ``gene_id``, ``gene_name``, ``biotype`` and ``transcript_id`` to every feature row."""
    attrs = df["attributes"]
    if fmt == "gtf":
        gene_id = _attr(attrs, "gene_id", fmt)
        tx = _attr(attrs, "transcript_id", fmt)
        name = _attr(attrs, "gene_name", fmt)
        biotype = _attr(attrs, "gene_biotype", fmt).fillna(_attr(attrs, "gene_type", fmt))
        tag = attrs.str.contains("Ensembl_canonical", regex=False)
        return df.assign(gene_id=gene_id, transcript_id=tx, gene_name=name, biotype=biotype, canonical=tag)
    # GFF3: genes carry ID; transcripts name their gene in Parent; exons/CDS name transcripts (or genes)
    fid = _attr(attrs, "ID", fmt)
    parent = _attr(attrs, "Parent", fmt).str.split(",").str[0]
    is_gene = _is_gene_type(df["type"])
    explicit = _attr(attrs, "gene_id", fmt)
    gene_key = fid.where(is_gene)
    key_to_gene = pd.Series(explicit.where(explicit.notna(), _strip_prefix(fid)).where(is_gene).values,
                            index=gene_key.values).dropna()
    key_to_gene = key_to_gene[~key_to_gene.index.duplicated()]
    parent_is_gene = parent.isin(key_to_gene.index)
    tx_rows = ~is_gene & parent_is_gene & fid.notna()
    tx_to_gene = pd.Series(parent[tx_rows].values, index=fid[tx_rows].values)
    tx_to_gene = tx_to_gene[~tx_to_gene.index.duplicated()]
    gene_key = gene_key.fillna(parent.where(parent_is_gene)).fillna(parent.map(tx_to_gene))
    gene_id = gene_key.map(key_to_gene)
    tx = fid.where(tx_rows).fillna(parent.where(parent.isin(tx_to_gene.index)))
    name = _attr(attrs, "Name", fmt).where(is_gene)
    biotype = _attr(attrs, "biotype", fmt).fillna(_attr(attrs, "gene_biotype", fmt)).fillna(
        _attr(attrs, "gene_type", fmt)).where(is_gene)
    tag = attrs.str.contains("Ensembl_canonical", regex=False)
    out = df.assign(gene_id=gene_id, transcript_id=tx, gene_name=name, biotype=biotype, canonical=tag)
    # gene_name/biotype live on the gene line only: broadcast them to the gene's other rows
    gene_info = out[is_gene].drop_duplicates("gene_id").set_index("gene_id")[["gene_name", "biotype"]]
    out["gene_name"] = out["gene_id"].map(gene_info["gene_name"])
    out["biotype"] = out["gene_id"].map(gene_info["biotype"])
    return out


def _exonic_lengths(exons: pd.DataFrame) -> pd.Series:
    """Length of the union of each gene's exons (overlapping isoforms counted once).

    Sorted by (gene, start), an exon opens a new block when it starts at or after the running maximum end of
    the gene's earlier exons; the union is the sum of the blocks' extents.
    """
    if exons.empty:
        return pd.Series(dtype=np.int64)
    e = exons[["gene_id", "start", "end"]].sort_values(["gene_id", "start"], kind="stable")
    prev_end = e.groupby("gene_id", sort=False)["end"].cummax().groupby(e["gene_id"], sort=False).shift(1)
    block = (prev_end.isna() | (e["start"] >= prev_end)).cumsum()
    blocks = e.groupby(block.to_numpy(), sort=False).agg(gene_id=("gene_id", "first"), start=("start", "min"),
                                                         end=("end", "max"))
    return (blocks["end"] - blocks["start"]).groupby(blocks["gene_id"], sort=False).sum().astype(np.int64)


def _five_three(start: pd.Series, end: pd.Series, strand: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    minus = (strand == "-").to_numpy()
    s, e = start.to_numpy(np.int64), end.to_numpy(np.int64)
    return np.where(minus, e - 1, s), np.where(minus, s, e - 1)


_PLAIN_TYPES = {"gene", "transcript", "mrna", "exon", "cds", "five_prime_utr", "three_prime_utr", "utr",
                "start_codon", "stop_codon", "intron", "polypeptide", "protein"}


def _infer_biotypes(feats: pd.DataFrame, genes: pd.DataFrame) -> tuple[pd.Series, int]:
    """Fill the biotype of genes whose annotation gives none (TAIR10, Phytozome, UCSC): the gene line's own
    type when it says more than ``gene`` (``pseudogene``, ``transposable_element_gene``), else
    ``protein_coding`` when the gene has a CDS, else its transcripts' type (``tRNA``, ``ncRNA``, ``miRNA``...).
    Returns the biotypes and how many were inferred."""
    bio = genes["biotype"].fillna("").astype(str)
    missing = bio == ""
    if not missing.any():
        return bio, 0
    own = genes["type"].astype("string").fillna("") if "type" in genes else pd.Series("", index=genes.index)
    own = own.where(own.str.lower() != "gene", "")
    types = feats["type"].astype(str)
    with_cds = set(feats.loc[types.str.lower() == "cds", "gene_id"])
    child = feats[~types.str.lower().isin(_PLAIN_TYPES) & ~_is_gene_type(types)]
    child_type = child.drop_duplicates("gene_id").set_index("gene_id")["type"]
    cds = np.where(genes["gene_id"].isin(with_cds), "protein_coding", "")
    guess = own.where(own != "", pd.Series(cds, index=genes.index))
    guess = guess.where(guess != "", genes["gene_id"].map(child_type).astype(object).fillna(""))
    filled = bio.where(~missing, guess)
    return filled, int((missing & (filled != "")).sum())


def read_genes(path: str | Path, *, tss_from: TssFrom = "gene", fmt: Literal["auto", "gtf", "gff3"] = "auto"
               ) -> pd.DataFrame:
    """One row per gene: ``gene_id, gene_name, biotype, chrom, start, end, strand, tss, tts, exonic_length,
    tss_source``.

    ``tss_from``: ``"gene"`` takes the 5'/3' ends of the gene feature (genes without a gene line are
    spanned by their transcripts/exons); ``"transcript"`` those of the canonical transcript (tagged
    ``Ensembl_canonical``, else the longest); ``"codon"`` the start and stop codons (else the CDS ends),
    falling back to the gene ends for non-coding genes. ``tss_source`` says which was used per gene.
    A gene ID on several gene lines keeps its first; the others are listed in ``attrs["duplicate_gene_ids"]``.
    Genes without a biotype attribute get one from their features (:func:`_infer_biotypes`); how many is
    ``attrs["inferred_biotypes"]``.
    """
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    feats = _hierarchy(read_features(path), fmt)
    feats = feats[feats["gene_id"].notna()]
    if feats.empty:
        raise DataError(f"no features carry a gene ID (read as {fmt.upper()})", source=str(path))
    is_gene = _is_gene_type(feats["type"])
    genes = feats[is_gene]
    dup = genes["gene_id"].duplicated()
    duplicates = genes.loc[dup, "gene_id"].tolist()  # e.g. one ID on two chromosomes: the first line is kept
    genes = genes[~dup]
    # genes with transcripts/exons but no gene line (e.g. UCSC GTFs): span their features
    rest = feats[~feats["gene_id"].isin(genes["gene_id"])]
    if not rest.empty:
        span = rest.groupby("gene_id", sort=False).agg(
            seqid=("seqid", "first"), start=("start", "min"), end=("end", "max"), strand=("strand", "first"),
            gene_name=("gene_name", "first"), biotype=("biotype", "first"), line=("line", "first"))
        genes = pd.concat([genes, span.reset_index()], ignore_index=True)
    genes = genes.sort_values("line", kind="stable").reset_index(drop=True)
    bad = ~genes["strand"].isin(["+", "-"])
    if bad.any():
        row = genes[bad].iloc[0]
        raise DataError(f"gene {row['gene_id']} has no strand ({row['strand']!r}); TSS needs one",
                        source=str(path), record=f"line {row['line']}")

    tss, tts = _five_three(genes["start"], genes["end"], genes["strand"])
    source = np.full(len(genes), "gene", dtype=object)
    if tss_from == "transcript":
        tss, tts, source = _from_transcripts(feats, genes, tss, tts, source)
    elif tss_from == "codon":
        tss, tts, source = _from_codons(feats, genes, tss, tts, source)
    elif tss_from != "gene":
        raise ValueError(f"tss_from must be gene, transcript or codon, not {tss_from!r}")

    biotype, n_inferred = _infer_biotypes(feats, genes)
    exons = feats[feats["type"].str.lower() == "exon"]
    exlen = genes["gene_id"].map(_exonic_lengths(exons))
    exlen = exlen.fillna(genes["end"] - genes["start"]).astype(np.int64)
    out = pd.DataFrame({
        "gene_id": genes["gene_id"].astype(str), "gene_name": genes["gene_name"].fillna(""),
        "biotype": biotype.to_numpy(), "chrom": genes["seqid"].astype(str),
        "start": genes["start"].astype(np.int64), "end": genes["end"].astype(np.int64),
        "strand": genes["strand"], "tss": tss.astype(np.int64), "tts": tts.astype(np.int64),
        "exonic_length": exlen, "tss_source": source,
    })
    out.attrs["source"] = str(path)
    out.attrs["duplicate_gene_ids"] = duplicates
    out.attrs["format"] = fmt
    out.attrs["inferred_biotypes"] = n_inferred
    return out


def _index_of(genes: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    pos = pd.Series(np.arange(len(genes)), index=genes["gene_id"].values)
    return pos.loc[ids.values].to_numpy()


def _from_transcripts(feats, genes, tss, tts, source):
    txs = feats[feats["type"].str.lower().isin(TRANSCRIPT_TYPES) & feats["transcript_id"].notna()]
    if txs.empty:
        return tss, tts, source
    txs = txs.assign(span=txs["end"] - txs["start"], canon=txs["canonical"].astype(int))
    best = txs.sort_values(["gene_id", "canon", "span"], ascending=[True, False, False]).drop_duplicates("gene_id")
    best = best[best["gene_id"].isin(genes["gene_id"])]
    idx = _index_of(genes, best["gene_id"])
    t5, t3 = _five_three(best["start"], best["end"], best["strand"])
    tss, tts, source = tss.copy(), tts.copy(), source.copy()
    tss[idx], tts[idx], source[idx] = t5, t3, "transcript"
    return tss, tts, source


def _from_codons(feats, genes, tss, tts, source):
    tss, tts, source = tss.copy(), tts.copy(), source.copy()
    typ = feats["type"].str.lower()
    for kind, fallback in (("start_codon", "cds"), ("stop_codon", "cds")):
        rows = feats[typ == kind]
        if rows.empty:
            rows = feats[typ == fallback]
        rows = rows[rows["gene_id"].isin(genes["gene_id"])]
        if rows.empty:
            continue
        g = rows.groupby("gene_id").agg(start=("start", "min"), end=("end", "max"), strand=("strand", "first"))
        idx = _index_of(genes, pd.Series(g.index))
        five, three = _five_three(g["start"], g["end"], g["strand"])
        if kind == "start_codon":
            tss[idx] = five
            source[idx] = "codon"
        else:
            tts[idx] = three
    return tss, tts, source


@reads()
def read_name_table(path: str | Path) -> pd.DataFrame:
    """A two-column (no header) alias table, e.g. systematic -> common gene name."""
    try:
        df = pd.read_csv(path, sep="\t", header=None, dtype=str, usecols=[0, 1], comment="#")
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(f"expected a 2-column tab-separated name table ({err})", source=str(path)) from None
    return df.dropna()


def _bed_lookup(genes: pd.DataFrame, names: pd.DataFrame | None) -> dict[str, str]:
    """Map any known alias (gene ID, gene name, either column of the name table) to a gene ID."""
    lookup: dict[str, str] = {}
    for gid, gname in zip(genes["gene_id"], genes["gene_name"], strict=True):
        if gname:
            lookup.setdefault(gname, gid)
    if names is not None:
        ids = set(genes["gene_id"])
        for a, b in zip(names.iloc[:, 0], names.iloc[:, 1], strict=True):
            if a in ids:
                lookup.setdefault(b, a)
            elif b in ids:
                lookup.setdefault(a, b)
    for gid in genes["gene_id"]:
        lookup[gid] = gid
    return lookup


@reads()
def read_bed(path: str | Path) -> pd.DataFrame:
    """A BED6 file as ``chrom, start, end, name, strand`` (0-based half-open); header/track lines skipped."""
    path = Path(path)
    if not path.exists():
        raise DataError("BED file not found", source=str(path))
    rows = []
    with _open_text(path) as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < 6:
                raise DataError(f"BED line has {len(f)} fields; a TSS BED needs 6 (name and strand)",
                                source=str(path), record=f"line {i}")
            try:
                start, end = int(f[1]), int(f[2])
            except ValueError:
                raise DataError(f"bad coordinates {f[1]!r}, {f[2]!r}", source=str(path), record=f"line {i}") from None
            if f[5] not in ("+", "-"):
                raise DataError(f"bad strand {f[5]!r}", source=str(path), record=f"line {i}")
            rows.append((f[0], start, end, f[3], f[5]))
    if not rows:
        raise DataError("no BED records", source=str(path))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "strand"])


def apply_tss_bed(genes: pd.DataFrame, bed: pd.DataFrame, *, names: pd.DataFrame | None = None,
                  chrom_map: dict[str, str] | None = None, use_end_as_tts: bool = False,
                  source: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Replace annotation TSSs by measured starts from a BED of transcripts (name column = gene).

    BED names are matched to gene IDs directly, through the annotation's gene names, or through a name
    table (either direction). ``chrom_map`` renames BED chromosomes (e.g. ``chrI`` -> ``I``) before the
    chromosome check. A record whose chromosome or strand disagrees with the gene is not used. Genes with
    no usable record keep their annotation TSS. Returns the updated genes and a report.
    """
    lookup = _bed_lookup(genes, names)
    bed = bed.assign(chrom=bed["chrom"].map(lambda c: (chrom_map or {}).get(c, c)),
                     gene_id=bed["name"].map(lookup))
    unmatched = bed.loc[bed["gene_id"].isna(), "name"].tolist()
    bed = bed[bed["gene_id"].notna()]
    dup = bed["gene_id"].duplicated(keep="first")
    n_dup = int(dup.sum())
    bed = bed[~dup]
    g = genes.set_index("gene_id")
    same = (g.loc[bed["gene_id"], "chrom"].to_numpy() == bed["chrom"].to_numpy()) & (
        g.loc[bed["gene_id"], "strand"].to_numpy() == bed["strand"].to_numpy())
    conflicts = bed.loc[~same, "name"].tolist()
    bed = bed[same]
    minus = (bed["strand"] == "-").to_numpy()
    t5 = np.where(minus, bed["end"].to_numpy() - 1, bed["start"].to_numpy())
    t3 = np.where(minus, bed["start"].to_numpy(), bed["end"].to_numpy() - 1)
    out = genes.copy()
    idx = _index_of(out, bed["gene_id"])
    out.loc[out.index[idx], "tss"] = t5
    out.loc[out.index[idx], "tss_source"] = "bed"
    if use_end_as_tts:
        out.loc[out.index[idx], "tts"] = t3
    shift = np.abs(t5 - genes["tss"].to_numpy()[idx])
    report = {
        "source": source, "records": int(len(bed) + len(unmatched) + len(conflicts) + n_dup),
        "genes_with_measured_tss": int(len(idx)), "unmatched_names": len(unmatched),
        "unmatched_examples": unmatched[:10], "chromosome_or_strand_conflicts": len(conflicts),
        "conflict_examples": conflicts[:10], "duplicate_records_ignored": n_dup,
        "median_shift_bp": float(np.median(shift)) if len(shift) else None,
    }
    return out, report
