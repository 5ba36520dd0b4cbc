"""CLI command ``plugins``: every registered model, data set, attribution method, design method, export format and
importer, built in or added by another installed package (:mod:`seq2expr.extensions`)."""

from __future__ import annotations

import typer

from seq2expr.cli.common import FORMAT_HELP, emit_rows, output_format, user_errors


def plugins_cmd(kind: str | None = typer.Option(None, "--kind", help="Only this kind: model, 'data set', "
                                                                     "'attribution method', 'design method', "
                                                                     "'export format' or importer."),
                json_: bool = typer.Option(False, "--json", help=FORMAT_HELP),
                tsv: bool = typer.Option(False, "--tsv", help=FORMAT_HELP)) -> None:
    """List what can be chosen where, and where each comes from (built-in, or the plug-in package's module)."""
    fmt = output_format(json_, tsv)
    with user_errors():
        from seq2expr.extensions import POINTS, rows

        kinds = [p.kind for p in POINTS]
        if kind is not None and kind not in kinds:
            raise ValueError(f"--kind must be one of {', '.join(kinds)}, not {kind!r}")
        emit_rows([r for r in rows() if kind in (None, r["kind"])], fmt, "seq2expr extension points")
