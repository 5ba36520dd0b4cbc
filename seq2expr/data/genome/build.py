"""Genome + annotation + expression -> a gene-level training table (DeepCRE / DeepPlantCRE / Xpresso style).

:func:`build_gene_dataset` writes ``OUT/genes.parquet`` (and/or ``genes.tsv.gz``) and ``OUT/report.json``.
Table columns:

* ``id`` (gene ID), ``sequence`` (the window, see :mod:`~seq2expr.data.genome.windows`), ``gene_name``,
  ``chromosome`` (FASTA name), ``species``, ``strand``, ``tss``, ``tts`` (0-based), ``padded`` (the window ran
  off a chromosome end and was filled with N), ``tss_source`` (gene / transcript / codon / bed);
* the target: replicates aggregated in TPM (mean / median / max), then transformed: ``log_tpm`` for log1p,
  ``log2_tpm``, ``log10_tpm``, or ``tpm``; with ``aggregate="none"`` also one column per sample
  (``log_tpm_<sample>``) for multi-task training, the summary column using the mean;
* with ``label_quantiles=(lo, hi)``: ``label`` = 1.0 for genes at or above the ``hi`` quantile of the target,
  0.0 at or below ``lo`` and NaN in between, and ``label_class`` = high / low / middle. The readers reject
  NaN targets, so for ``seq2expr train`` with ``task: classification`` either point ``data.path`` at
  ``genes_labelled.parquet`` (written alongside: middle genes dropped, ``label`` 0/1), or train on
  ``log_tpm`` with ``data.target.label_quantiles: [lo, hi]``, which sets thresholds on the training split only
  (the table's thresholds use all genes of the species, as DeepCRE does);
  ``label_thresholds=(lo, hi)`` does the same with fixed target values (``lo == hi``: every gene labelled,
  1.0 above the threshold);
* with ``families=True``: ``family``, clusters of windows sharing k-mers (paralogues), see :func:`add_families`;
* with ``folds=k``: ``fold`` (``fold0`` .. ``fold{k-1}``), whole chromosomes (or families, ``fold_by="family"``)
  balanced into ``k`` folds (:func:`seq2expr.data.splits.group_kfold`); train with ``split: {method: group,
  group_column: fold, test_groups: [fold0], valid_groups: [fold1]}`` and rotate for k-fold by chromosome.

Genes are never dropped silently: the report counts each reason (biotype filter, chromosome not in the
genome, gene past its chromosome's end, no expression, duplicate ID, and padded windows when ``drop_padded``)
and ``expression.without_sequence`` counts expression rows that got no window. Input that cannot be right
raises :class:`DataError` naming the file: no annotation (or TSS BED) chromosome in the genome, no gene ID in
common, more than 5% of genes past their chromosome's end (another assembly).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from seq2expr.atomic import atomic_path, write_json
from seq2expr.data.errors import DataError
from seq2expr.data.genome.expression import (
    Aggregate,
    Units,
    aggregate_samples,
    guess_units,
    match_gene_ids,
    read_expression,
    to_tpm,
    validate_expression,
)
from seq2expr.data.genome.fasta import Genome, reconcile_chromosomes
from seq2expr.data.genome.interactions import InteractionOptions
from seq2expr.data.genome.windows import WindowSpec, gene_windows
from seq2expr.data.io.annotation import TssFrom, apply_tss_bed, read_bed, read_genes, read_name_table
from seq2expr.data.targets import TargetTransform, make_labels
from seq2expr.outputs import check_output, write_marker
from seq2expr.progress import staged, step

TARGET_BASE = {"none": "tpm", "log1p": "log_tpm", "log2p1": "log2_tpm", "log10p1": "log10_tpm"}
TABLE_NAME = "genes"
GENES_COMMAND, COMBINE_COMMAND = "data genes", "data genes-combine"  # the commands whose output folders these are
Format = Literal["parquet", "tsv"]


def _sample_column(base: str, sample: str) -> str:
    return f"{base}_{re.sub(r'[^0-9A-Za-z_.-]+', '_', sample)}"


@dataclass(frozen=True)
class GeneOptions:
    """What :func:`build_gene_dataset` builds (the typed form of ``seq2expr data genes``' options).

    ``units="auto"`` treats all-integer values as counts. ``biotypes=None`` keeps every biotype. ``tss_bed`` (+
    ``tss_names``, a 2-column alias table) replaces annotation TSSs with measured ones. ``families=True`` adds a
    ``family`` column (see :func:`add_families`); ``folds=k`` a ``fold`` column.
    """

    windows: WindowSpec = WindowSpec()
    tss_bed: str | Path | None = None
    tss_names: str | Path | None = None
    tss_bed_tts: bool = False
    tss_from: TssFrom = "gene"
    biotypes: Sequence[str] | None = ("protein_coding",)
    units: Units = "auto"
    gene_column: str | None = None
    samples: list[str] | None = None
    aggregate: Aggregate = "mean"
    transform: str = "log1p"
    label_quantiles: tuple[float, float] | None = None
    label_thresholds: tuple[float, float] | None = None
    species: str | None = None
    drop_padded: bool = False
    families: bool = False
    folds: int | None = None
    fold_by: Literal["chromosome", "family"] = "chromosome"
    formats: Sequence[Format] = ("parquet",)
    interactions: InteractionOptions | None = None  # a distal input from loops (seq2expr.data.genome.distal)

    def check(self) -> None:
        """Raise ``ValueError`` for settings that contradict each other (before anything is read)."""
        if self.transform not in TARGET_BASE:
            raise ValueError(f"transform must be one of {sorted(TARGET_BASE)}, not {self.transform!r}")
        if self.label_quantiles is not None and self.label_thresholds is not None:
            raise ValueError("give label_quantiles or label_thresholds, not both")
        if self.fold_by not in ("chromosome", "family"):
            raise ValueError(f"fold_by must be chromosome or family, not {self.fold_by!r}")
        if self.fold_by == "family" and self.folds and not self.families:
            raise ValueError("fold_by='family' needs families=True")
        if self.interactions is not None:
            self.interactions.check()

    def settings(self) -> dict:
        """The settings as the report records them."""
        return {"windows": self.windows.to_dict(), "tss_from": self.tss_from, "tss_bed_tts": self.tss_bed_tts,
                "biotypes": list(self.biotypes or []), "aggregate": self.aggregate, "transform": self.transform,
                "label_quantiles": self.label_quantiles, "label_thresholds": self.label_thresholds,
                "drop_padded": self.drop_padded, "families": self.families, "folds": self.folds,
                "fold_by": self.fold_by if self.folds else None,
                "interactions": None if self.interactions is None else self.interactions.settings()}


class _Kept:
    """The genes still in the table, and every gene dropped so far counted by reason (never silently)."""

    def __init__(self, genes: pd.DataFrame):
        self.genes = genes
        self.dropped: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}
        if genes.attrs.get("duplicate_gene_ids"):
            self.dropped["duplicate_gene_id"] = len(genes.attrs["duplicate_gene_ids"])
            self.examples["duplicate_gene_id"] = genes.attrs["duplicate_gene_ids"][:5]

    def drop(self, mask: np.ndarray, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.dropped[reason] = self.dropped.get(reason, 0) + int(mask.sum())
            self.examples[reason] = self.genes.loc[mask, "gene_id"].head(5).tolist()
            self.genes = self.genes.loc[~mask].reset_index(drop=True)


@staged(3, "gene data set")  # annotation + expression, windows, table + files
def build_gene_dataset(genome: str | Path, annotation: str | Path, expression: str | Path | pd.DataFrame,
                       options: GeneOptions | None = None, *, out: str | Path | None = None,
                       cache: str | Path | None = None, force: bool = False) -> tuple[pd.DataFrame, dict]:
    """Build the table (see module docstring) and its report; write both under ``out`` when given (a new folder,
    or with ``force`` a previous ``data genes`` output; never one holding an input: :mod:`seq2expr.outputs`).

    ``expression`` is a table, an htseq folder or tarball (see :func:`read_expression`), or a genes x samples
    DataFrame. ``options`` (:class:`GeneOptions`, e.g. ``GeneOptions(windows=..., species=...)``) says what to
    build.
    """
    t0 = time.perf_counter()
    opts = options or GeneOptions()
    opts.check()
    if out is not None:
        check_output(out, [genome, annotation, expression, opts.tss_bed, opts.tss_names,
                           opts.interactions and opts.interactions.path], command=GENES_COMMAND, folder=True,
                     force=force)
    fa = Genome(genome, cache=cache)
    kept = _Kept(read_genes(annotation, tss_from=opts.tss_from))
    genes = kept.genes
    report: dict = {
        "species": opts.species,
        "inputs": {"genome": str(genome), "annotation": str(annotation),
                   "expression": expression.attrs.get("source", "<DataFrame>") if isinstance(expression, pd.DataFrame)
                   else str(expression), "tss_bed": None if opts.tss_bed is None else str(opts.tss_bed),
                   "tss_names": None if opts.tss_names is None else str(opts.tss_names),
                   "interactions": None if opts.interactions is None else str(opts.interactions.path)},
        "settings": opts.settings(),
        "annotation": {"genes": len(genes), "format": genes.attrs.get("format"),
                       "biotypes": genes["biotype"].value_counts().to_dict(),
                       "inferred_biotypes": genes.attrs.get("inferred_biotypes", 0)},
    }
    tpm, report["expression"] = _tpm(expression, genes, opts)
    _place_on_genome(kept, fa, tpm, report, annotation=str(annotation), genome=str(genome))
    if opts.tss_bed is not None:
        _measured_tss(kept, fa, opts, report, genome=str(genome))
    annotated = kept.genes  # every gene on the genome: gene-pair partners need no expression
    if opts.biotypes:
        kept.drop(~kept.genes["biotype"].isin(list(opts.biotypes)).to_numpy(), "biotype")
    kept.drop(~kept.genes["gene_id"].isin(tpm.index).to_numpy(), "no_expression")
    if kept.genes.empty:
        raise DataError(f"no genes left ({kept.dropped}); check biotypes and that expression IDs match the "
                        "annotation", source=str(annotation))
    step()
    _cut_windows(kept, fa, opts, report, genome=str(genome))
    step()
    table = _finish(kept, tpm, opts, report)
    if opts.interactions is not None:
        from seq2expr.data.genome.distal import add_interactions, dual_layout

        table, report["interactions"] = add_interactions(table, genome, annotated, opts.windows, opts.interactions,
                                                         cache=cache)
        report.update(kept=len(table), columns=list(table.columns), dual=dual_layout(table, opts.interactions))
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if out is not None:
        report["files"] = write_gene_dataset(table, out, formats=opts.formats, report=report, force=force)
    return table, report


def _tpm(expression: str | Path | pd.DataFrame, genes: pd.DataFrame, opts: GeneOptions) -> tuple[pd.DataFrame, dict]:
    """Expression -> TPM over every annotated gene in the table (any biotype or chromosome), and its report."""
    if isinstance(expression, pd.DataFrame):
        validate_expression(expression, expression.attrs.get("source", "<DataFrame>"))
        expr = expression
    else:
        expr = read_expression(expression, gene_column=opts.gene_column, samples=opts.samples)
    esrc = expr.attrs.get("source", str(expression) if not isinstance(expression, pd.DataFrame) else None)
    mapped, mrep = match_gene_ids(expr.index, genes, source=esrc)
    expr = expr.loc[mapped.index]
    expr.index = pd.Index(mapped.to_numpy(), name="gene_id")
    used_units = guess_units(expr) if opts.units == "auto" else opts.units
    tpm = to_tpm(expr, used_units, genes.set_index("gene_id")["exonic_length"])
    return tpm, {**mrep, "source": esrc, "units": used_units, "units_guessed": opts.units == "auto",
                 "samples": list(map(str, expr.columns)), "dropped_columns": expr.attrs.get("dropped_columns", [])}


def _place_on_genome(kept: _Kept, fa: Genome, tpm: pd.DataFrame, report: dict, *, annotation: str, genome: str
                     ) -> None:
    """Chromosome names -> FASTA names; genes off the genome or past a chromosome's end dropped (and counted)."""
    cmap, crep = reconcile_chromosomes(kept.genes["chrom"].unique(), fa.names)
    report["chromosomes"] = {"annotation": crep}
    if not cmap:
        raise DataError(f"none of the annotation's chromosomes (e.g. {crep['unmatched'][:5]}) is in the genome "
                        f"(FASTA names e.g. {fa.names[:5]}, from {genome})", source=annotation)
    kept.genes["chrom"] = kept.genes["chrom"].map(cmap)
    expressed = set(tpm.index)
    off_genome = kept.genes["chrom"].isna().to_numpy()
    without_sequence = int(kept.genes.loc[off_genome, "gene_id"].isin(expressed).sum())
    kept.drop(off_genome, "chromosome_not_in_genome")
    _check_gene_ends(kept.genes, fa.lengths, annotation, genome)
    past_end = (kept.genes["end"].to_numpy() > kept.genes["chrom"].map(fa.lengths).to_numpy())
    without_sequence += int(kept.genes.loc[past_end, "gene_id"].isin(expressed).sum())
    kept.drop(past_end, "beyond_chromosome_end")
    report["expression"]["without_sequence"] = int(report["expression"]["not_in_annotation"]) + without_sequence


def _measured_tss(kept: _Kept, fa: Genome, opts: GeneOptions, report: dict, *, genome: str) -> None:
    """Replace annotation TSSs (and TTSs with ``tss_bed_tts``) by those of the BED file."""
    bed = read_bed(opts.tss_bed)
    bmap, brep = reconcile_chromosomes(bed["chrom"].unique(), fa.names)
    if not bmap:
        raise DataError(f"none of the BED's chromosomes (e.g. {brep['unmatched'][:5]}) is in the genome "
                        f"(FASTA names e.g. {fa.names[:5]}, from {genome})", source=str(opts.tss_bed))
    report["chromosomes"]["tss_bed"] = brep
    names = read_name_table(opts.tss_names) if opts.tss_names is not None else None
    kept.genes, report["tss_bed"] = apply_tss_bed(kept.genes, bed, names=names, chrom_map=bmap,
                                                  use_end_as_tts=opts.tss_bed_tts, source=str(opts.tss_bed))


def _cut_windows(kept: _Kept, fa: Genome, opts: GeneOptions, report: dict, *, genome: str) -> None:
    """Each gene's window from the genome (``padded`` where it ran off a chromosome end)."""
    seqs, padded = gene_windows(fa, kept.genes, opts.windows)
    kept.genes = kept.genes.assign(sequence=seqs, padded=padded)
    report["padded_windows"] = int(padded.sum())
    if opts.drop_padded:
        kept.drop(kept.genes["padded"].to_numpy(), "padded")
        if kept.genes.empty:
            raise DataError("every window ran off its chromosome and drop_padded is set", source=genome)
    report["iupac_bases_masked"] = fa.n_iupac_masked
    fa.close()


def _finish(kept: _Kept, tpm: pd.DataFrame, opts: GeneOptions, report: dict) -> pd.DataFrame:
    """The table with its targets, labels, families and folds; the report's totals."""
    table = _assemble(kept.genes, tpm, opts.aggregate, opts.transform, opts.species)
    target = TARGET_BASE[opts.transform]
    target_columns = [target] + ([c for c in table.columns if c.startswith(f"{target}_")]
                                 if opts.aggregate == "none" else [])
    if opts.label_quantiles is not None or opts.label_thresholds is not None:
        report["labels"] = add_labels(table, target, quantiles=opts.label_quantiles,
                                      thresholds=opts.label_thresholds)
    if opts.families:
        report["families"] = add_families(table)
    if opts.folds:
        report["folds"] = add_folds(table, opts.folds, opts.fold_by)
    report.update({
        "kept": len(table), "dropped": kept.dropped, "dropped_examples": kept.examples,
        "tss_sources": table["tss_source"].value_counts().to_dict(), "seq_len": opts.windows.length,
        "target_columns": target_columns, "columns": list(table.columns),
        "chromosomes_kept": table["chromosome"].value_counts().to_dict(),
    })
    return table


def _check_gene_ends(genes: pd.DataFrame, lengths: dict[str, int], annotation: str, genome: str) -> None:
    """Raise when many genes end past their chromosome: the annotation is for another assembly."""
    length = genes["chrom"].map(lengths).to_numpy()
    past = genes["end"].to_numpy() > length
    if len(genes) and past.mean() > 0.05:
        i = int(np.flatnonzero(past)[0])
        row = genes.iloc[i]
        raise DataError(f"{int(past.sum())} of {len(genes)} genes end past their chromosome (e.g. {row['gene_id']} "
                        f"ends at {row['chrom']}:{row['end']}, the chromosome has {int(length[i])} bases in "
                        f"{genome}): annotation and genome are different assemblies", source=annotation,
                        record=row["gene_id"])


def add_labels(table: pd.DataFrame, target: str, *, quantiles: tuple[float, float] | None = None,
               thresholds: tuple[float, float] | None = None) -> dict:
    """Add ``label`` (1.0 high, 0.0 low, NaN middle) and ``label_class`` from column ``target``.

    ``quantiles=(lo, hi)``: DeepCRE's top/bottom classes by quantile of all genes (middle dropped from
    ``genes_labelled``); ``thresholds=(lo, hi)`` in target units: ``<= lo`` low, ``>= hi`` high, and with
    ``lo == hi`` every gene is labelled (``> t`` high). Returns the report entry.
    """
    y = table[target].to_numpy(np.float64)
    if quantiles is not None:
        labels, keep = make_labels(y, quantiles=tuple(quantiles))
        cut = np.quantile(y, list(quantiles))
    elif thresholds is not None:
        lo, hi = map(float, thresholds)
        if lo > hi:
            raise ValueError(f"label thresholds must satisfy lo <= hi, got {thresholds}")
        if lo == hi:
            labels, keep = make_labels(y, threshold=lo)
        else:
            labels, keep = (y >= hi).astype(np.float32), (y <= lo) | (y >= hi)
        cut = np.array([lo, hi])
    else:
        raise ValueError("give quantiles or thresholds")
    table["label"] = np.where(keep, labels, np.nan).astype(np.float32)
    table["label_class"] = np.where(~keep, "middle", np.where(labels == 1.0, "high", "low"))
    counts = table["label_class"].value_counts().to_dict()
    return {"quantiles": None if quantiles is None else list(quantiles), "thresholds": cut.tolist(),
            **{k: int(counts.get(k, 0)) for k in ("high", "low", "middle")}}


def add_folds(table: pd.DataFrame, k: int, by: str = "chromosome", seed: int = 0) -> dict:
    """Add ``fold`` (``fold0`` ..): whole groups of column ``by`` in ``k`` folds of balanced gene counts.

    Uses :func:`seq2expr.data.splits.group_kfold`; ``by="family"`` keeps paralogue families whole. Returns
    the report entry: each fold's genes and groups.
    """
    from seq2expr.data.splits import group_kfold

    if by not in table.columns:
        raise ValueError(f"cannot fold by {by!r}: no such column")
    groups = table[by].astype(str).to_numpy()
    fold = np.empty(len(table), dtype=object)
    for i, (_, held) in enumerate(group_kfold(groups, k, seed=seed)):
        fold[held] = f"fold{i}"
    table["fold"] = fold
    out = {"k": k, "by": by, "genes": table["fold"].value_counts().sort_index().to_dict()}
    if by == "chromosome":
        out["chromosomes"] = {f: sorted(set(table.loc[table["fold"] == f, by].astype(str)))
                              for f in sorted(set(fold))}
    return out


def add_families(table: pd.DataFrame, group_column: str = "chromosome", **cluster_kw) -> dict:
    """Add a ``family`` column: clusters of windows sharing k-mers (paralogues, repeats, overlapping windows).

    Uses :func:`seq2expr.data.similarity.similarity_clusters` (k-mer containment, sketched for long windows).
    Genes whose windows overlap on the genome share sequence and cluster together too, so families mostly
    stay within a chromosome; a family spanning several chromosomes is a paralogue group that a
    chromosome split would straddle. Split with ``method: group, group_column: family`` to keep families
    whole, or drop test genes whose family has training members (as DeepCRE does for validation genes).
    Returns counts for the report.
    """
    from seq2expr.data.sequences import encode
    from seq2expr.data.similarity import similarity_clusters

    labels = similarity_clusters(encode(table["sequence"].tolist(), ids=table["id"].tolist()), **cluster_kw)
    prefix = table["species"].astype(str).where(table["species"].astype(str) != "", "fam") + ":"
    table["family"] = prefix + pd.Series(labels, index=table.index).astype(str)
    sizes = table["family"].map(table["family"].value_counts())
    n_groups = table.groupby("family")[group_column].transform("nunique")
    return {"families": int(table["family"].nunique()), "genes_in_multi_gene_families": int((sizes > 1).sum()),
            "largest_family": int(sizes.max()),
            f"genes_in_families_spanning_{group_column}s": int((n_groups > 1).sum())}


def _assemble(genes: pd.DataFrame, tpm: pd.DataFrame, aggregate: str, transform: str,
              species: str | None) -> pd.DataFrame:
    """Final column order; targets as float32."""
    tr = TargetTransform(kind=transform)
    base = TARGET_BASE[transform]
    sub = tpm.loc[genes["gene_id"]]
    table = pd.DataFrame({
        "id": genes["gene_id"].to_numpy(), "sequence": genes["sequence"].to_numpy(),
        base: tr.apply(aggregate_samples(sub, aggregate).to_numpy()),
    })
    if aggregate == "none":
        for c in sub.columns:
            table[_sample_column(base, str(c))] = tr.apply(sub[c].to_numpy())
    table = table.assign(
        gene_name=genes["gene_name"].to_numpy(), chromosome=genes["chrom"].to_numpy(),
        species=species or "", strand=genes["strand"].to_numpy(), tss=genes["tss"].to_numpy(),
        tts=genes["tts"].to_numpy(), padded=genes["padded"].to_numpy(), tss_source=genes["tss_source"].to_numpy(),
        biotype=genes["biotype"].to_numpy(),
    )
    return table


def _write_table(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        if path.name.endswith(".parquet"):
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, sep="\t", index=False, compression={"method": "gzip", "compresslevel": 1})  # 9: 10x slower


def write_gene_dataset(table: pd.DataFrame, out: str | Path, *, formats: Sequence[Format] = ("parquet",),
                       report: dict | None = None, name: str = TABLE_NAME, command: str = GENES_COMMAND,
                       force: bool = False) -> dict[str, str]:
    """Write the folder ``OUT`` with ``genes.parquet`` / ``genes.tsv.gz`` (+ ``genes_labelled.*`` when labelled)
    and report.json, all together (a temporary folder moved into place): an interrupted write leaves none of them.
    ``OUT`` is new, or with ``force`` a previous output of ``command`` (:func:`seq2expr.outputs.check_output`)."""
    check_output(out, [], command=command, folder=True, force=force)
    out = Path(out)
    files: dict[str, str] = {}
    bad = set(formats) - {"parquet", "tsv"}
    if bad or not formats:
        raise ValueError(f"formats must be parquet and/or tsv, got {list(formats)}")
    ext = {"parquet": ".parquet", "tsv": ".tsv.gz"}
    with atomic_path(out, is_dir=True) as stage:
        write_marker(stage, command)
        for fmt in formats:
            path = out / f"{name}{ext[fmt]}"
            _write_table(table, stage / path.name)
            files[fmt] = str(path)
            if "label" in table.columns:
                lab = table[table["label"].notna()].reset_index(drop=True)
                path = out / f"{name}_labelled{ext[fmt]}"
                _write_table(lab, stage / path.name)
                files[f"{fmt}_labelled"] = str(path)
        if report is not None:
            write_json(stage / "report.json", {**report, "files": files})
    return files


def load_gene_dataset(path: str | Path) -> pd.DataFrame:
    """A built table: a folder (its ``genes.parquet`` or ``genes.tsv.gz``), or the file itself."""
    path = Path(path)
    if path.is_dir():
        for cand in (path / f"{TABLE_NAME}.parquet", path / f"{TABLE_NAME}.tsv.gz"):
            if cand.exists():
                path = cand
                break
        else:
            raise DataError(f"no {TABLE_NAME}.parquet or {TABLE_NAME}.tsv.gz in the folder", source=str(path))
    if not path.exists():
        raise DataError("gene data set not found", source=str(path))
    return pd.read_parquet(path) if path.name.endswith(".parquet") else pd.read_csv(path, sep="\t")


def concat_gene_datasets(parts: Sequence[str | Path | pd.DataFrame], *, out: str | Path | None = None,
                         on_duplicate: Literal["error", "prefix"] = "error",
                         formats: Sequence[Format] = ("parquet",), force: bool = False) -> pd.DataFrame:
    """Stack per-species tables (columns united; a sample column absent from a species is NaN).

    Every part needs a non-empty ``species``. Gene IDs must stay unique: ``on_duplicate="prefix"`` renames
    every ID to ``species:id`` instead of raising. ``out``: a new folder, or with ``force`` a previous
    ``data genes-combine`` output, never one of the parts.
    """
    if out is not None:
        check_output(out, parts, command=COMBINE_COMMAND, folder=True, force=force)
    frames = []
    for p in parts:
        df = p if isinstance(p, pd.DataFrame) else load_gene_dataset(p)
        src = "<DataFrame>" if isinstance(p, pd.DataFrame) else str(p)
        if "species" not in df.columns or (df["species"].astype(str) == "").any():
            raise DataError("every row needs a species to combine data sets (build with species=...)", source=src)
        frames.append(df)
    if not frames:
        raise DataError("no data sets to combine")
    table = pd.concat(frames, ignore_index=True, sort=False)
    dup = table["id"].duplicated(keep=False)
    if dup.any():
        if on_duplicate != "prefix":
            raise DataError(f"{int(dup.sum())} rows share gene IDs across data sets, e.g. "
                            f"{table.loc[dup, 'id'].head(3).tolist()}; use on_duplicate='prefix'",
                            record=table.loc[dup, "id"].iloc[0])
        table["id"] = table["species"].astype(str) + ":" + table["id"].astype(str)
    if out is not None:
        report = {"parts": [str(p) if not isinstance(p, pd.DataFrame) else "<DataFrame>" for p in parts],
                  "rows": len(table), "species": table["species"].value_counts().to_dict()}
        write_gene_dataset(table, out, formats=formats, report=report, command=COMBINE_COMMAND, force=force)
    return table
