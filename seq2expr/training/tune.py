"""Hyper-parameter search with optuna: many short trainings on one prepared data set, the best config written out.

A search space maps config keys to distributions, written as strings so they fit YAML and ``--param``:

* ``log:1e-4:1e-2`` - float, log-uniform;  ``float:0:0.5`` - float, uniform;  ``int:2:6`` - integer;
* ``cat:64|128|256`` - one of the listed values, each parsed as YAML (so ``cat:[64, 64]|[128, 64]`` works).

Keys are any ``model.*`` or ``train.*`` value of the run config (``train.lr``, ``model.params.dropout``...);
data options are fixed, so the data are read, encoded and split once. Each trial is one
:func:`~seq2expr.training.fit.fit_member` run scored by its best validation metric (Pearson r, or AUROC for
classification; higher is better), with optuna's TPE sampler (seeded) and median pruning of trials that fall
behind after a few epochs. The study lives in ``output_dir/tune/study.db`` (SQLite), so a killed search resumes
where it stopped (a trial cut off mid-way is run again) and more trials can be added later. Written:
``tune/trials.tsv`` (one row per trial), ``tune/best.yaml`` (the full run config with the best values, to train
with ``seq2expr train``) and ``tune/summary.json``.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seq2expr.atomic import atomic_path, write_json, write_text
from seq2expr.config import RunConfig, apply_overrides, dump_config
from seq2expr.progress import progress_bar

log = logging.getLogger(__name__)
KINDS = ("log", "float", "int", "cat")


@dataclass(frozen=True)
class Param:
    """One searched config value: ``key`` (dotted path), ``kind`` and its bounds or choices."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial) -> Any:
        if self.kind == "cat":
            # optuna stores categorical choices as None/bool/int/float/str: others (lists) go by their YAML text
            plain = all(c is None or isinstance(c, bool | int | float | str) for c in self.choices)
            if plain:
                return trial.suggest_categorical(self.key, list(self.choices))
            text = trial.suggest_categorical(self.key, [yaml.safe_dump(c, default_flow_style=True).strip()
                                                        for c in self.choices])
            return yaml.safe_load(text)
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high))
        return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "log")


def parse_param(key: str, spec: str) -> Param:
    """``Param`` from a key and a ``kind:...`` string (see the module docstring)."""
    if not (key.startswith("model.") or key.startswith("train.")):
        raise ValueError(f"tune: {key!r} is not a model.* or train.* option (data options are fixed during a search)")
    kind, _, rest = str(spec).partition(":")
    if kind not in KINDS or not rest:
        raise ValueError(f"tune: {key}={spec!r}: expected log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH or cat:A|B|...")
    if kind == "cat":
        choices = tuple(yaml.safe_load(c) for c in rest.split("|"))
        if len(choices) < 2:
            raise ValueError(f"tune: {key}={spec!r}: give at least two choices separated by '|'")
        return Param(key, kind, choices=choices)
    try:
        low, high = (float(v) for v in rest.split(":"))
    except ValueError:
        raise ValueError(f"tune: {key}={spec!r}: bounds must be two numbers, LOW:HIGH") from None
    if not low < high or (kind == "log" and low <= 0) or (kind == "int" and (low != int(low) or high != int(high))):
        raise ValueError(f"tune: {key}={spec!r}: need LOW < HIGH (positive for log, whole numbers for int)")
    return Param(key, kind, low, high)


def parse_params(items: list[str]) -> dict[str, str]:
    """``["train.lr=log:1e-4:1e-2", ...]`` (the command line's ``--param`` values) -> ``{key: spec}``."""
    out = {}
    for item in items:
        key, sep, spec = item.partition("=")
        if not sep:
            raise ValueError(f"--param {item!r} is not of the form key=kind:...")
        out[key.strip()] = spec.strip()
    return out


def parse_space(params: Mapping[str, str]) -> list[Param]:
    if not params:
        raise ValueError("tune: nothing to search; give tune.params (or --param key=kind:...)")
    return [parse_param(k, v) for k, v in params.items()]


def trial_config(cfg: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """``cfg`` with ``values`` (dotted key -> value) set, validated as a run config."""
    raw = cfg.model_dump(mode="json")
    raw.pop("tune", None)
    apply_overrides(raw, [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in values.items()])
    return RunConfig.model_validate(raw)


def _pruning_callback(trial, monitor: str):
    import lightning as L
    import optuna

    class Prune(L.Callback):
        """Report the validation metric each epoch; stop trials below the median of earlier ones."""

        def on_validation_epoch_end(self, trainer, pl_module):
            value = trainer.callback_metrics.get(monitor)
            if trainer.sanity_checking or value is None or not math.isfinite(float(value)):
                return
            trial.report(float(value), trainer.current_epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"{monitor} {float(value):.4f} at epoch {trainer.current_epoch}")

    return Prune()


def _requeue_interrupted(study) -> int:
    """Trials left RUNNING by a killed search are marked failed and their values queued again."""
    import optuna

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
    for t in stale:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)
    return len(stale)


def _n_done(study) -> int:
    """Trials that count towards the requested number: completed or pruned (not failed or cut off)."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(t.state in done for t in study.get_trials(deepcopy=False))


def _write_outputs(study, cfg: RunConfig, space: list[Param], out: Path, monitor: str) -> dict:
    import optuna
    import pandas as pd

    trials = study.get_trials(deepcopy=False)
    rows = []
    for t in trials:
        rows.append({"trial": t.number, "state": t.state.name, monitor: t.value,
                     "epochs": (max(t.intermediate_values) + 1) if t.intermediate_values else None,
                     "seconds": round(t.duration.total_seconds(), 1) if t.duration else None,
                     **{p.key: t.params.get(p.key) for p in space}})
    table = pd.DataFrame(rows)
    with atomic_path(out / "trials.tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    summary: dict[str, Any] = {"monitor": monitor, "direction": "maximize", "n_trials": len(rows),
                               "states": table["state"].value_counts().to_dict() if len(table) else {},
                               "space": {p.key: {"kind": p.kind, "low": p.low, "high": p.high,
                                                 "choices": list(p.choices)} for p in space}}
    if done:
        best = study.best_trial
        values = {p.key: p.suggest(optuna.trial.FixedTrial(best.params)) for p in space}
        best_cfg = trial_config(cfg, values).model_copy(update={"output_dir": str(Path(cfg.output_dir) / "best")})
        write_text(out / "best.yaml", dump_config(best_cfg))
        summary.update(best_trial=best.number, best_value=best.value, best_values=values,
                       best_config=str(out / "best.yaml"))
    write_json(out / "summary.json", summary)
    return summary


def tune(cfg: RunConfig, params: Mapping[str, str] | None = None, *, trials: int | None = None,
         timeout_minutes: float | None = None, seed: int | None = None, progress: bool = False) -> dict:
    """Search ``params`` (default ``cfg.tune.params``) for up to ``trials`` trials in all; returns the summary.

    Trials already in ``output_dir/tune/study.db`` count towards ``trials``, so rerunning the same command
    after a kill finishes the search, and raising ``trials`` extends it.
    """
    import optuna

    from seq2expr.data.prepare import prepare_data
    from seq2expr.training.fit import fit_member
    from seq2expr.training.module import monitor_metric

    tc = cfg.tune
    space = parse_space(params if params is not None else tc.params)
    trials = trials if trials is not None else tc.trials
    timeout_minutes = timeout_minutes if timeout_minutes is not None else tc.timeout_minutes
    seed = cfg.train.seed if seed is None else seed
    for p in space:  # every value must make a valid config before hours are spent
        trial_config(cfg, {p.key: p.choices[0] if p.kind == "cat" else
                           (int(p.low) if p.kind == "int" else p.low)})
    out = Path(cfg.output_dir) / "tune"
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", dump_config(cfg))
    monitor = monitor_metric(cfg.train.task)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="seq2expr", storage=f"sqlite:///{(out / 'study.db').resolve()}", load_if_exists=True,
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=tc.prune_after_trials,
                                           n_warmup_steps=tc.prune_after_epochs) if tc.prune else
        optuna.pruners.NopPruner())
    # seeded, and offset by the trials already there: a resumed search does not redraw its first values
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    requeued = _requeue_interrupted(study)
    if requeued:
        log.info("tune: %d interrupted trial(s) queued again", requeued)
    if cfg.train.threads:
        import torch

        torch.set_num_threads(cfg.train.threads)
    bundle = prepare_data(cfg.data, cfg.train.task)
    started = time.perf_counter()

    def objective(trial) -> float:
        values = {p.key: p.suggest(trial) for p in space}
        run_cfg = trial_config(cfg, values)
        run_dir = out / f"trial_{trial.number:04d}"
        log.info("tune: trial %d %s", trial.number, values)
        try:
            _, info = fit_member(run_cfg, bundle, run_cfg.train.seed, run_dir, resume=False, progress=progress,
                                 callbacks=[_pruning_callback(trial, monitor)])
        finally:
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # keep the logs, not the weights
        score = info.get("best_score")
        if score is None or not math.isfinite(score):
            raise optuna.TrialPruned(f"no finite {monitor}")
        return float(score)

    remaining = trials - _n_done(study)
    if remaining > 0:
        # a bar of trials, unless Lightning shows each trial's own (progress=True)
        with progress_bar(remaining, "tune trials", disable=progress) as advance:
            study.optimize(objective, n_trials=remaining, catch=(ValueError, RuntimeError),
                           timeout=None if timeout_minutes is None else 60 * timeout_minutes,
                           callbacks=[lambda s, t: _write_outputs(s, cfg, space, out, monitor),
                                      lambda s, t: advance(1)])
    summary = _write_outputs(study, cfg, space, out, monitor)
    summary["seconds_this_call"] = round(time.perf_counter() - started, 1)
    return summary
