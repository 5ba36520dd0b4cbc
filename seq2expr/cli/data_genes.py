"""CLI commands ``data genes`` (genome + annotation + expression -> gene table) and ``data genes-combine``."""

from __future__ import annotations

from pathlib import Path

import typer

from seq2expr.cli.common import FORCE_HELP, call_by_name, choice, user_errors


def _floats(text: str | None, one_ok: bool = False) -> tuple[float, float] | None:
    """``"lo,hi"`` -> ``(lo, hi)``; with ``one_ok`` a single value ``t`` -> ``(t, t)``."""
    if not text:
        return None
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"expected numbers separated by a comma, got {text!r}") from None
    if one_ok and len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) != 2:
        raise typer.BadParameter(f"give two values lo,hi (e.g. 0.25,0.75), got {text!r}")
    return parts[0], parts[1]


def _list(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def print_report(report: dict) -> None:
    """Rich summary: genes kept, dropped by reason, padded windows, renamed chromosomes, TSS sources."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"gene data set{' (' + report['species'] + ')' if report.get('species') else ''}")
    table.add_column("what")
    table.add_column("genes", justify="right")
    table.add_column("note")
    table.add_row("annotated genes", str(report.get("annotation", {}).get("genes", "")),
                  f"{report.get('annotation', {}).get('format', '')}".upper())
    table.add_row("[green]kept[/green]", str(report["kept"]), f"{report['seq_len']} bp windows")
    for reason, n in report.get("dropped", {}).items():
        ex = ", ".join(report.get("dropped_examples", {}).get(reason, [])[:3])
        why = DROP_REASONS.get(reason, "")
        table.add_row(f"[red]dropped: {reason}[/red]", str(n), "; ".join(x for x in (why, ex and f"e.g. {ex}") if x))
    table.add_row("padded with N (kept, flagged)", str(report.get("padded_windows", 0)), "window ran off a chromosome")
    for src, n in report.get("tss_sources", {}).items():
        table.add_row(f"TSS from {src}", str(n), "")
    expr = report.get("expression", {})
    table.add_row("expression IDs not in annotation", str(expr.get("not_in_annotation", 0)),
                  "name mismatch; e.g. " + ", ".join(expr.get("not_in_annotation_examples", [])[:3])
                  if expr.get("not_in_annotation") else "")
    table.add_row("expression rows without a window", str(expr.get("without_sequence", 0)),
                  "not annotated, or on a chromosome not in the genome")
    bed = report.get("tss_bed")
    if bed:
        table.add_row("TSS BED names unmatched", str(bed["unmatched_names"]), ", ".join(bed["unmatched_examples"][:3]))
    labels = report.get("labels")
    if labels:
        table.add_row("labels high / low / middle",
                      f"{labels.get('high', 0)} / {labels.get('low', 0)} / {labels.get('middle', 0)}",
                      f"quantiles {labels['quantiles']}" if labels.get("quantiles") else
                      f"thresholds {labels['thresholds']}")
    console.print(table)
    if report.get("families"):
        console.print(f"families: {report['families']}")
    if report.get("folds"):
        folds = report["folds"]
        console.print(f"folds by {folds['by']}: {folds['genes']}"
                      + (f" chromosomes {folds['chromosomes']}" if folds.get("chromosomes") else ""))
    ann = report.get("annotation") or {}
    if ann.get("inferred_biotypes"):
        console.print(f"annotation: no biotype attribute on {ann['inferred_biotypes']} genes; inferred from their "
                      f"features (CDS -> protein_coding): {ann.get('biotypes')}")
    for what, rep in report.get("chromosomes", {}).items():
        if not rep.get("renamed") and not rep.get("unmatched"):
            console.print(f"{what}: all {rep.get('n_names', 0)} chromosome names are the FASTA's")
        if rep.get("renamed"):
            pairs = ", ".join(f"{a}->{b}" for a, b in list(rep["renamed"].items())[:6])
            console.print(f"{what}: renamed {rep['n_renamed']} chromosome(s) to the FASTA's names ({pairs}"
                          f"{', ...' if rep['n_renamed'] > 6 else ''})")
        if rep.get("unmatched"):
            console.print(f"[yellow]{what}: chromosome(s) not in the genome: {rep['unmatched'][:10]}[/yellow]")
    console.print(f"units: {expr.get('units')} ({len(expr.get('samples', []))} samples, IDs matched by "
                  f"{expr.get('matched_by')}); targets: {report.get('target_columns')}; {report.get('seconds')} s")
    if report.get("interactions"):
        print_interactions(console, report)
    for k, v in report.get("files", {}).items():
        console.print(f"wrote {k}: {v}")


def print_interactions(console, report: dict) -> None:
    """The distal input's summary: links, genes with and without loops, skipped records, leakage, dual sizes."""
    rep, dual = report["interactions"], report.get("dual", {})
    settings = (report.get("settings") or {}).get("interactions") or {}
    console.print(f"interactions ({rep['format']}, {rep['records']} records): {rep['links']} gene-region links; "
                  f"{rep['genes_with_interactions']} genes with, {rep['genes_without_interactions']} without "
                  f"({'dropped' if settings.get('no_interaction') == 'drop' else 'kept, all-N distal input'}); "
                  f"{rep['rows']} rows ({settings.get('policy')}), slots filled {rep['slots_filled']}")
    if rep.get("skipped"):
        console.print(f"interaction records skipped: {rep['skipped']}"
                      + (f" (e.g. {rep['unknown_gene_examples'][:3]})" if rep.get("unknown_gene_examples") else ""))
    leak = rep.get("leakage", {})
    console.print(f"distal regions: {leak.get('distinct_regions')} distinct, {leak.get('regions_of_several_genes')} "
                  f"shared by several genes; shared across chromosomes {leak.get('across_chromosomes')}"
                  + (f", across folds {leak['across_folds']}" if "across_folds" in leak else ""))
    console.print(f"model dual: data.sequence_column={dual.get('column')}, model.params.branch_lengths="
                  f"{dual.get('branch_lengths')}, spacer={dual.get('spacer')} ({dual.get('seq_len')} bp)")


DROP_REASONS = {
    "chromosome_not_in_genome": "chromosome name matches no FASTA sequence",
    "beyond_chromosome_end": "gene ends past its chromosome",
    "no_expression": "gene ID not in the expression input",
    "biotype": "biotype filter",
    "duplicate_gene_id": "gene ID on several gene lines (first kept)",
    "padded": "window ran off a chromosome (--drop-padded)",
}


def genes_cmd(
    genome: Path = typer.Option(..., "--genome", help="FASTA (plain, bgzip or gzip)"),
    annotation: Path = typer.Option(..., "--annotation", help="GTF or GFF3 (plain or .gz)"),
    expression: Path = typer.Option(..., "--expression",
                                    help="genes x samples table, or a folder / tarball of htseq-count files"),
    out: Path = typer.Option(..., "-o", "--out", help="output folder (genes.parquet, report.json)"),
    tss_bed: Path | None = typer.Option(None, "--tss-bed", help="BED of measured transcript starts"),
    tss_names: Path | None = typer.Option(None, "--tss-names", help="2-column alias table for BED names"),
    tss_bed_tts: bool = typer.Option(False, "--tss-bed-tts", help="also take the TTS from the BED end"),
    tss_from: str = typer.Option("gene", "--tss-from", help="gene | transcript | codon"),
    upstream: int = typer.Option(1000, "--upstream", help="bases before the TSS"),
    downstream: int = typer.Option(500, "--downstream", help="bases from the TSS into the gene"),
    tts_upstream: int = typer.Option(500, "--tts-upstream", help="bases up to and including the TTS"),
    tts_downstream: int = typer.Option(1000, "--tts-downstream", help="bases after the TTS"),
    spacer: int = typer.Option(20, "--spacer", help="Ns between the TSS and TTS windows"),
    mask_codons: bool = typer.Option(False, "--mask-codons", help="N over the 3 bases at TSS and TTS"),
    single_window: int | None = typer.Option(None, "--single-window",
                                             help="one window of this length around the TSS (Xpresso: 10500)"),
    single_upstream: int | None = typer.Option(None, "--single-upstream",
                                               help="bases of the single window before the TSS (default 2/3)"),
    biotypes: str = typer.Option("protein_coding", "--biotypes", help="comma list, or 'all'"),
    units: str = typer.Option("auto", "--units", help="auto | counts | tpm | fpkm"),
    gene_column: str | None = typer.Option(None, "--gene-column", help="gene ID column of a table"),
    samples: str | None = typer.Option(None, "--samples", help="comma list of sample columns to use"),
    aggregate: str = typer.Option("mean", "--aggregate", help="mean | median | max | none (per-sample)"),
    transform: str = typer.Option("log1p", "--transform", help="log1p | log2p1 | log10p1 | none"),
    label_quantiles: str | None = typer.Option(None, "--label-quantiles",
                                               help="high/low classes by quantile, middle dropped: 0.25,0.75"),
    label_thresholds: str | None = typer.Option(None, "--label-thresholds",
                                                help="high/low by target value: lo,hi (or one threshold)"),
    species: str | None = typer.Option(None, "--species", help="value of the species column"),
    drop_padded: bool = typer.Option(False, "--drop-padded", help="drop windows that ran off a chromosome"),
    families: bool = typer.Option(False, "--families", help="add a k-mer similarity 'family' column"),
    folds: int | None = typer.Option(None, "--folds", help="add a 'fold' column: k folds of whole chromosomes"),
    fold_by: str = typer.Option("chromosome", "--fold-by", help="chromosome | family (needs --families)"),
    formats: str = typer.Option("parquet", "--format", help="parquet, tsv, or parquet,tsv"),
    interactions: Path | None = typer.Option(None, "--interactions",
                                             help="chromatin loops: BEDPE, or a gene-pair table (gene1, gene2, "
                                                  "score; DeepCBA's Annotation1, Annotation2, ChIN)"),
    distal_window: int = typer.Option(1000, "--distal-window", help="bases of each distal region, centred on its "
                                                                     "anchor"),
    max_distal: int = typer.Option(1, "--max-distal", help="slots: a gene's K highest-scoring distal regions"),
    distal_policy: str = typer.Option("slots", "--distal-policy", callback=choice("slots", "per-interaction"),
                                      help="slots (K per gene) | per-interaction (one row per gene and region)"),
    no_interaction: str = typer.Option("empty", "--no-interaction", callback=choice("empty", "drop"),
                                       help="genes without a loop: an all-N distal input (empty) or dropped"),
    distal_spacer: int = typer.Option(20, "--distal-spacer", help="Ns between the gene window and the distal input"),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Build a gene-level table (DeepCRE windows around TSS and TTS, TPM targets) from a genome; with
    --interactions also the distal input of each gene's loops (model dual, DeepCBA)."""
    from seq2expr.data.genome.build import GeneOptions, build_gene_dataset
    from seq2expr.data.genome.interactions import InteractionOptions
    from seq2expr.data.genome.windows import WindowSpec

    with user_errors():
        spec = (WindowSpec.single(single_window, single_upstream) if single_window else
                call_by_name(WindowSpec, locals()))
        options = call_by_name(
            GeneOptions, locals(), windows=spec, biotypes=None if biotypes.strip().lower() == "all" else
            _list(biotypes), samples=_list(samples), label_quantiles=_floats(label_quantiles),
            formats=_list(formats) or ["parquet"], label_thresholds=_floats(label_thresholds, one_ok=True),
            interactions=None if interactions is None else InteractionOptions(
                interactions, window=distal_window, max_distal=max_distal, policy=distal_policy,
                no_interaction=no_interaction, spacer=distal_spacer))
        _, report = build_gene_dataset(genome, annotation, expression, options, out=out, force=force)
    print_report(report)

def genes_combine_cmd(
    parts: list[Path] = typer.Argument(..., help="built gene data sets (folders or tables)"),
    out: Path = typer.Option(..., "-o", "--out", help="output folder"),
    prefix_ids: bool = typer.Option(False, "--prefix-ids", help="rename IDs to species:id if they collide"),
    formats: str = typer.Option("parquet", "--format", help="parquet, tsv, or parquet,tsv"),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Concatenate per-species gene data sets into one table (for cross-species splits)."""
    from rich.console import Console

    from seq2expr.data.genome.build import concat_gene_datasets

    with user_errors():
        table = concat_gene_datasets(parts, out=out, on_duplicate="prefix" if prefix_ids else "error",
                                     formats=_list(formats) or ["parquet"], force=force)
    counts = table["species"].value_counts().to_dict()
    Console().print(f"combined {len(table)} genes: {counts} -> {out}")
