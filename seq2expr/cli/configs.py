"""CLI commands ``configs list`` and ``configs show NAME``: the run configs shipped with the package, to copy."""

from __future__ import annotations

import typer

from seq2expr.cli.common import console, user_errors


def configs_list_cmd() -> None:
    """The shipped run configs: name, file and first comment line (train one with `seq2expr train NAME`)."""
    from rich.table import Table

    from seq2expr.config import shipped_configs

    table = Table(title="shipped configs (seq2expr configs show NAME > my.yaml)")
    for col in ("name", "what", "file"):
        table.add_column(col, overflow="fold")
    for name, path in shipped_configs().items():
        first = next((line.lstrip("# ").strip() for line in path.read_text().splitlines() if line.startswith("#")),
                     "")
        table.add_row(name, first, str(path))
    console().print(table)


def configs_show_cmd(name: str = typer.Argument(..., help="A shipped config's name (seq2expr configs list).")) -> None:
    """Print a shipped config (comments included) to copy and edit: `seq2expr configs show table > my.yaml`."""
    from seq2expr.config import config_path

    with user_errors():
        text = config_path(name).read_text()
    typer.echo(text, nl=False)
