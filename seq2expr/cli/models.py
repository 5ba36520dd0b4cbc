"""CLI commands ``models list``, ``models info NAME``, ``models fetch NAME``, ``models import KIND WEIGHTS -o
DIR``, ``models export MODEL -o DIR`` and ``models test DIR``: the pretrained-model zoo (:mod:`seq2expr.zoo`), the
importers of published checkpoints (:mod:`seq2expr.convert`) and the exporters (:mod:`seq2expr.convert.export`).
``list`` and ``info`` read only the cards shipped in the package: they work offline."""

from __future__ import annotations

from pathlib import Path

import typer

from seq2expr.cli.common import (
    FORCE_HELP,
    FORMAT_HELP,
    MODEL_HELP,
    call_by_name,
    choice,
    console,
    emit_rows,
    model_arg,
    output_format,
    user_errors,
)


def _status(card) -> str:
    """Where the entry's model is on this machine, in a few words."""
    from seq2expr.zoo import converted_dir, locate

    if card.source == "published":
        if (converted_dir(card) / "config.json").is_file():
            return "converted (cache)"
        folder, where = locate(card)
        if folder is not None:
            return f"checkpoint in {where}; run fetch"
        return "not here: fetch" if all(f.pinned for f in card.files) else "not here: import"
    folder, where = locate(card)
    return where if folder is not None else "not here: fetch"


def _list_row(card) -> dict:
    """One entry of ``models list``: metrics under one naming, the origin spelled out."""
    from seq2expr.zoo import named_metrics

    metric = card.metrics[0] if card.metrics else None
    shown = list(named_metrics(metric.metrics).items())[:2] if metric else []
    return {"name": card.name, "version": card.version,
            "origin": "published import" if card.source == "published" else "project-trained",
            "input": f"{card.input.length:,} nt", "predicts": "; ".join(t.predicts() for t in card.targets),
            "held-out": (", ".join(f"{k} {v:.3f}" for k, v in shown) + f" ({metric.data.split()[0]})") if metric
            else "-", "available": _status(card), "licence": card.licence.split(" (")[0]}


def models_list_cmd(exportable: bool = typer.Option(False, "--exportable", help="List the architectures instead: "
                                                     "whether `models export` takes each, and why not."),
                    json_: bool = typer.Option(False, "--json", help=FORMAT_HELP),
                    tsv: bool = typer.Option(False, "--tsv", help=FORMAT_HELP)) -> None:
    """Every zoo entry: its origin (a published import or project-trained), what it predicts and in what range,
    from what input, held-out metrics (pearson_r, spearman_rho) and whether it is available here (offline)."""
    from seq2expr.zoo import list_cards

    fmt = output_format(json_, tsv)
    if exportable:
        from seq2expr.convert.export import exportable_architectures, formats

        rows = [{"architecture": n, "exports": st, "note": note} for n, st, note in exportable_architectures()]
        emit_rows(rows, fmt, f"architectures: seq2expr models export --format {'|'.join(formats())}")
        return
    emit_rows([_list_row(card) for card in list_cards()], fmt, "seq2expr model zoo (use as zoo:NAME)")


def models_info_cmd(name: str = typer.Argument(..., help="Zoo entry (zoo:NAME or NAME), or a saved model's folder."
                                                 ),
                    json_: bool = typer.Option(False, "--json", help=FORMAT_HELP),
                    tsv: bool = typer.Option(False, "--tsv", help=FORMAT_HELP)) -> None:
    """An entry's model card (files and checksums, licence, citation, input contract, targets, held-out metrics), or
    what a saved model folder holds: its card if it has one, its architecture, targets, training and, for a
    fine-tuned model, its lineage (the parent and how it was fine-tuned). ``--json`` gives a zoo entry's whole card."""
    import json

    from seq2expr.zoo import get_card

    fmt = output_format(json_, tsv)
    folder = Path(name)
    with user_errors():
        if folder.is_dir():
            title, rows = _folder_rows(folder)
        else:
            card = get_card(name)
            if fmt == "json":
                typer.echo(json.dumps({**card.model_dump(mode="json"), "origin": card.origin,
                                       "available": _status(card)}, indent=2))
                return
            title, rows = f"{card.name} {card.version}", [*card.lines(), ("available", _status(card))]
    emit_rows([{"field": k, "value": v} for k, v in rows], fmt, title, header=fmt == "json")


def _folder_rows(folder: Path) -> tuple[str, list[tuple[str, str]]]:
    """``models info`` of a saved model folder."""
    from seq2expr.inference import read_config

    cfg = read_config(folder)
    rows = list(cfg.card.lines()) if cfg.card is not None else []
    members = f", ensemble of {cfg.ensemble_size}" if cfg.ensemble_size else ""
    rows += [("architecture", f"{cfg.model.name} ({', '.join(f'{k}={v}' for k, v in cfg.model.params.items()) or '-'})"
              f"{members}"),
             ("input", f"{cfg.seq_len:,} nt one-hot, N = {cfg.policy.n_value:g}; strands "
                       f"{'averaged' if cfg.rc_average else 'as given'}"),
             ("task", f"{cfg.task}: {', '.join(cfg.target_names)}")]
    if cfg.lineage is not None:
        rows += cfg.lineage.lines()
    for split, metrics in (cfg.metrics or {}).items():
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float) and k != "n")
        rows.append((f"{split} metrics", f"{shown} (n={metrics.get('n', '?')}; this model's own evaluation)"))
    if cfg.fit is not None:
        rows.append(("trained", f"precision {cfg.fit.precision}; {cfg.fit.machine or 'machine not recorded'}"))
    return str(folder), rows


def models_fetch_cmd(name: str = typer.Argument(..., help="Zoo entry (zoo:NAME or NAME)."),
                     force: bool = typer.Option(False, "--force", help="Download again even if a checked copy exists."),
                     timeout: float = typer.Option(60.0, "--timeout", help="Seconds per download.")) -> None:
    """Make an entry ready offline: check the local copy or download it (sha256 checked before use); a published
    checkpoint is also converted once (safetensors + JSON + card) into the cache."""
    from seq2expr.convert.fetch import fetch_model

    with user_errors():
        path, where = fetch_model(name, force=force, timeout=timeout)
    console().print(f"{name}: {where} ({path}); checksums verified")


def models_import_cmd(
    kind: str = typer.Argument(..., help="legnet-dream2022, legnet-complex, legnet-defined, camformer, "
                                         "camformer-mini, enformer or borzoi."),
    weights: Path = typer.Argument(..., help="The authors' checkpoint (.pth/.pt/.bin/.safetensors), or a folder "
                                             "holding it with its config.json."),
    out: Path = typer.Option(..., "-o", "--out", help="Saved model folder to write (atomically)."),
    config: Path | None = typer.Option(None, "--config", help="The run's config.json (Camformer's model_args; an "
                                                              "Enformer/Borzoi config) when it is not beside WEIGHTS."),
    seq_len: int | None = typer.Option(None, "--seq-len", help="Input length (Enformer 196,608, Borzoi 524,288)."),
    tracks: str | None = typer.Option(None, "--tracks", help="Enformer/Borzoi: comma-separated track indices."),
    target_names: str | None = typer.Option(None, "--target-names", help="Names of those tracks, comma-separated."),
    tss_bins: int | None = typer.Option(None, "--tss-bins", help="Bins around the TSS read by default (the saved "
                                            "model's positions, centre:N; default 3)."),
    aggregate: str | None = typer.Option(None, "--aggregate", help="mean, sum or max over those bins (default mean)."),
    tf_gamma: bool | None = typer.Option(None, "--tf-gamma/--no-tf-gamma", help="Enformer: TensorFlow positional "
                                         "gammas (default: on for the published architecture)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Convert a published checkpoint to a saved model (safetensors + config.json + card), reading it with
    torch.load(weights_only=True): a checkpoint that would run code is refused."""
    from seq2expr.convert.importers import Options, import_checkpoint

    with user_errors():
        opts = call_by_name(Options, locals(), target_names=target_names.split(",") if target_names else None,
                             tracks=[int(t) for t in tracks.split(",")] if tracks else None)
        path = import_checkpoint(kind, weights, out, opts, force=force)
    console().print(f"{kind}: {weights} -> {path} (use it as a model folder)")


def _registered_format(value: str | None) -> str | None:
    """The --format callback: a format some exporter registered (:mod:`seq2expr.convert.export.registry`)."""
    from seq2expr.convert.export import formats

    return choice(*formats())(value)


def models_export_cmd(
    model: str = typer.Argument(..., callback=model_arg, help=MODEL_HELP),
    out: Path = typer.Option(..., "-o", "--out", help="Export folder to write (atomically): the graph, contract.json, "
                                                      "golden.npz, golden.tsv."),
    format: str = typer.Option("onnx", "--format", callback=lambda v: _registered_format(v),
                               help="A registered format (`models list --exportable` names them): onnx (model.onnx, "
                                    "for ONNX Runtime and other ONNX runtimes) or torch (model.pt2, a torch.export "
                                    "ExportedProgram)."),
    scale: str = typer.Option("original", "--scale", callback=choice("original", "model"),
                              help="original (what `predict` returns) or model (the network's own scale)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Export the whole prediction contract (strands, ensemble mean, inverse transform or sigmoid) as one graph that
    runs without seq2expr, with contract.json (how to encode sequences) and golden outputs checked before writing."""
    from seq2expr.convert.export import contract_summary, export_model

    with user_errors():
        path = export_model(model, out, format=format, scale=scale, force=force)
        summary = contract_summary(path)
    console().print(f"{model} -> {path}: {summary}; golden outputs within tolerance (`seq2expr models test {path}`)")


def models_test_cmd(folder: Path = typer.Argument(..., exists=True, file_okay=False,
                                                  help="An export folder (`seq2expr models export`).")) -> None:
    """Run an export folder's golden sequences through its graph (ONNX Runtime or torch) and report the largest
    difference from the expected outputs: exit 0 within the tolerance, 1 beyond it."""
    from seq2expr.convert.export import verify_export

    with user_errors():
        result = verify_export(folder)
    for name in result.changed:
        typer.echo(f"note: {name} is not the exported file (its sha256 differs from contract.json)", err=True)
    typer.echo(result.line)
    if not result.passed:
        raise typer.Exit(1)
