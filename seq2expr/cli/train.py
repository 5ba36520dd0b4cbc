"""CLI commands ``train``, ``tune``, ``predict`` and ``evaluate``.

``INPUT`` for predict/evaluate is a file (TSV/CSV/parquet/FASTA) or a registry data set ``NAME[:SUBSET]``:
a named subset of the entry (``dream2022:test``, ``vaishnav2022:native_complex``) or else the rows whose
``split`` group holds SUBSET.
"""

from __future__ import annotations

from pathlib import Path

import typer

SEQ_HELP = "Sequence column (default: the one the model was trained with, if present, else 'sequence')."
ID_HELP = "ID column (default: the one the model was trained with, if present, else the row number)."


def parse_dataset_spec(text: str) -> str | None:
    """``text`` if it names a registry data set (``name`` or ``name:subset``) and is not an existing path."""
    if Path(text).exists():
        return None
    from seq2expr.data.registry import list_datasets

    base = text.split(":", 1)[0]
    return text if base in {e.name for e in list_datasets()} else None


def load_split(spec: str):
    """Records of a registry data set ``name[:subset]``.

    ``subset`` is one of the entry's named subsets (e.g. ``dream2022:test``); otherwise it selects rows
    whose ``split`` group column holds that value.
    """
    import numpy as np

    from seq2expr.data.errors import DataError
    from seq2expr.data.registry import get_entry, load_dataset

    name, _, sub = spec.partition(":")
    if not sub or sub in get_entry(name).subsets:
        return load_dataset(spec)
    records = load_dataset(name)
    if "split" not in records.groups:
        raise DataError(f"data set {name!r} has no subset {sub!r} and no 'split' column", source=name)
    split = np.asarray(records.groups["split"]).astype(str)
    if not (split == sub).any():
        raise DataError(f"no rows with split {sub!r}; splits present: {sorted(set(split))}", source=name)
    return records.subset(split == sub)


def _console():
    from rich.console import Console

    return Console()


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))


def print_metrics(report: dict, splits: list[str], title: str) -> None:
    """A rich table: one column per split, one row per metric, plus the headline's bootstrap CI."""
    from rich.table import Table

    cols = [(s, report[s]) for s in splits if isinstance(report.get(s), dict) and "overall" in report[s]]
    if not cols:
        return
    table = Table(title=title)
    table.add_column("metric")
    for split, _ in cols:
        table.add_column(split, justify="right")
    for key in cols[0][1]["overall"]:
        table.add_row(key, *[_fmt(r["overall"].get(key)) for _, r in cols])
    ci = cols[0][1].get("ci") or {}
    if ci:
        level = int(round(100 * ci.get("level", 0.95)))
        bounds = [(r.get("ci") or {}) for _, r in cols]
        table.add_row(f"{ci['metric']} {level}% CI", *[f"{_fmt(b.get('lo'))}-{_fmt(b.get('hi'))}" for b in bounds])
    _console().print(table)


def print_challenge(ch: dict) -> None:
    """DREAM challenge subsets (Pearson r^2, Spearman, n) and the weighted scores."""
    from rich.table import Table

    table = Table(title="DREAM 2022 challenge")
    for c in ("subset", "pearson_r2", "spearman", "n", "weight"):
        table.add_column(c, justify="left" if c == "subset" else "right")
    weights = ch.get("weights_used") or {}
    for name, m in (ch.get("subsets") or {}).items():
        table.add_row(name, _fmt(m.get("pearson_r2")), _fmt(m.get("spearman")), _fmt(m.get("n")),
                      _fmt(weights.get(name)))
    table.add_row("score", _fmt(ch.get("score_pearson")), _fmt(ch.get("score_spearman")), "", "")
    _console().print(table)


def _fail(err: Exception) -> None:
    _console().print(f"[red]error:[/red] {err}")
    raise typer.Exit(1)


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    """Add ``train``, ``tune``, ``predict`` and ``evaluate``."""

    @app.command("train")
    def train_cmd(
        config: Path = typer.Argument(..., exists=True, dir_okay=False, help="Run config YAML."),
        set_: list[str] = typer.Option(None, "--set", help="Override a config value: key.sub=value (repeatable)."),
        no_resume: bool = typer.Option(False, "--no-resume", help="Start over instead of resuming last.ckpt."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Train a model as configured; resumes an interrupted run in the same output_dir."""
        from seq2expr.config import load_config
        from seq2expr.data.errors import DataError
        from seq2expr.evaluation.report import read_metrics
        from seq2expr.training.fit import train

        try:
            cfg = load_config(config, set_ or [])
            model_dir = train(cfg, resume=not no_resume, progress=not quiet)
        except (DataError, ValueError, FileNotFoundError) as e:
            _fail(e)
        out = Path(cfg.output_dir)
        source = cfg.data.dataset or cfg.data.path
        report = read_metrics(out / "metrics.json")
        print_metrics(report, ["valid", "test"], f"{cfg.model.name} on {source}")
        if report.get("challenge"):
            print_challenge(report["challenge"])
        con = _console()
        con.print(f"model:   {model_dir}")
        con.print(f"metrics: {out / 'metrics.json'}")
        logs = sorted(out.glob("*/logs/metrics.csv")) if (cfg.train.ensemble_seeds or cfg.train.ensemble_folds) \
            else [out / "logs" / "metrics.csv"]
        con.print("logs:    " + ", ".join(map(str, logs)))

    @app.command("tune")
    def tune_cmd(
        config: Path = typer.Argument(..., exists=True, dir_okay=False, help="Run config YAML (its tune: section)."),
        param: list[str] = typer.Option(None, "--param", help="Search a value: key=log:LOW:HIGH | float:LOW:HIGH | "
                                                              "int:LOW:HIGH | cat:A|B|... (repeatable)."),
        trials: int = typer.Option(None, "--trials", help="Trials in all (default: tune.trials)."),
        timeout_minutes: float = typer.Option(None, "--timeout-minutes", help="Start no trial after this long."),
        set_: list[str] = typer.Option(None, "--set", help="Override a config value: key.sub=value (repeatable)."),
        progress: bool = typer.Option(False, "--progress", help="Progress bar for every trial."),
    ) -> None:
        """Search hyper-parameters with optuna (TPE, median pruning); resumable; writes OUTPUT_DIR/tune/best.yaml."""
        from rich.table import Table

        from seq2expr.config import load_config
        from seq2expr.data.errors import DataError
        from seq2expr.training.tune import tune

        try:
            cfg = load_config(config, set_ or [])
            params = dict(cfg.tune.params)
            for item in param or []:
                key, sep, spec = item.partition("=")
                if not sep:
                    raise ValueError(f"--param {item!r} is not of the form key=kind:...")
                params[key.strip()] = spec.strip()
            summary = tune(cfg, params, trials=trials, timeout_minutes=timeout_minutes, progress=progress)
        except (DataError, ValueError, FileNotFoundError) as e:
            _fail(e)
        import pandas as pd

        monitor, cols = summary["monitor"], ["trial", summary["monitor"], *summary["space"]]
        table = Table(title=f"tune: {summary['n_trials']} trials {summary['states']}; top by {monitor}")
        for col in cols:
            table.add_column(col, justify="right")
        rows = pd.read_csv(Path(cfg.output_dir) / "tune" / "trials.tsv", sep="\t")
        rows = rows[rows["state"] == "COMPLETE"].sort_values(monitor, ascending=False).head(10)
        for rec in rows[cols].itertuples(index=False):
            table.add_row(*[_fmt(v) for v in rec])
        con = _console()
        con.print(table)
        if summary.get("best_config"):
            con.print(f"best:    trial {summary['best_trial']}, {summary['monitor']} {summary['best_value']:.4f}, "
                      f"{summary['best_values']}")
            con.print(f"config:  {summary['best_config']}  (seq2expr train {summary['best_config']})")

    @app.command("predict")
    def predict_cmd(
        model_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Saved model folder."),
        input: str = typer.Argument(..., help="Sequences file (TSV/CSV/parquet/FASTA) or DATASET[:SUBSET]."),
        out: Path = typer.Option(..., "-o", "--out", help="Output TSV (id, one column per target)."),
        batch_size: int = typer.Option(512, "--batch-size"),
        chunk_size: int = typer.Option(100_000, "--chunk-size", help="Records read at a time."),
        id_column: str = typer.Option(None, "--id-column", help=ID_HELP),
        sequence_column: str = typer.Option(None, "--sequence-column", help=SEQ_HELP),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    ) -> None:
        """Predict expression (original scale) or class probability for every sequence."""
        from seq2expr.data.errors import DataError
        from seq2expr.training.predict import predict_file

        try:
            spec = parse_dataset_spec(input)
            if spec:
                n = _predict_dataset(model_dir, spec, out, batch_size=batch_size, device=device)
            else:
                n = predict_file(model_dir, input, out, batch_size=batch_size, chunk_size=chunk_size,
                                 id_column=id_column, sequence_column=sequence_column, device=device)
        except (DataError, ValueError, FileNotFoundError) as e:
            _fail(e)
        _console().print(f"{n} predictions -> {out}")

    @app.command("evaluate")
    def evaluate_cmd(
        model_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Saved model folder."),
        input: str = typer.Argument(..., help="Table with sequences and measured targets, FASTA (with --values), "
                                             "or DATASET[:SUBSET]."),
        values: Path = typer.Option(None, "--values", help="Table of targets (and groups) joined to INPUT by ID, "
                                                           "e.g. for a FASTA."),
        target_column: list[str] = typer.Option(None, "--target-column", help="Default: the model's targets."),
        group_column: list[str] = typer.Option(None, "--group-column",
                                               help="Report metrics per group value (default: the training run's "
                                                    "group columns present in INPUT)."),
        id_column: str = typer.Option(None, "--id-column", help=ID_HELP),
        sequence_column: str = typer.Option(None, "--sequence-column", help=SEQ_HELP),
        out_dir: Path = typer.Option(None, "-o", "--out-dir", help="Write metrics.json, plots, predictions here."),
        n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the CI."),
        batch_size: int = typer.Option(512, "--batch-size"),
        device: str = typer.Option("cpu", "--device"),
    ) -> None:
        """Score a saved model on labelled sequences: metrics (overall, per group, CI) and plots."""
        from seq2expr.data.errors import DataError
        from seq2expr.evaluation.report import evaluate_records
        from seq2expr.models.saved import load_model

        try:
            saved = load_model(model_dir)
            spec = parse_dataset_spec(input)
            if spec:
                records = load_split(spec)
                name = spec.partition(":")[2] or "eval"
            else:
                from seq2expr.data.readers import read_records
                from seq2expr.training.predict import input_columns

                sequence_column, id_column = input_columns(saved.config, input, sequence_column, id_column)
                records = read_records(input, values=values, id_column=id_column, sequence_column=sequence_column,
                                       target_columns=target_column or saved.config.get("target_names") or
                                       ["expression"],
                                       group_columns=group_column or _trained_groups(saved.config, values or input))
                name = "eval"
            if target_column:  # named differently in this table: score them as the model's targets
                records.target_names = list(saved.config.get("target_names") or records.target_names)
            extra = _challenge_fn(spec.partition(":")[0], records) if spec else None
            report = evaluate_records(saved, records, out_dir, n_boot=n_boot, batch_size=batch_size, device=device,
                                      name=name, extra_scores=extra)
        except (DataError, ValueError, FileNotFoundError) as e:
            _fail(e)
        print_metrics(report, [name], f"{model_dir} on {input}")
        _print_groups(report[name])
        if report.get("challenge"):
            print_challenge(report["challenge"])
        if out_dir is not None:
            _console().print(f"metrics: {Path(out_dir) / 'metrics.json'}")


def _trained_groups(config: dict, path: str) -> list[str]:
    """The training run's group columns (species, subset...) that the table at ``path`` also has."""
    from seq2expr.data.readers import table_columns

    header = set(table_columns(path))
    return [c for c in (config.get("data") or {}).get("group_columns") or [] if c in header]


def _print_groups(result: dict) -> None:
    from rich.table import Table

    head = result.get("headline")
    for col, values in (result.get("groups") or {}).items():
        table = Table(title=f"per {col}")
        table.add_column(col)
        table.add_column(head, justify="right")
        table.add_column("n", justify="right")
        for v, m in values.items():
            table.add_row(v, _fmt(m.get(head)), _fmt(m.get("n")))
        _console().print(table)


def _predict_dataset(model_dir: Path, spec: str, out: Path, *, batch_size: int, device: str) -> int:
    from seq2expr.models.saved import load_model
    from seq2expr.training.predict import encode_for, predict_codes, prediction_columns, write_prediction_table

    saved = load_model(model_dir)
    records = load_split(spec)
    codes = encode_for(saved, records.sequences, ids=records.labels(), source=records.source)
    pred = predict_codes(saved, codes, batch_size=batch_size, device=device)
    return write_prediction_table(out, [(records.ids, pred)], prediction_columns(saved.config))


def _challenge_fn(dataset: str, records):
    """For ``dream2022``: a function of the predictions giving the DREAM 2022 challenge scores, else None."""
    if dataset != "dream2022":
        return None
    try:
        from seq2expr.evaluation import dream
    except ImportError:  # the DREAM scorer is optional
        return None
    return lambda pred: dream.challenge_scores(records, pred[:, 0])
