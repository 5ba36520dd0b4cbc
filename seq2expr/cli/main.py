"""``seq2expr`` entry point. Each command module adds its commands through ``register(app, data_app)``.

Heavy imports (torch, lightning) happen inside the commands so ``seq2expr --help`` stays fast.
"""

from __future__ import annotations

import typer

from seq2expr.cli import data_genes, data_registry, demo, interpret, train

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Predict gene expression from DNA sequence; explain it as CREs and motifs.")
data_app = typer.Typer(no_args_is_help=True, help="Data sets: list, fetch, inspect, build from a genome.")
app.add_typer(data_app, name="data")

for _module in (train, demo, data_registry, data_genes, interpret):
    _module.register(app, data_app)


@app.callback()
def _main(verbose: bool = typer.Option(True, "--verbose/--silent", help="Log the steps of long commands.")) -> None:
    """Show the package's INFO messages (data encoding, interpretation stages) on stderr; warnings always."""
    import logging

    from rich.console import Console
    from rich.logging import RichHandler

    logger = logging.getLogger("seq2expr")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        logger.addHandler(RichHandler(console=Console(stderr=True), show_path=False, show_level=False))
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


if __name__ == "__main__":  # pragma: no cover
    app()
