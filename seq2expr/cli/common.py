"""What every command shares: the console, the one way a user error ends a command, and result tables.

A user error (bad input, a missing file, an invalid option or config) prints one line ``error: ...`` on
stderr and exits with code 2, the code the CLI framework uses for bad options too; no traceback (``seq2expr
--debug`` or ``SEQ2EXPR_DEBUG=1`` prints it too). A file that cannot be read or written (truncated, bad
compression, binary, no permission, disk full) is such an error, named: ``error: FILE: problem``.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from seq2expr.files import is_file_error, problem
from seq2expr.interrupts import Interrupted, handle_signals
from seq2expr.plugins import choices

SEQ_HELP = "Sequence column (default: the one the model was trained with, if present, else 'sequence')."
ID_HELP = "ID column (default: the one the model was trained with, if present, else the row number)."
DEVICE_HELP = "cpu, cuda, cuda:N, or auto (a GPU when there is one)."
PRECISION_HELP = "auto (bf16 where the device runs it natively: a GPU, a CPU with AVX512-BF16/AMX; else 32), 32 " \
                 "(float32, exact), bf16 (bfloat16 autocast: ~2x faster where native, emulated and slow elsewhere) " \
                 "or 16 (float16, GPU)."
SHARD_HELP = "K/N: process only the K-th (0-based) of N contiguous parts of the input (a scheduler array task); " \
             "join the parts with `seq2expr merge`."
ENGINES = ("torch", "onnxruntime")  # seq2expr.inference.engine.ENGINES (tested equal; torch is not imported here)
ENGINE_HELP = "torch, or onnxruntime (the same graph through ONNX Runtime on the CPU, float32; needs " \
              "seq2expr[export]; bench/results/export.md says which is faster for which model)."
READOUT_GRAMMAR = "a target NAME or INDEX, several A,B, their mean mean:A,B or difference diff:A,B (A - B); for a " \
                 "track model, @POSITIONS reads those bins (e.g. NAME@centre:3, @sum:447-449)"
READOUT_HELP = f"Which outputs (the readout): {READOUT_GRAMMAR}. Default: every target, at the model's own positions."
ONE_OUTPUT_HELP = f"The one output (the readout): {READOUT_GRAMMAR}, giving one output."
FORCE_HELP = "Replace OUT if it is a previous output of this command (never an input, nor any other folder)."
MODEL_HELP = "Saved model folder, or a pretrained model zoo:NAME (seq2expr models list)."
# the attribution methods (their modules' names: nothing heavy is imported), and "none" where logos are optional
INTERPRET_METHODS = tuple(choices("attribution method"))
LOGO_METHODS = (*INTERPRET_METHODS, "none")
DESIGN_METHODS = tuple(choices("design method"))
USER_ERROR = 2
DEBUG_ENV = "SEQ2EXPR_DEBUG"


def debugging() -> bool:
    """``--debug`` or ``SEQ2EXPR_DEBUG=1``: a user error prints its traceback before its one line."""
    return os.environ.get(DEBUG_ENV, "").lower() not in ("", "0", "false", "no")


def model_arg(value: str | None) -> str | None:
    """Typer callback of a model argument: a zoo name ``zoo:NAME`` as is (resolved when the model loads), else an
    existing folder, refused as typer's own ``exists=True`` check would."""
    from pathlib import Path

    from seq2expr.zoo import is_zoo_name

    if value is None or is_zoo_name(value):
        return value
    if not Path(value).exists():
        raise typer.BadParameter(f"Directory '{value}' does not exist.")
    if not Path(value).is_dir():
        raise typer.BadParameter(f"Directory '{value}' is a file.")
    return value


def console():
    from rich.console import Console

    return Console()


def message(err: BaseException) -> str:
    """One line for an exception: pydantic validation errors shortened to their first problem."""
    from pydantic import ValidationError

    from seq2expr.config import validation_message

    if isinstance(err, ValidationError):
        return validation_message(err)
    if is_file_error(err) and not (isinstance(err, OSError) and err.errno is None):  # raw: no reader named it
        name = getattr(err, "filename", None)
        return f"{name}: {problem(err)}" if name else problem(err)
    return " ".join(str(err).split())


def fail(err: BaseException | str) -> NoReturn:
    """End the command with ``error: <one line>`` on stderr and exit code 2."""
    if debugging() and isinstance(err, BaseException):
        traceback.print_exception(err)
    typer.echo(f"error: {err if isinstance(err, str) else message(err)}", err=True)
    raise typer.Exit(USER_ERROR)


# click's usage-error class, as the installed typer uses it (recent typers carry their own copy of click)
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OneLineErrors(TyperGroup):
    """The root command group: the framework's usage errors (an unknown option or command, a value that is not an
    integer or not one of an option's choices, a missing argument) end in the project's one line and exit 2 too,
    ``error: seq2expr CMD: <problem> (see 'seq2expr CMD --help')``, not a framed usage block. Only the root needs
    it: every command is parsed inside its ``invoke``."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx):
        with _usage_errors():
            return super().invoke(ctx)


@contextmanager
def _usage_errors() -> Iterator[None]:
    try:
        yield
    except _UsageError as err:
        if type(err).__name__ == "NoArgsIsHelpError":
            raise  # a group or command run bare: its help, as asked for
        where = err.ctx.command_path if err.ctx is not None else "seq2expr"
        text = " ".join(err.format_message().split())
        typer.echo(f"error: {where}: {text} (see '{where} --help')", err=True)
        raise typer.Exit(USER_ERROR) from None


def choice(*allowed: str):
    """Typer callback of an option with fixed choices: any other value is a usage error (one line naming the
    option and the choices, exit 2)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return check


RERUN = "nothing was written; run the same command again"
RESUME = "the last checkpoint is kept; run the same command to resume"
def at_least(minimum: int = 1, **options: int | None) -> None:
    """Options that count something (batch sizes, designs, rounds) must be at least ``minimum``: else one line
    naming the option (``batch_size`` is ``--batch-size``) and exit 2."""
    for name, value in options.items():
        if value is not None and value < minimum:
            fail(f"--{name.replace('_', '-')} must be at least {minimum}, not {value}")


@contextmanager
def user_errors(interrupted: str = RERUN) -> Iterator[None]:
    """Turn the errors bad input raises into :func:`fail`: DataError and FileError (both ValueErrors), and as a
    last resort any OSError/EOFError/decoding error a file raised that no reader named (named here when the
    exception carries the file name).

    SIGTERM (a scheduler's time limit or pre-emption) and SIGINT end the command with one line, ``interrupted
    (SIGTERM) [at ...]; <interrupted>``, and exit code 143 or 130 (:mod:`seq2expr.interrupts`), not a success."""
    try:
        with handle_signals():
            yield
    except Interrupted as stop:
        typer.echo(f"{stop}; {interrupted}", err=True)
        raise typer.Exit(stop.exit_code) from None
    except Exception as err:
        if isinstance(err, ValueError) or is_file_error(err):
            fail(err)
        raise


def fmt(v) -> str:
    return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))


def print_metrics(report: dict, splits: list[str], title: str) -> None:
    """A rich table: one column per split, one row per metric, plus the headline's bootstrap CI."""
    from rich.table import Table

    cols = [(s, report[s]) for s in splits if isinstance(report.get(s), dict) and "overall" in report[s]]
    if not cols:
        return
    scale = cols[0][1].get("scale")
    model = [(r.get("model_scale") or {}) for _, r in cols]
    # "(model scale)", not "[model scale]": rich reads square brackets as markup and drops them, which left two
    # unlabelled rows named mse and mae
    caption = f"(model scale) = {model[0]['scale']}" if model[0].get("scale") else None
    table = Table(title=f"{title}\n{scale}" if scale else title, caption=caption)
    table.add_column("metric")
    for split, _ in cols:
        table.add_column(split, justify="right")
    for key in cols[0][1]["overall"]:
        table.add_row(key, *[fmt(r["overall"].get(key)) for _, r in cols])
    if caption:  # errors depend on the scale: the model's too, labelled
        for key in ("mse", "mae"):
            table.add_row(f"{key} (model scale)", *[fmt((m.get("overall") or {}).get(key)) for m in model])
    ci = cols[0][1].get("ci") or {}
    if ci:
        level = int(round(100 * ci.get("level", 0.95)))
        bounds = [(r.get("ci") or {}) for _, r in cols]
        table.add_row(f"{ci['metric']} {level}% CI", *[f"{fmt(b.get('lo'))}-{fmt(b.get('hi'))}" for b in bounds])
    con = console()
    con.print(table)
    print_run_notes(report)


def print_run_notes(report: dict) -> None:
    """Under a result table: the precision it was computed at, a warning when the model's training was cut short by a
    time limit (``model_truncated``), so that no truncated model passes for a finished one, and the parent of a
    fine-tuned model."""
    con = console()
    precision = report.get("precision")
    if isinstance(precision, dict):  # a training run: requested -> resolved
        precision = f"{precision.get('resolved')} (train.precision {precision.get('requested')})"
    if precision:
        con.print(f"precision: {precision}")  # the machine it ran on is in metrics.json
    if report.get("model_truncated"):
        con.print(f"[bold yellow]warning:[/bold yellow] {report['model_truncated']}")
    seen = report.get("seen_in_training") or {}
    if seen.get("n"):
        con.print(f"{seen['n']} of {seen['of']} sequences were among the model's training or validation sequences"
                  + (" and are left out" if seen.get("excluded") else
                     " (their scores measure recall; --exclude-training leaves them out)"))
    lineage = report.get("model_lineage")
    if lineage:
        con.print(f"fine-tuned from {lineage['parent']} (weights sha256 {lineage['weights_sha256'][:16]}...; head "
                  f"{lineage['head']}; `seq2expr models info MODEL_DIR` for the lineage)", markup=False)


def print_split_summary(summary: dict | None) -> None:
    """Rows per split, and per split and value of each group column; the split warnings below it."""
    from rich.table import Table

    if not summary:
        return
    splits = list(summary["rows"])
    table = Table(title="rows per split")
    table.add_column("group")
    for s in splits:
        table.add_column(s, justify="right")
    table.add_row("all", *[str(summary["rows"][s]) for s in splits])
    for col, values in summary.get("by", {}).items():
        for v, counts in values.items():
            table.add_row(f"{col}={v}", *[str(counts[s]) for s in splits])
    con = console()
    con.print(table)
    for w in summary.get("warnings", []):
        con.print(f"[bold yellow]warning:[/bold yellow] {w}")


def print_groups(result: dict) -> None:
    """Per-group headline metric tables (one per group column)."""
    from rich.table import Table

    head = result.get("headline")
    for col, values in (result.get("groups") or {}).items():
        table = Table(title=f"per {col}")
        table.add_column(col)
        table.add_column(head, justify="right")
        table.add_column("n", justify="right")
        for v, m in values.items():
            table.add_row(v, fmt(m.get(head)), fmt(m.get("n")))
        console().print(table)


def print_challenge(ch: dict) -> None:
    """A data set's own challenge scores (its registry scorer): per subset Pearson r^2, Spearman, n and weight,
    then the weighted scores."""
    from rich.table import Table

    table = Table(title="challenge scores")
    for c in ("subset", "pearson_r2", "spearman", "n", "weight"):
        table.add_column(c, justify="left" if c == "subset" else "right")
    weights = ch.get("weights_used") or {}
    for name, m in (ch.get("subsets") or {}).items():
        table.add_row(name, fmt(m.get("pearson_r2")), fmt(m.get("spearman")), fmt(m.get("n")), fmt(weights.get(name)))
    table.add_row("score", fmt(ch.get("score_pearson")), fmt(ch.get("score_spearman")), "", "")
    console().print(table)


FORMAT_HELP = "table (for a terminal), json or tsv (whole values, never wrapped: for scripts and pipes)."


def output_format(json_: bool, tsv: bool) -> str:
    """``--json`` / ``--tsv`` flags as one format: json, tsv or table (both given is a usage error)."""
    if json_ and tsv:
        raise typer.BadParameter("give --json or --tsv, not both")
    return "json" if json_ else "tsv" if tsv else "table"


def emit_rows(rows: list[dict], fmt: str, title: str, header: bool = True) -> None:
    """``rows`` (one dict per row, same keys) as a rich table, JSON or TSV on stdout."""
    import json

    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    cols = list(rows[0]) if rows else []
    if fmt == "tsv":
        clean = [[" ".join(str(r[c]).split()) for c in cols] for r in rows]
        typer.echo("\n".join(["\t".join(cols)] * header + ["\t".join(r) for r in clean]))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_header=header)
    for c in cols:
        table.add_column(c, overflow="fold", no_wrap=c == "name")  # a name must stay whole to be typed
    for r in rows:
        table.add_row(*(escape(str(r[c])) for c in cols))
    console().print(table)


# the compute options, declared once: every command that runs a model takes them with these names and help texts
# (their values become a seq2expr.inference.Compute in the library)
DeviceOption = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
PrecisionOption = Annotated[str, typer.Option("--precision", help=PRECISION_HELP + " Gradients (attributions, ledidi) "
                                              "stay float32.")]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", help="Sequences per forward pass (per attribution "
                                              "batch in interpret).")]
EngineOption = Annotated[str, typer.Option("--engine", callback=choice(*ENGINES), help=ENGINE_HELP + " Forward "
                                           "passes only: gradient methods (attributions but ism, ledidi) need torch.")]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="Torch intra-op threads.")]
# the readout, declared once: every command that reads a model's outputs takes it in one grammar
# (seq2expr.inference.Readout.parse); OneOutputOption where the command needs one output (explain, design)
ReadoutOption = Annotated[str | None, typer.Option("--target", "--readout", help=READOUT_HELP)]
OneOutputOption = Annotated[str, typer.Option("--target", "--readout", help=ONE_OUTPUT_HELP)]

Result = TypeVar("Result")


def keywords_by_name(target: Callable[..., Any], params: Mapping[str, Any], /, *, leave: Iterable[str] = (),
                     **given: Any) -> dict[str, Any]:
    """The arguments of ``target`` (an options dataclass or a library function) taken from a command's own
    parameters (its ``locals()``) by name: each from ``given`` where the command converts or renames it, else from
    the parameter of its name; those named in ``leave`` keep their defaults. An option is thus written once as a
    command parameter and once in the library (a field, a keyword), never a third time in a call; an argument with
    none of the three is a ``TypeError``, so a new option that a command missed fails in its tests."""
    leave = set(leave)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in inspect.signature(target).parameters.values() if p.kind in kinds and p.name not in leave]
    missing = [n for n in names if n not in given and n not in params]
    unknown = sorted(set(given) - set(names))
    what = getattr(target, "__name__", repr(target))
    if missing or unknown:
        raise TypeError(f"{what}: no command parameter for {missing}" if missing else f"{what} takes no {unknown}")
    return {n: given[n] if n in given else params[n] for n in names}


def call_by_name(target: Callable[..., Result], params: Mapping[str, Any], /, *, leave: Iterable[str] = (),
                 **given: Any) -> Result:
    """``target(**keywords_by_name(target, params, leave=leave, **given))``: an options object built, or a library
    function called, from a command's own parameters."""
    return target(**keywords_by_name(target, params, leave=leave, **given))
