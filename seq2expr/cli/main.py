"""``seq2expr`` entry point: every command is a function of a ``cli/<module>.py``, registered here.

Heavy imports (torch, lightning) happen inside the commands so ``seq2expr --help`` stays fast. A user error
ends a command with one line on stderr and exit code 2 (:mod:`seq2expr.cli.common`).
"""

from __future__ import annotations

import typer

from seq2expr.cli import (
    configs,
    data_genes,
    data_registry,
    demo,
    design,
    interpret,
    models,
    plugins,
    predict,
    train,
    variants,
)
from seq2expr.cli.common import DEBUG_ENV, OneLineErrors

app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True,
                  help="Predict gene expression from DNA sequence; explain it as CREs and motifs.")
data_app = typer.Typer(no_args_is_help=True, help="Data sets: list, fetch, inspect, build from a genome.")
configs_app = typer.Typer(no_args_is_help=True, help="Run configs shipped with the package: list, show.")
models_app = typer.Typer(no_args_is_help=True,
                         help="Pretrained models (zoo:NAME): list, info, fetch, import; export, test.")
app.add_typer(data_app, name="data")
app.add_typer(configs_app, name="configs")
app.add_typer(models_app, name="models")

app.command("train")(train.train_cmd)
app.command("tune")(train.tune_cmd)
app.command("predict")(predict.predict_cmd)
app.command("evaluate")(predict.evaluate_cmd)
app.command("merge")(predict.merge_cmd)
app.command("interpret")(interpret.interpret_cmd)
app.command("variants")(variants.variants_cmd)
app.command("design")(design.design_cmd)
app.command("demo")(demo.demo_cmd)
app.command("plugins")(plugins.plugins_cmd)
data_app.command("list")(data_registry.data_list_cmd)
data_app.command("info")(data_registry.data_info_cmd)
data_app.command("fetch")(data_registry.data_fetch_cmd)
data_app.command("genes")(data_genes.genes_cmd)
data_app.command("genes-combine")(data_genes.genes_combine_cmd)
configs_app.command("list")(configs.configs_list_cmd)
configs_app.command("show")(configs.configs_show_cmd)
models_app.command("list")(models.models_list_cmd)
models_app.command("info")(models.models_info_cmd)
models_app.command("fetch")(models.models_fetch_cmd)
models_app.command("import")(models.models_import_cmd)
models_app.command("export")(models.models_export_cmd)
models_app.command("test")(models.models_test_cmd)


@app.callback()
def _main(verbose: bool = typer.Option(True, "--verbose/--silent", help="Log the steps of long commands."),
          debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error (also SEQ2EXPR_DEBUG=1)."
                                     )) -> None:
    """Show the package's INFO messages (data encoding, interpretation stages) on stderr; warnings always."""
    import logging
    import os

    if debug:
        os.environ[DEBUG_ENV] = "1"

    from seq2expr.atomic import sweep_temporaries

    sweep_temporaries()  # the temporaries of killed runs, wherever they lie (seq2expr.atomic.register)

    from rich.console import Console
    from rich.logging import RichHandler

    logger = logging.getLogger("seq2expr")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        logger.addHandler(RichHandler(console=Console(stderr=True), show_path=False, show_level=False))
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


if __name__ == "__main__":  # pragma: no cover
    app()
