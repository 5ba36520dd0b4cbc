"""CLI commands ``predict`` and ``evaluate``: thin wrappers over :func:`seq2expr.inference.predict_file` and
:func:`seq2expr.evaluation.evaluate`.

``INPUT`` is a file (TSV/CSV/parquet/FASTA) or a registry data set ``NAME[:SUBSET]``: a named subset of the entry
(``dream2022:test``, ``vaishnav2022:native_complex``) or else the rows whose ``split`` group holds SUBSET.
"""

from __future__ import annotations

from pathlib import Path

import typer

from seq2expr.cli.common import (
    FORCE_HELP,
    ID_HELP,
    MODEL_HELP,
    SEQ_HELP,
    SHARD_HELP,
    BatchSizeOption,
    DeviceOption,
    EngineOption,
    PrecisionOption,
    ReadoutOption,
    at_least,
    call_by_name,
    console,
    keywords_by_name,
    model_arg,
    print_challenge,
    print_groups,
    print_metrics,
    user_errors,
)


def predict_cmd(
    model_dir: str = typer.Argument(..., callback=model_arg, help=MODEL_HELP),
    input: str = typer.Argument(..., help="Sequences file (TSV/CSV/parquet/FASTA) or DATASET[:SUBSET]."),
    out: Path = typer.Option(..., "-o", "--out", help="Output TSV (id, one column per output, named after it)."),
    batch_size: BatchSizeOption = 512,
    chunk_size: int = typer.Option(100_000, "--chunk-size", help="Records read at a time."),
    id_column: str = typer.Option(None, "--id-column", help=ID_HELP),
    sequence_column: str = typer.Option(None, "--sequence-column", help=SEQ_HELP),
    target: ReadoutOption = None,
    scale: str = typer.Option("original", "--scale", help="original (measured scale, or probabilities) or model "
                                                          "(the network's output: transformed values, logits)."),
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    shard: str = typer.Option(None, "--shard", help=SHARD_HELP),
    devices: str = typer.Option(None, "--devices", help="Predict on several devices at once, one process each: a "
                                                        "count (GPUs 0..N-1, or N CPU processes without a GPU) or "
                                                        "a list such as cuda:0,cuda:2."),
    allow_duplicates: bool = typer.Option(False, "--allow-duplicates", help="Predict records whose IDs repeat "
                                          "(by default the first repeated ID is an error: the output rows could "
                                          "not be told apart)."),
    engine: EngineOption = "torch",
    strict_length: bool = typer.Option(False, "--strict-length", help="Refuse sequences of another length than the "
                                       "model takes (by default its policy pads or truncates them, and one warning "
                                       "counts them)."),
) -> None:
    """Predict expression (original scale) or class probability for every sequence: every target, or the
    outputs --target names."""
    from seq2expr.inference import device_list, predict_file, predict_on_devices

    at_least(batch_size=batch_size, chunk_size=chunk_size)
    with user_errors():
        # predict_file's options by name (predict_on_devices passes them on to it), but where the rows go
        options = keywords_by_name(predict_file, locals(), readout=target,
                                   leave=("model", "input_path", "out_path", "device", "shard", "compute"))
        if devices:
            if shard:
                raise ValueError("use --devices or --shard, not both")
            n = predict_on_devices(model_dir, input, out, device_list(devices), **options)
        else:
            n = predict_file(model_dir, input, out, device=device, shard=shard, **options)
    console().print(f"{n} predictions -> {out}" + (f" (shard {shard})" if shard else ""))


def merge_cmd(
    out: Path = typer.Argument(..., help="Merged output."),
    parts: list[Path] = typer.Argument(..., help="The outputs of every --shard K/N run of one job (any order)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Join the outputs of `predict --shard K/N` (tables) or `variants --shard K/N` (folders) runs into one output in
    input order (checks that every shard is there exactly once)."""
    from seq2expr.inference import merge_tables

    with user_errors():
        if all(p.is_dir() for p in parts):
            from seq2expr.variants import merge_variant_outputs

            n = merge_variant_outputs(out, list(parts), force=force)["rows"]
        else:
            n = merge_tables(out, list(parts))
    console().print(f"{n} rows from {len(parts)} shards -> {out}")


def evaluate_cmd(
    model_dir: str = typer.Argument(..., callback=model_arg, help=MODEL_HELP),
    input: str = typer.Argument(..., help="Table with sequences and measured targets, FASTA (with --values), "
                                          "or DATASET[:SUBSET]."),
    values: Path = typer.Option(None, "--values", help="Table of targets (and groups) joined to INPUT by ID, "
                                                       "e.g. for a FASTA."),
    target: ReadoutOption = None,  # mean:/diff: readouts have no measured column: evaluate refuses them
    target_column: list[str] = typer.Option(None, "--target-column",
                                            help="This table's column for each target scored (default: the "
                                                 "targets' own names)."),
    group_column: list[str] = typer.Option(None, "--group-column",
                                           help="Report metrics per group value (default: the training run's "
                                                "group columns present in INPUT)."),
    id_column: str = typer.Option(None, "--id-column", help=ID_HELP),
    sequence_column: str = typer.Option(None, "--sequence-column", help=SEQ_HELP),
    out_dir: Path = typer.Option(None, "-o", "--out-dir", help="Write metrics.json, plots, predictions here."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the CI."),
    batch_size: BatchSizeOption = 512,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    exclude_training: bool = typer.Option(False, "--exclude-training",
                                          help="Leave out the sequences the model was trained or validated on "
                                               "(either strand; counted and warned about otherwise)."),
) -> None:
    """Score a saved model on labelled sequences: metrics (overall, per group, CI) and plots."""
    from seq2expr.evaluation import evaluate

    at_least(batch_size=batch_size)
    at_least(0, n_boot=n_boot)
    with user_errors():
        report = call_by_name(evaluate, locals(), model=model_dir, data=input, readout=target,
                              target_columns=target_column or None, group_columns=group_column or None,
                              leave=("name", "seed"))
    name = next(k for k in report if isinstance(report[k], dict) and "overall" in report[k])
    print_metrics(report, [name], f"{model_dir} on {input}")
    print_groups(report[name])
    if report.get("challenge"):
        print_challenge(report["challenge"])
    if out_dir is not None:
        console().print(f"metrics: {Path(out_dir) / 'metrics.json'}")
