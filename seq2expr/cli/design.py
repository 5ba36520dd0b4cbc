"""CLI command ``design``: designed sequences with a saved model under constraints, validated by an oracle held out
of the search; a thin wrapper over :func:`seq2expr.design.design` and :func:`seq2expr.design.write_design_outputs`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from seq2expr.cli.common import (
    DESIGN_METHODS,
    FORCE_HELP,
    LOGO_METHODS,
    BatchSizeOption,
    DeviceOption,
    EngineOption,
    OneOutputOption,
    PrecisionOption,
    ThreadsOption,
    at_least,
    call_by_name,
    choice,
    fail,
    model_arg,
    user_errors,
)


def _pair(text: str, what: str, cast=float) -> tuple:
    try:
        a, b = (cast(x) for x in text.replace("-", ",", 1 if cast is int else 0).split(","))
    except ValueError:
        fail(f"{what} must be two numbers (lo,hi), not {text!r}")
    return a, b


def _objective(text: str) -> str:
    """Typer callback: ``--objective`` as :meth:`Objective.parse` reads it (its kinds and aliases), checked before
    the model loads; a bad one is a usage error."""
    from seq2expr.data.errors import DataError
    from seq2expr.design import Objective

    try:
        Objective.parse(text)
    except DataError as err:
        raise typer.BadParameter(str(err)) from None
    return text


def _start(start: str, start_seq: list[str] | None) -> str | list[str]:
    """``--start`` (``random``, an existing table/FASTA file or a registry data set ``NAME[:SUBSET]``) or
    ``--start-seq`` (sequences themselves): a name that is neither is an error, never read as a sequence."""
    if start_seq:
        if start != "random":
            fail("give --start FILE or --start-seq SEQUENCE, not both")
        return list(start_seq)
    from seq2expr.data.registry import parse_dataset_spec

    if start == "random" or parse_dataset_spec(start):
        return start
    path = Path(start)
    if path.is_dir():
        fail(f"{start}: --start is a folder; give a table/FASTA file of starting sequences")
    if not path.is_file():
        fail(f"{start}: --start file not found (--start takes 'random', a table/FASTA file of starting "
             "sequences or DATASET:SUBSET; give a sequence itself with --start-seq)")
    return start


def _penalty(text: str | None) -> str | None:
    """Typer callback: ``--penalty`` as :func:`parse_penalty` reads it, checked before the model loads."""
    from seq2expr.data.errors import DataError
    from seq2expr.design.objective import parse_penalty

    try:
        parse_penalty(text)
    except DataError as err:
        raise typer.BadParameter(str(err)) from None
    return text


def _constraints(saved, construct: str | None, left: str, right: str, **kw):
    """The run's constraints: flanks from ``inference.resolve_construct`` (the given ones, else ``--construct``: a
    registry data set or ``none``, else the model's own construct, said in one line)."""
    from seq2expr.design import Constraints
    from seq2expr.inference import construct_spec, resolve_construct

    c = resolve_construct(construct_spec(construct, left, right), model=saved)
    if c.own:
        typer.echo(f"construct: {c.dataset}'s fixed flanks ({len(c.left)} + {len(c.right)} nt), the model's own; "
                   "--construct none designs without them", err=True)
    return Constraints(saved.config.seq_len, left=c.left, right=c.right, construct=c.label, **kw)


def design_cmd(
    model_dir: str = typer.Argument(..., callback=model_arg, help="Saved model folder or zoo:NAME (an ensemble's "
                                                                  "last member, held out of the search, is the "
                                                                  "default oracle)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (written atomically)."),
    start: str = typer.Option("random", "--start", help="'random', a table/FASTA file of starting sequences, or "
                                                        "DATASET:SUBSET."),
    start_seq: list[str] = typer.Option(None, "--start-seq", help="A starting sequence itself (repeatable)."),
    n: int = typer.Option(10, "--n", help="Designs from random backgrounds."),
    objective: str = typer.Option("max", "--objective", callback=_objective,
                                  help="max, min, target:VALUE, or diff:OTHER_TARGET."),
    target: OneOutputOption = "0",
    other_model: str | None = typer.Option(None, "--other-model",
                                           help="Specificity: maximise model - this model (a folder or zoo:NAME)."),
    method: str = typer.Option("greedy", "--method", callback=choice(*DESIGN_METHODS),
                              help=f"Design method: {', '.join(DESIGN_METHODS)}."),
    rounds: int = typer.Option(10, "--rounds", help="Greedy/beam: rounds of single-base edits."),
    beam: int = typer.Option(4, "--beam", help="Beam width."),
    steps: int = typer.Option(300, "--steps", help="Annealing steps."),
    motif: list[str] = typer.Option(None, "--motif", help="Motif insertion: consensus sequence (repeatable)."),
    oracle: str | None = typer.Option(None, "--oracle",
                                      help="Model folder (or zoo:NAME) that validates the designs (checked for shared "
                                           "training sequences), or 'none'."),
    penalty: str | None = typer.Option(None, "--penalty", callback=_penalty,
                                       help="disagreement:LAMBDA: the objective minus LAMBDA x the design "
                                            "members' std."),
    construct: str | None = typer.Option(None, "--construct", help="Fixed flanks of a registry data set's construct "
                                                                   "(e.g. dream2022); default: the model's own; "
                                                                   "'none': no flanks; --construct-left/-right "
                                                                   "win over it."),
    construct_left: str = typer.Option("", "--construct-left", help="Fixed sequence at the 5' end."),
    construct_right: str = typer.Option("", "--construct-right", help="Fixed sequence at the 3' end."),
    protect: list[str] = typer.Option(None, "--protect", help="Positions never edited: START-END (repeatable)."),
    max_edits: int | None = typer.Option(None, "--max-edits", help="At most this many edits from the start."),
    gc: str | None = typer.Option(None, "--gc", help="GC fraction range of the edited region: lo,hi."),
    forbid: str = typer.Option("", "--forbid", help="Comma list of enzymes (EcoRI, BsaI...) or IUPAC sites."),
    max_homopolymer: int | None = typer.Option(None, "--max-homopolymer", help="No run of one base longer than this."),
    require: list[str] = typer.Option(None, "--require", help="Motif that must be present (repeatable)."),
    attributions: str = typer.Option("deeplift_shap", "--attributions",
                                     callback=choice(*LOGO_METHODS),
                                     help=f"Logos: {', '.join(LOGO_METHODS)}."),
    seed: int = typer.Option(0, "--seed"),
    batch_size: BatchSizeOption = 512,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    engine: EngineOption = "torch",
    threads: ThreadsOption = None,
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Design sequences (strongest, weakest, a given level, specific) from random backgrounds or given starts."""
    from seq2expr.design import Objective, design, write_design_outputs
    from seq2expr.inference import Readout, load_model
    from seq2expr.outputs import check_output

    at_least(n=n, beam=beam, batch_size=batch_size)
    if threads is not None:  # torch intra-op threads, as other commands set them
        import torch

        at_least(threads=threads)
        torch.set_num_threads(threads)
    at_least(0, rounds=rounds, steps=steps)
    starts = _start(start, start_seq)
    with user_errors():
        check_output(out, [model_dir, other_model, starts if isinstance(starts, str) else None,
                           None if oracle in (None, "none") else oracle], command="design", folder=True, force=force)
        with _locked(out):
            saved = load_model(model_dir)
            cons = _constraints(saved, construct, construct_left, construct_right,
                                protect=[_pair(p, "--protect", int) for p in protect or []], max_edits=max_edits,
                                gc=_pair(gc, "--gc") if gc else None,
                                forbid=[s for s in forbid.split(",") if s.strip()], max_homopolymer=max_homopolymer,
                                require=list(require or []))
            # a transform or positions: the readout says it; its first output is the target
            readout = Readout.parse(target) if ":" in target or "@" in target else None
            t = 0 if readout is not None else int(target) if target.isdigit() else target
            if other_model is not None:
                obj = Objective("difference", t, other_model=load_model(other_model), readout=readout)
            else:
                obj = Objective.parse(objective, t, readout=readout)
            result = call_by_name(design, locals(), model=saved, start=starts, objective=obj, constraints=cons,
                                  motifs=list(motif or []), leave=("progress", "compute"))
            result.inputs.append(model_dir)
            write_design_outputs(result, saved, out, attributions=attributions, force=force)
    s = result.summary
    typer.echo(f"{s['n']} designs ({s['method']}, {s['objective']} {s['target']}) -> {out}; "
               f"{s['candidates']:,} candidates at {s['candidates_per_second']:,.0f}/s; oracle: {s['oracle']}")


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold the output folder's run lock (:func:`seq2expr.atomic.folder_lock`, as ``train`` does): a second run into
    the same folder is refused while this one works; a run that fails leaves no empty folder behind."""
    from seq2expr.atomic import folder_lock

    made = not out.exists()
    try:
        with folder_lock(out, "design run"):
            yield
    finally:
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
