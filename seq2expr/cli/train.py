"""CLI commands ``train`` and ``tune``: thin wrappers over :func:`seq2expr.training.train` and ``tune``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from seq2expr.cli.common import (
    RESUME,
    call_by_name,
    console,
    fmt,
    print_challenge,
    print_metrics,
    print_split_summary,
    user_errors,
)

CONFIG_HELP = "Run config YAML, or the name of a shipped config (seq2expr configs list)."
SET_HELP = "Override a config value: key.sub=value (repeatable)."
INIT_HELP = ("Fine-tune a saved model (zoo:NAME or a model folder) instead of starting from random weights; the "
             "same as --set train.init=MODEL.")


def _init(init: str | None) -> list[str]:
    """``--init MODEL`` as the override it stands for (applied with the others, before the config is checked)."""
    return [] if init is None else [f"train.init={json.dumps(init)}"]


def train_cmd(
    config: str = typer.Argument(..., help=CONFIG_HELP),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
    no_resume: bool = typer.Option(False, "--no-resume", help="Start over instead of resuming last.ckpt."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    shard: str = typer.Option(None, "--shard", help="K/N: train only members K, K+N, K+2N... of the ensemble (a "
                                                    "scheduler array task; the shards share OUTPUT_DIR). The last "
                                                    "shard to finish assembles the ensemble."),
    member_devices: str = typer.Option(None, "--member-devices",
                                       help="Train the ensemble's members on several devices at once, one process "
                                            "each: a list such as cuda:0,cuda:1 or cpu,cpu, or a count (GPUs "
                                            "0..N-1, or N CPU processes without a GPU)."),
    init: str = typer.Option(None, "--init", help=INIT_HELP),
    dedupe: bool = typer.Option(False, "--dedupe", help="Drop from the training and validation files the sequences "
                                                        "(either strand) that the test file (data.test_path) holds; "
                                                        "else they are an error. The same as --set data.dedupe=true."),
    force: bool = typer.Option(False, "--force", help="Train again from scratch in an output_dir that holds a run "
                                                      "(with other settings too): its model, checkpoints and "
                                                      "metrics are replaced."),
) -> None:
    """Train a model as configured; resumes an interrupted run in the same output_dir (the same settings only)."""
    from seq2expr.config import load_config
    from seq2expr.evaluation import read_metrics
    from seq2expr.training import finished_members, is_global_zero, train

    with user_errors(interrupted=RESUME):
        cfg = load_config(config, [*(set_ or []), *_init(init), *(["data.dedupe=true"] if dedupe else [])])
        model_dir = train(cfg, resume=not no_resume, progress=not quiet, shard=shard, member_devices=member_devices,
                          force=force)
    if not is_global_zero():  # another process of a DDP run: rank 0 reports
        return
    out = Path(cfg.output_dir)
    if model_dir is None:  # a shard that left the assembly to another process
        done, total = finished_members(cfg)
        then = ("another process holds the folder and assembles the ensemble" if done == total else
                "the last shard to finish (or `seq2expr train CONFIG` without --shard, which skips finished "
                "members) assembles the ensemble")
        console().print(f"shard {shard}: {done} of {total} members finished; no model yet in {out / 'model'}: {then}")
        return
    cfg = load_config(out / "config.yaml")  # as resolved (a fine-tune's architecture and members are its parent's)
    report = read_metrics(out / "metrics.json")
    print_split_summary(report.get("split_summary"))
    print_metrics(report, ["valid", "test"], f"{cfg.model.name} on {cfg.data.dataset or cfg.data.path}")
    if report.get("challenge"):
        print_challenge(report["challenge"])
    con = console()
    con.print(f"model:   {model_dir}")
    con.print(f"metrics: {out / 'metrics.json'}")
    logs = sorted(out.glob("*/logs/metrics.csv")) if (cfg.train.ensemble_seeds or cfg.train.ensemble_folds) \
        else [out / "logs" / "metrics.csv"]
    con.print("logs:    " + ", ".join(map(str, logs)))


def tune_cmd(
    config: str = typer.Argument(..., help=CONFIG_HELP + " Its tune: section sets the search."),
    param: list[str] = typer.Option(None, "--param", help="Search a value: key=log:LOW:HIGH | float:LOW:HIGH | "
                                                          "int:LOW:HIGH | cat:A|B|... (repeatable)."),
    trials: int = typer.Option(None, "--trials", help="Trials in all (default: tune.trials)."),
    timeout_minutes: float = typer.Option(None, "--timeout-minutes", help="Start no trial after this long."),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
    progress: bool = typer.Option(False, "--progress", help="Progress bar for every trial."),
    devices: str = typer.Option(None, "--devices", help="Run one worker per device on the same study: a list such "
                                                        "as cuda:0,cuda:1 or cpu,cpu, or a count (GPUs 0..N-1, or N "
                                                        "CPU processes without a GPU). Workers started separately "
                                                        "on the same OUTPUT_DIR share the study too."),
    init: str = typer.Option(None, "--init", help=INIT_HELP),
) -> None:
    """Search hyper-parameters with optuna (TPE, median pruning); resumable; writes OUTPUT_DIR/tune/best.yaml."""
    import pandas as pd
    from rich.table import Table

    from seq2expr.config import load_config
    from seq2expr.training import parse_params, tune

    with user_errors(interrupted="finished trials are kept in the study; run the same command to resume"):
        cfg = load_config(config, [*(set_ or []), *_init(init)])
        params = {**cfg.tune.params, **parse_params(param or [])}
        # --init is in the config already (train.init); the seed is the config's
        summary = call_by_name(tune, locals(), leave=("seed", "init"))
    monitor, cols = summary["monitor"], ["trial", summary["monitor"], *summary["space"]]
    table = Table(title=f"tune: {summary['n_trials']} trials {summary['states']}; top by {monitor}")
    for col in cols:
        table.add_column(col, justify="right")
    rows = pd.read_csv(Path(cfg.output_dir) / "tune" / "trials.tsv", sep="\t")
    rows = rows[rows["state"] == "COMPLETE"].sort_values(monitor, ascending=False).head(10)
    for rec in rows[cols].itertuples(index=False):
        table.add_row(*[fmt(v) for v in rec])
    con = console()
    con.print(table)
    if summary.get("best_config"):
        con.print(f"best:    trial {summary['best_trial']}, {summary['monitor']} {summary['best_value']:.4f}, "
                  f"{summary['best_values']}")
        con.print(f"config:  {summary['best_config']}  (seq2expr train {summary['best_config']})")
