"""CLI command ``variants``: predicted effects of the variants of a VCF/BCF or table on a genome, or of sequence
pairs; a thin wrapper over :class:`seq2expr.variants.VariantScorer` and :func:`seq2expr.variants.score_pairs`."""

from __future__ import annotations

from pathlib import Path

import typer

from seq2expr.cli.common import (
    FORCE_HELP,
    LOGO_METHODS,
    MODEL_HELP,
    SHARD_HELP,
    BatchSizeOption,
    DeviceOption,
    EngineOption,
    PrecisionOption,
    ReadoutOption,
    at_least,
    call_by_name,
    choice,
    console,
    fail,
    model_arg,
    user_errors,
)


def variants_cmd(
    model_dir: str = typer.Argument(..., callback=model_arg, help=MODEL_HELP),
    variants: Path = typer.Argument(..., help="VCF/BCF (.vcf, .vcf.gz, .bcf), a table chrom,pos,ref,alt[,id], or "
                                              "with --mode pairs a table of ref/alt sequences."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (written atomically)."),
    genome: Path | None = typer.Option(None, "--genome", help="Genome FASTA (plain, bgzip or gzip)."),
    mode: str = typer.Option("auto", "--mode", callback=choice("auto", "gene", "centred", "pairs"),
                             help="gene (the model's gene windows), centred (a window centred on the variant), "
                                  "pairs (sequence pairs), or auto."),
    genes: Path | None = typer.Option(None, "--genes", help="Gene table (id, chromosome, strand, tss, tts) instead "
                                                            "of the one the model was trained on."),
    annotation: Path | None = typer.Option(None, "--annotation", help="GTF/GFF3 to place genes with the model's "
                                                                      "TSS/TTS rules."),
    tss_bed: Path | None = typer.Option(None, "--tss-bed", help="Measured TSSs (with --annotation)."),
    tss_names: Path | None = typer.Option(None, "--tss-names", help="2-column alias table for --tss-bed's names."),
    target: ReadoutOption = None,
    construct: str | None = typer.Option(None, "--construct", help="Centred mode: the fixed flanks of a registry "
                                                                   "data set's construct (e.g. dream2022), or "
                                                                   "'none'; --left/--right-flank win over it."),
    left_flank: str = typer.Option("", "--left-flank", help="Centred mode: fixed sequence before the variable part."),
    right_flank: str = typer.Option("", "--right-flank", help="Centred mode: fixed sequence after it."),
    match_chromosomes: bool = typer.Option(False, "--match-chromosomes",
                                           help="Reconcile chromosome names with the genome's (chrI = I, chr1 = 1)."),
    on_ref_mismatch: str = typer.Option("error", "--on-ref-mismatch", callback=choice("error", "skip"),
                                       help="error or skip (counted)."),
    on_unknown_chromosome: str = typer.Option("error", "--on-unknown-chromosome", callback=choice("error", "skip"),
                                             help="error or skip (counted)."),
    background: int = typer.Option(10_000, "--background", help="Random SNVs whose |effect| sets the percentiles."),
    attributions: str = typer.Option("deeplift_shap", "--attributions",
                                     callback=choice(*LOGO_METHODS),
                                     help=f"Logos of the top variants: {', '.join(LOGO_METHODS)}."),
    top: int = typer.Option(8, "--top", help="Top variants shown in the report."),
    table_format: str = typer.Option("tsv", "--format", callback=choice("tsv", "parquet"), help="tsv or parquet."),
    ref_column: str = typer.Option("ref_sequence", "--ref-column", help="Pairs: the reference sequence column."),
    alt_column: str = typer.Option("alt_sequence", "--alt-column", help="Pairs: the alternative sequence column."),
    id_column: str = typer.Option("id", "--id-column", help="Pairs: the ID column."),
    batch_size: BatchSizeOption = 512,
    chunk_size: int = typer.Option(100_000, "--chunk-size", help="Alleles read at a time."),
    seed: int = typer.Option(0, "--seed", help="Seed of the background sample."),
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    engine: EngineOption = "torch",
    shard: str = typer.Option(None, "--shard", help=SHARD_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    allow_duplicates: bool = typer.Option(False, "--allow-duplicates", help="Pairs: score rows whose IDs repeat "
                                          "(by default the first repeated ID is an error)."),
) -> None:
    """Predict variant effects (alt - ref, original scale) on the genes whose windows hold them, or in windows
    centred on them; writes a table, an annotated VCF, summary.json and report.html."""
    from seq2expr.outputs import check_output

    at_least(batch_size=batch_size, chunk_size=chunk_size)
    at_least(0, background=background, top=top)
    if mode == "pairs":
        from seq2expr.variants import write_pair_outputs

        with user_errors():
            summary = call_by_name(write_pair_outputs, locals(), model=model_dir, pairs=variants, out_dir=out,
                                   readout=target)
        console().print(f"{summary['pairs']} pairs scored -> {out}")
        return
    if genome is None:
        fail("--genome is needed to place variants (or --mode pairs for sequence pairs)")
    from seq2expr.inference import construct_spec
    from seq2expr.variants import ScoreOptions, VariantScorer, write_variant_outputs

    with user_errors():
        # before the genome and genes are read: an output that would replace an input is refused at once
        check_output(out, [model_dir, variants, genome, genes, annotation, tss_bed, tss_names], command="variants",
                     folder=True, force=force)
        options = call_by_name(ScoreOptions, locals(), construct=construct_spec(construct, left_flank, right_flank),
                                readout=target)
        scorer = VariantScorer(model_dir, genome, options)
        # its logos (top, attributions) as the scorer's options say
        summary = call_by_name(write_variant_outputs, locals(), out_dir=out, leave=("top", "attributions", "progress"))
    typer.echo(f"{summary['alleles']} alleles read, {summary['scored_alleles']} scored ({summary['rows']} rows, "
               f"{summary['mode']} mode) in {summary['seconds']} s -> {out}")
    if summary.get("background_reused"):
        typer.echo(f"  percentiles: {summary['background_snvs']} background SNVs reused from the cache "
                   "($SEQ2EXPR_CACHE/variants: same model, genome, windows and settings)", err=True)
    if summary.get("empty"):  # said, not left for the user to notice
        typer.echo(f"warning: 0 variants scored: {summary['empty']}", err=True)
    for reason, n in summary["skipped"].items():
        typer.echo(f"  skipped {n}: {reason} ({summary['skip_reasons'][reason]})", err=True)
    for kind, names in (summary.get("undeclared_in_header") or {}).items():
        typer.echo(f"  note: {kind} {', '.join(names)} used by records but not declared in the VCF header (declared "
                   "in variants.vcf.gz)", err=True)
