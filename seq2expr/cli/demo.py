"""CLI command ``demo``: the whole pipeline on the embedded synthetic promoter set (see :mod:`seq2expr.demo`)."""

from __future__ import annotations

from pathlib import Path

import typer

from seq2expr.cli.common import user_errors


def demo_cmd(
    out: Path = typer.Option(Path("seq2expr-demo"), "-o", "--out", help="Output folder."),
    n: int | None = typer.Option(None, "--n", help="Sequences to generate (default 10000)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, the split and the training."),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum training epochs (default 10)."),
    threads: int = typer.Option(2, "--threads", min=1, help="Torch threads (default 2, fixed: float results depend "
                                "on it, so the same seed gives the same outcome however busy the machine is)."),
    interpret_seqs: int | None = typer.Option(None, "--interpret-seqs",
                                              help="Held-out sequences explained (default 2000)."),
    quiet: bool = typer.Option(False, "--quiet", help="No training progress bar."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it is a previous demo's folder (emptied first)."),
) -> None:
    """Generate synthetic promoters with planted JASPAR motifs, train, evaluate, interpret, write a report."""
    from dataclasses import replace

    from rich.console import Console

    from seq2expr.demo import DemoConfig, pair_text, run_demo

    con = Console()
    changes = {k: v for k, v in {"n": n, "epochs": epochs, "threads": threads,
                                "interpret_max_seqs": interpret_seqs}.items() if v is not None}
    cfg = replace(DemoConfig(), seed=seed, **changes)
    con.print(f"seq2expr demo: {cfg.n} synthetic promoters, model {cfg.model}, output {out}/")
    with user_errors():
        result = run_demo(out, cfg, progress=not quiet, force=force)
    con.print(f"\n[bold]test Pearson r = {result.test_pearson_r:.3f}[/bold] (noise ceiling "
              f"{result.noise_ceiling_r:.3f}); planted motifs recovered: {len(result.recovered)}/"
              f"{len(result.planted)} ({', '.join(result.recovered) or 'none'})")
    con.print(pair_text(result.planted_pair), markup=False)
    con.print(f"report:         {result.index}")
    con.print(f"interpretation: {result.interpretation}")
    con.print(f"metrics:        {result.metrics}")
    con.print(f"time:           {result.seconds['total']:.0f} s")
