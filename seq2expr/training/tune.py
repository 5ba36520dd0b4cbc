"""Hyper-parameter search with optuna: many short trainings on one prepared data set, the best config written out.

A search space maps config keys to distributions, written as strings so they fit YAML and ``--param``:

* ``log:1e-4:1e-2`` - float, log-uniform;  ``float:0:0.5`` - float, uniform;  ``int:2:6`` - integer;
* ``cat:64|128|256`` - one of the listed values, each parsed as YAML (so ``cat:[64, 64]|[128, 64]`` works).

Keys are any ``model.*`` or ``train.*`` value of the run config (``train.lr``, ``model.params.dropout``...);
data options are fixed, so the data are read, encoded and split once. Each trial is one
:func:`~seq2expr.training.member.fit_member` run scored by its best validation metric (Pearson r, or AUROC for
classification; higher is better), with optuna's TPE sampler (seeded) and median pruning of trials that fall
behind after a few epochs. The study lives in ``output_dir/tune/study.db`` (SQLite), so a killed search resumes
where it stopped (a trial cut off mid-way is run again) and more trials can be added later. Written:
``tune/trials.tsv`` (one row per trial), ``tune/best.yaml`` (the full run config with the best values, to train
with ``seq2expr train``) and ``tune/summary.json``. Several workers can search one study at once (``devices``, or
separate processes on the same ``output_dir``; see :func:`tune`).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seq2expr.atomic import atomic_path, write_json, write_text
from seq2expr.config import RunConfig, apply_overrides, dump_config
from seq2expr.progress import progress_bar
from seq2expr.training.transfer import adapt, resolve_parent

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


WORKERS = "workers"  # tune/workers/<id>.lock: held by each live worker
ASK_LOCK = ".ask.lock"  # tune/.ask.lock: one worker at a time counts trials, requeues dead ones and asks


def _worker_alive(out: Path, trial) -> bool:
    """Whether the worker that started ``trial`` still runs: it holds its lock (the OS frees it when the worker
    dies, even by SIGKILL). A trial without a worker was started by a search that predates worker locks, or by a
    worker killed before it recorded itself (that happens under the ask lock, so it is no live worker's)."""
    from seq2expr.atomic import lock_is_held

    worker = trial.user_attrs.get("worker")
    return bool(worker) and lock_is_held(out / WORKERS / f"{worker}.lock")


def _requeue_interrupted(study, alive=lambda trial: False) -> int:
    """Trials left RUNNING by a killed worker (``alive(trial)`` False) are marked failed and their values queued
    again; a live worker's running trials are left alone. Called under the ask lock."""
    import optuna

    stale = [t for t in study.get_trials(deepcopy=False)
             if t.state == optuna.trial.TrialState.RUNNING and not alive(t)]
    for t in stale:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)
    return len(stale)


def _n_done(study) -> int:
    """Trials that count towards the requested number: completed or pruned (not failed or cut off)."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(t.state in done for t in study.get_trials(deepcopy=False))


def _n_taken(study) -> int:
    """Completed, pruned and running trials (after dead workers' ones were requeued): the number that no worker
    may take beyond the requested total."""
    import optuna

    taken = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
    return sum(t.state in taken for t in study.get_trials(deepcopy=False))


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
         timeout_minutes: float | None = None, seed: int | None = None, progress: bool = False,
         devices: str | int | Sequence[str] | None = None, init: str | Path | None = None) -> dict:
    """Search ``params`` (default ``cfg.tune.params``) for up to ``trials`` trials in all; returns the summary.
    ``init`` (or ``train.init``): each trial fine-tunes that saved model (:mod:`seq2expr.training.transfer`).

    Trials already in ``output_dir/tune/study.db`` count towards ``trials``, so rerunning the same command
    after a kill finishes the search, and raising ``trials`` extends it.

    Several workers may search one study at once: ``devices`` (``"cuda:0,cuda:1"``, ``"cpu,cpu"``, a count) starts
    one worker process per device (:mod:`seq2expr.training.parallel`), and ``tune`` calls started separately on
    the same ``output_dir`` (a scheduler array) join the study too. Workers take trials one at a time under a
    lock (``tune/.ask.lock``), counting completed, pruned and running trials, so the total is ``trials`` however
    many there are; each holds a lock of its own while it runs (``tune/workers/``), and only the running trials
    of a worker whose lock is free (it died) are failed and run again.
    """
    from seq2expr.models import check_params
    from seq2expr.training.module import monitor_metric

    tc = cfg.tune
    space = parse_space(params if params is not None else tc.params)
    trials = trials if trials is not None else tc.trials
    timeout_minutes = timeout_minutes if timeout_minutes is not None else tc.timeout_minutes
    seed = cfg.train.seed if seed is None else seed
    if init is not None:
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"init": str(init)})})
    if cfg.train.init is not None:
        cfg, _ = resolve_parent(cfg)  # the parent's architecture: its parameters are not searched
        searched = [p.key for p in space if p.key.startswith("model.")]
        if searched:
            raise ValueError(f"{', '.join(searched)}: a fine-tune (train.init) keeps the parent's architecture; "
                             "search train.* settings (train.lr, train.trunk_lr_factor, ...)")
    check_params(cfg.model.name, cfg.model.params)  # a misspelt model parameter, with "did you mean"
    for p in space:  # every value must make a valid config before hours are spent
        tried = trial_config(cfg, {p.key: p.choices[0] if p.kind == "cat" else
                                   (int(p.low) if p.kind == "int" else p.low)})
        check_params(tried.model.name, tried.model.params)
    out = Path(cfg.output_dir) / "tune"
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", dump_config(cfg))
    monitor = monitor_metric(cfg.train.task)
    started = time.perf_counter()
    if devices is None:
        _search(cfg, space, trials, timeout_minutes, seed, progress)
    else:
        from seq2expr.training.parallel import placements, run_placed

        run_placed(_search, [(p, (cfg, space, trials, timeout_minutes, seed, False, p.train))
                             for p in placements(devices, cfg.train.threads)])
    summary = _write_outputs(_open_study(out, tc), cfg, space, out, monitor)
    summary["seconds_this_call"] = round(time.perf_counter() - started, 1)
    return summary


def _open_study(out: Path, tc):
    """The study in ``out/study.db`` (created by the first worker, under the ask lock)."""
    import optuna

    from seq2expr.atomic import hold_lock

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(out / 'study.db').resolve()}",
                                         engine_kwargs={"connect_args": {"timeout": 120}})  # workers wait their turn
    with hold_lock(out / ASK_LOCK):
        return optuna.create_study(
            study_name="seq2expr", storage=storage, load_if_exists=True, direction="maximize",
            pruner=optuna.pruners.MedianPruner(n_startup_trials=tc.prune_after_trials,
                                               n_warmup_steps=tc.prune_after_epochs) if tc.prune else
            optuna.pruners.NopPruner())


def _search(cfg: RunConfig, space: list[Param], trials: int, timeout_minutes: float | None, seed: int,
            progress: bool, placement: Mapping[str, Any] | None = None) -> int:
    """One worker: take trials until the study holds ``trials`` (completed, pruned or running); returns the number
    it ran. ``placement``: ``train.*`` settings of this worker's device (each trial's config gets them; the outputs
    keep ``cfg``'s). Module level, so a spawned process can run it."""
    import uuid

    import optuna

    from seq2expr.atomic import hold_lock, lock_is_held
    from seq2expr.data.prepare import prepare_data
    from seq2expr.training.member import fit_member
    from seq2expr.training.module import monitor_metric

    out = Path(cfg.output_dir) / "tune"
    monitor = monitor_metric(cfg.train.task)
    placement = dict(placement or {})
    study = _open_study(out, cfg.tune)
    worker = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        with hold_lock(out / ASK_LOCK):  # registered under the ask lock: nobody checks it half-made
            others = [p for p in (out / WORKERS).glob("*.lock") if lock_is_held(p)]
            for p in (out / WORKERS).glob("*.lock"):
                if p not in others:
                    p.unlink(missing_ok=True)  # a dead worker's
            stack.enter_context(hold_lock(out / WORKERS / f"{worker}.lock", remove=True))
            # seeded, and offset by the trials already there (a resumed search does not redraw its first values)
            # and by the live workers (two workers do not draw the same values)
            study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials) + 7919 * len(others))
            budget = trials - _n_done(study)
        threads = placement.get("threads", cfg.train.threads)
        if threads:
            import torch

            torch.set_num_threads(threads)
        cfg, parent = resolve_parent(cfg)  # fine-tuning: each trial starts from the parent (member 0)
        bundle = prepare_data(cfg.data, cfg.train.task) if budget > 0 else None
        deadline = None if timeout_minutes is None else time.monotonic() + 60 * timeout_minutes
        ran = 0

        def objective(trial) -> float:
            values = {p.key: p.suggest(trial) for p in space}
            run_cfg = trial_config(cfg, values)
            if placement:
                run_cfg = run_cfg.model_copy(update={"train": run_cfg.train.model_copy(update=placement)})
            run_dir = out / f"trial_{trial.number:04d}"
            log.info("tune: trial %d %s", trial.number, values)
            run_cfg, data, transfer = adapt(run_cfg, bundle, parent)
            try:
                _, info = fit_member(run_cfg, data, run_cfg.train.seed, run_dir, resume=False, progress=progress,
                                     callbacks=[_pruning_callback(trial, monitor)],
                                     init=transfer.member(0) if transfer is not None else None)
            finally:
                shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # keep the logs, not the weights
            score = info.get("best_score")
            if score is None or not math.isfinite(score):
                raise optuna.TrialPruned(f"no finite {monitor}")
            return float(score)

        # a bar of trials, unless Lightning shows each trial's own (progress=True)
        with progress_bar(max(budget, 0), "tune trials", disable=progress) as advance:
            while ran < budget and (deadline is None or time.monotonic() < deadline):
                with hold_lock(out / ASK_LOCK):
                    requeued = _requeue_interrupted(study, lambda t: _worker_alive(out, t))
                    if requeued:
                        log.info("tune: %d interrupted trial(s) queued again", requeued)
                    if _n_taken(study) >= trials:
                        break
                    trial = study.ask()
                    trial.set_user_attr("worker", worker)
                ran += 1
                _run_trial(study, trial, objective)
                _write_outputs(study, cfg, space, out, monitor)
                advance(1)
    return ran


def _run_trial(study, trial, objective) -> None:
    """Run and record one trial as ``study.optimize`` would: pruned, failed (a ValueError or RuntimeError: logged,
    the search goes on) or complete; anything else (an interrupt) marks it failed and ends the search."""
    import optuna

    try:
        value = objective(trial)
    except optuna.TrialPruned as err:
        log.info("tune: trial %d pruned: %s", trial.number, err)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    except (ValueError, RuntimeError) as err:
        log.warning("tune: trial %d failed: %s: %s", trial.number, type(err).__name__, err)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    except BaseException:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    else:
        study.tell(trial, value)
