"""CLI command ``interpret``: attributions, de-novo motifs, JASPAR matches and an HTML report.

``INPUT`` is a file (TSV/CSV/parquet/FASTA) or ``DATASET:SPLIT`` (e.g. ``dream2022:test``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from seq2expr.cli.common import (
    FORCE_HELP,
    ID_HELP,
    INTERPRET_METHODS,
    SEQ_HELP,
    BatchSizeOption,
    DeviceOption,
    EngineOption,
    OneOutputOption,
    PrecisionOption,
    ThreadsOption,
    at_least,
    call_by_name,
    choice,
    model_arg,
    user_errors,
)


def interpret_cmd(
    model_dir: str = typer.Argument(..., callback=model_arg, help="Saved model folder (model.safetensors + "
                                                                  "config.json), or zoo:NAME."),
    input: str = typer.Argument(..., help="Sequences: a TSV/CSV/parquet/FASTA file or DATASET:SPLIT."),
    output: Path = typer.Option(..., "-o", "--output", help="Report folder (written atomically)."),
    method: str = typer.Option("deeplift_shap", "--method", callback=choice(*INTERPRET_METHODS),
                              help=f"Attribution method: {' | '.join(INTERPRET_METHODS)} (integrated "
                                   "gradients from a zero baseline, 32 steps)."),
    taxon: str | None = typer.Option(None, "--taxon", help="JASPAR CORE taxonomic group(s) to match against: fungi, "
                                     "plants, vertebrates, insects, nematodes, urochordates..., several "
                                     "comma-separated (plants,vertebrates), or all. Default: the run's "
                                     "interpret.taxon, else all (none with --motifs)."),
    motifs: list[Path] = typer.Option(None, "--motifs", help="MEME file to match against instead of JASPAR "
                                      "(repeatable; with --taxon, both are searched)."),
    max_seqs: int = typer.Option(2000, "--n", "--max-seqs",
                                 help="Explain at most this many sequences (a seeded random subset)."),
    n_top: int = typer.Option(8, "--n-top", help="Top-predicted sequences shown with attribution logos."),
    target: OneOutputOption = "0",
    n_shuffles: int = typer.Option(10, "--n-shuffles", help="DeepLIFT-SHAP shuffled references."),
    sequence_column: str | None = typer.Option(None, "--sequence-column", help=SEQ_HELP),
    id_column: str | None = typer.Option(None, "--id-column", help=ID_HELP),
    seed: int = typer.Option(0, "--seed"),
    threads: ThreadsOption = None,
    device: DeviceOption = "auto",
    batch_size: BatchSizeOption = 128,
    precision: PrecisionOption = "auto",
    engine: EngineOption = "torch",
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Explain a saved model's predictions: attribution logos, TF-MoDISco motifs matched to JASPAR,
    global importance of the matched motifs; writes REPORT_DIR/report.html and tables."""
    import torch

    from seq2expr.interpret.report import ReportOptions, write_report

    if engine != "torch" and method != "ism":
        raise typer.BadParameter(f"{engine} runs forward passes only: use it with --method ism ({method} needs "
                                 "gradients, engine torch)", param_hint="--engine")
    at_least(n=max_seqs, n_shuffles=n_shuffles, batch_size=batch_size)
    at_least(0, n_top=n_top)
    if threads:
        torch.set_num_threads(threads)
    with user_errors():
        options = call_by_name(ReportOptions, locals(), motifs_file=list(motifs or []),
                                leave=("max_q", "n_background", "modisco_args", "max_gi_motifs"))
        path = write_report(model_dir, input, output, options, force=force)  # a file or DATASET[:SUBSET]
    typer.echo(f"report: {path}")
