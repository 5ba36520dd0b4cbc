"""The member trainer: one model fitted with Lightning in its own folder, with its checkpoints and resume.

:func:`fit_member` trains one model (a single run's, an ensemble member's or a tune trial's) with one seed in
``run_dir`` and writes there:

* ``checkpoints/{best,last}.ckpt`` - Lightning training state (written atomically), used only to resume;
* ``checkpoints/run.json`` - the settings the checkpoints were written with (a resume with others is refused);
* ``checkpoints/finished.json`` - the member's record once it finished (a finished member is loaded, not trained);
* ``logs/metrics.csv`` - per-epoch losses and validation metrics (CSVLogger; kept whole across a resume);
* ``training_curve.{tsv,png}`` - those per epoch as a table and a figure (:mod:`seq2expr.training.curve`).

It knows nothing of ensembles, shards or devices: :mod:`seq2expr.training.run` plans the members and calls it
(the dependency goes one way only; an import-linter contract keeps it so).
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import logging
import re
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seq2expr.atomic import atomic_path, clear_debris, write_json
from seq2expr.config import RunConfig
from seq2expr.files import FileError, fault_point, reading
from seq2expr.inference import training_precision
from seq2expr.interrupts import Interrupted
from seq2expr.models import is_head_tensor
from seq2expr.training.transfer import MemberInit, trunk_size

log = logging.getLogger(__name__)
FINISHED = "finished.json"
RUN_STATE = "run.json"  # settings the checkpoints were written with


def lightning_progress_bar():
    """Lightning's bar where one is drawn: rich's in a terminal, tqdm's (every 50 steps) when forced elsewhere.
    The callback training adds when it shows a bar (else :class:`~seq2expr.training.module.EpochLines`)."""
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar

    if sys.stdout.isatty():
        try:
            return RichProgressBar()
        except (ImportError, ModuleNotFoundError):  # rich missing: fall back below
            pass
    return TQDMProgressBar(refresh_rate=50)


def _loaders(cfg: RunConfig, bundle, seed: int, model: nn.Module):
    from seq2expr.data.dataset import make_loader
    from seq2expr.models.registry import input_segments

    t = cfg.train
    common = dict(batch_size=t.batch_size, seed=seed, n_value=bundle.policy.n_value, num_workers=t.num_workers,
                  distributed=True)  # under DDP each process reads its share of the batches
    train = make_loader(bundle.codes, bundle.targets, bundle.splits["train"], shuffle=True,
                        rc_augment=t.rc_augment, shift=t.shift_augment, segments=input_segments(model), **common)
    valid = make_loader(bundle.codes, bundle.targets, bundle.splits["valid"], shuffle=False,
                        rc_augment=False, shift=0, **common)
    return train, valid


def load_checkpoint(ckpt_path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint read with ``weights_only=True``: tensors and plain containers only, never code.

    What we write (weights, optimiser, loop and callback state, plain hyper-parameters) loads so; a checkpoint
    that would need arbitrary objects (e.g. one someone shared, with a pickled payload) is refused, and a
    truncated or corrupt one named, as a :class:`~seq2expr.files.FileError`.
    """
    import pickle

    try:
        with reading(ckpt_path):
            return torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        unsafe = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f" (it holds {unsafe.group(1)})" if unsafe else ""
        raise FileError(ckpt_path, f"refused: loading this checkpoint would run arbitrary code{what}; only "
                                   "checkpoints of tensors and plain values are resumed (start over with "
                                   "--no-resume)") from None
    except RuntimeError as err:  # torch's zip reader: truncated or not a checkpoint
        raise FileError(ckpt_path, f"truncated or not a checkpoint ({str(err).split('. ')[0]})") from None


def checkpoint_weights(ckpt_path: str | Path) -> dict[str, torch.Tensor]:
    """The wrapped model's weights from a Lightning checkpoint (read without unpickling code): the state dict
    of :class:`~seq2expr.training.module.SeqModule`'s ``model``, what is exported for the kept epoch."""
    ckpt = load_checkpoint(ckpt_path)
    return {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}


def is_global_zero() -> bool:
    """Whether this process writes the run's files: the only process, or rank 0 of a distributed (DDP) run.

    Lightning's DDP launcher starts the other processes by running the same command again; they train with
    rank 0 and leave every file (checkpoints, exported model, metrics) to it.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _run_fingerprint(cfg: RunConfig, bundle, seed: int) -> dict[str, Any]:
    """What a checkpoint must agree with to be resumed: the data, the architecture, the optimisation."""
    t = cfg.train.model_dump(mode="json")
    for k in ("epochs", "max_time_minutes", "early_stopping_patience", "threads", "num_workers", "ensemble_seeds",
              "ensemble_folds", "precise_bn", "accelerator", "keep"):
        t.pop(k, None)  # may change between attempts (e.g. more epochs, more time)
    if t.get("init") is None:  # fine-tuning settings only where there is a parent (runs from before them resume)
        for k in ("init", "init_members", "head", "target_transform", "freeze", "unfreeze_after_epochs",
                  "trunk_lr_factor"):
            t.pop(k, None)
    split = {k: bundle.splits[k] for k in ("train", "valid")}
    rows = hashlib.sha256(b"".join(np.ascontiguousarray(v, dtype=np.int64).tobytes() + b"|" for v in split.values()))
    return {"data_hash": bundle.data_hash, "model": cfg.model.model_dump(mode="json"), "train": t, "seed": seed,
            "split_rows": rows.hexdigest()[:16]}


def _check_resumable(ckpt_dir: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse to resume checkpoints written for other data or settings; record the settings otherwise."""
    path = ckpt_dir / RUN_STATE
    if path.is_file() and (ckpt_dir / "last.ckpt").is_file():
        before = json.loads(path.read_text())
        changed = sorted(k for k in fingerprint if before.get(k) != fingerprint[k])
        if changed:
            raise ValueError(f"{ckpt_dir}: checkpoints were written with different {', '.join(changed)}; "
                             "use --no-resume (resume=False) to start over or another output_dir")
    elif is_global_zero():
        write_json(path, fingerprint)


def _time_limit(minutes: float, run_dir: Path, epochs: int):
    """Lightning's Timer for ``train.max_time_minutes``, which says so when it cuts a run: a warning at the cut,
    and ``cut`` (epoch, step) for ``finished.json`` and ``metrics.json``. Budgets that make a run the same on any
    machine are epochs and steps; a wall-clock cut trains fewer steps on a slower or busier machine."""
    from lightning.pytorch.callbacks import Timer

    class TimeLimit(Timer):
        cut: dict[str, int] | None = None

        def _check_time_remaining(self, trainer) -> None:
            before = trainer.should_stop
            super()._check_time_remaining(trainer)
            if trainer.should_stop and not before and self.cut is None:
                self.cut = {"epoch": int(trainer.current_epoch), "step": int(trainer.global_step)}
                log.warning("train.max_time_minutes=%g cut %s at epoch %d of %d (step %d): the model is truncated "
                            "(marked in finished.json and metrics.json)", minutes, run_dir,
                            trainer.current_epoch + 1, epochs, trainer.global_step)

    return TimeLimit(duration={"minutes": minutes}, verbose=False)


def _make_trainer(cfg: RunConfig, run_dir: Path, monitor: str, n_batches: int, progress: bool,
                  callbacks: Sequence[Any]):
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    from seq2expr.progress import enabled as progress_shown
    from seq2expr.training.module import EpochLines

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Checkpoints written to a temporary sibling and renamed: a kill leaves the previous one whole."""

        def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
            with atomic_path(path) as tmp:
                torch.save(checkpoint, tmp)
                fault_point("checkpoint")

    class FaultPoints(L.Callback):
        def on_train_batch_end(self, *args) -> None:
            fault_point("batch")

    t = cfg.train
    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=monitor, mode="max",
                                 save_top_k=1, enable_version_counter=False)
    # last.ckpt after every validation (what a resume starts from, and train.keep=last): a second callback without
    # a monitor, because Lightning 2.6's save_last only writes when the best checkpoint was written in the same step
    latest = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", save_top_k=1, monitor=None,
                             enable_version_counter=False)
    cbs: list[Any] = [checkpoint, latest, FaultPoints(), *callbacks]
    limit = _time_limit(t.max_time_minutes, run_dir, t.epochs) if t.max_time_minutes else None
    if limit is not None:
        cbs.append(limit)
    if t.early_stopping_patience is not None:
        cbs.append(EarlyStopping(monitor=monitor, mode="max", patience=t.early_stopping_patience, check_finite=False))
    bar = progress and progress_shown()  # a terminal, or SEQ2EXPR_PROGRESS=1
    cbs.append(lightning_progress_bar() if bar else EpochLines(t.epochs))  # else a line per epoch (a batch log)
    trainer = L.Trainer(
        max_epochs=t.epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        precision=training_precision(t.precision, t.accelerator),
        use_distributed_sampler=False,  # our batch sampler shards itself (BatchIndexSampler)
        gradient_clip_val=t.grad_clip,
        callbacks=cbs,
        logger=CSVLogger(save_dir=run_dir, name="", version="logs"),
        default_root_dir=run_dir,
        enable_progress_bar=bar,
        enable_model_summary=False,  # its table (FLOPs 0 on CPU, a bf16 size warning) on stdout: one line instead
        deterministic="warn" if torch.cuda.is_available() else True,
        log_every_n_steps=max(1, min(50, n_batches)),
        num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],
    )
    return trainer, checkpoint, limit


@contextmanager
def _quiet_lightning():
    """Keep Lightning's chatter off the terminal: its info lines (accelerator, AMP, GPU/TPU availability, tips,
    "fit stopped") say nothing our own log and progress bar do not, and the warnings below are nothing a user can
    act on. Global torch settings Lightning changes are restored after."""
    det, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(does not have many workers|exists and is not empty).*")
            # Lightning's own use of a deprecated torch pytree API; nothing a user can act on
            warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
            # torchmetrics' note on an epoch whose predictions are constant (Pearson r is NaN there, which the
            # validation metrics already show)
            warnings.filterwarnings("ignore", message=".*variance of predictions or target is close to zero.*")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        torch.use_deterministic_algorithms(det, warn_only=warn_only)  # Lightning's deterministic=True is global


def fit_member(cfg: RunConfig, bundle, seed: int, run_dir: Path, *, resume: bool = True, progress: bool = True,
               callbacks: Sequence[Any] = (), init: MemberInit | None = None) -> tuple[nn.Module, dict]:
    """Train one model with ``seed`` in ``run_dir``; returns it with its best weights, and fit info.

    Resumes from ``run_dir/checkpoints/last.ckpt`` when ``resume`` (on CPU with ``num_workers=0`` the resumed
    run ends with the same weights as an uninterrupted one: sampler epoch and RNG state are restored); a
    member that already finished is loaded from its best checkpoint instead of being trained again. ``init``: the
    weights the member starts from and what is frozen (fine-tuning, :mod:`seq2expr.training.transfer`).
    """
    model, heads = _new_member(cfg, bundle, seed, run_dir, resume=resume, init=init)
    finished = run_dir / "checkpoints" / FINISHED
    if finished.is_file():
        info = json.loads(finished.read_text())
        model.load_state_dict(checkpoint_weights(run_dir / "checkpoints" / info["best_checkpoint"]))
        log.info("%s: already trained, loaded %s", run_dir, info["best_checkpoint"])
        _precise_bn(model, cfg, bundle, seed, _frozen_at_end(cfg, init, heads))
        return model.eval(), info
    fitted = _fit(cfg, bundle, model, seed, run_dir, progress=progress, callbacks=callbacks, init=init, heads=heads)
    if not fitted.trainer.is_global_zero:  # the other DDP processes: rank 0 exports, evaluates and writes
        return model.cpu().eval(), {"seed": seed, "rank": fitted.trainer.global_rank}
    info = _finish(cfg, bundle, model, seed, run_dir, fitted, _frozen_at_end(cfg, init, heads))
    write_json(finished, info)
    return model.cpu().eval(), info


def _frozen_at_end(cfg: RunConfig, init: MemberInit | None, heads: tuple[str, ...]) -> tuple[str, ...] | None:
    """The head of a model whose trunk stayed frozen to the last epoch (its batch norms keep the parent's
    statistics); None when every part trained."""
    if init is None or init.freeze != "trunk":
        return None
    after = init.unfreeze_after_epochs
    return heads if after is None or after >= cfg.train.epochs else None


def _new_member(cfg: RunConfig, bundle, seed: int, run_dir: Path, *, resume: bool, init: MemberInit | None = None
                ) -> tuple[nn.Module, tuple[str, ...]]:
    """The member's model, seeded and built (from the parent's weights when fine-tuning), and its checkpoint folder
    ready: emptied unless ``resume``, debris of a killed run cleared, and checkpoints written with other settings
    refused. Returns the model and the names of its head modules (empty unless fine-tuning)."""
    import lightning as L

    from seq2expr.models.registry import build_model

    ckpt_dir = run_dir / "checkpoints"
    if not resume and is_global_zero():
        for d in (ckpt_dir, run_dir / "logs"):
            shutil.rmtree(d, ignore_errors=True)
    if len(bundle.splits["valid"]) == 0:
        raise ValueError("training needs a validation split (data.split.valid_fraction > 0 or a 'valid' split)")
    L.seed_everything(seed, workers=True, verbose=False)
    try:  # before anything is written: sizes that make no architecture are a config error
        model = build_model(cfg.model.name, seq_len=bundle.seq_len, n_targets=len(bundle.target_names),
                            **cfg.model.params)
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"model.params do not build a {cfg.model.name!r} model: {' '.join(str(err).split())}"
                         ) from None
    heads = init.apply(model, f"train.init {cfg.train.init}") if init is not None else ()
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    clear_debris(ckpt_dir)  # a checkpoint half-written when a run was killed (the folder lock is ours)
    fingerprint = _run_fingerprint(cfg, bundle, seed)
    if init is not None:
        fingerprint["init"] = init.fingerprint  # the parent's weights (sha256), member and head
    _check_resumable(ckpt_dir, fingerprint)
    return model, heads


@dataclass
class _Fitted:
    """What :func:`_fit` leaves for the member's record: the trainer and its callbacks, where it resumed from."""

    trainer: Any
    checkpoint: Any  # the best-checkpoint callback
    limit: Any  # the time-limit callback, or None
    ckpt_path: str | None  # the checkpoint the fit resumed from
    n_batches: int  # training batches per epoch
    started: float  # perf_counter at the start of this attempt


def _fit(cfg: RunConfig, bundle, model: nn.Module, seed: int, run_dir: Path, *, progress: bool,
         callbacks: Sequence[Any], init: MemberInit | None = None, heads: tuple[str, ...] = ()) -> _Fitted:
    """Lightning's fit of ``model`` from scratch or from ``checkpoints/last.ckpt``; an interrupt says where."""
    from seq2expr.training.module import SamplerEpochSync, SeqModule, monitor_metric

    t = cfg.train
    finetune = {} if init is None else {"head": heads, "trunk_lr_factor": init.trunk_lr_factor,
                                        "freeze_trunk": init.freeze == "trunk",
                                        "unfreeze_after_epochs": init.unfreeze_after_epochs}
    module = SeqModule(model, n_targets=len(bundle.target_names), task=t.task, loss=t.loss, lr=t.lr,
                       weight_decay=t.weight_decay, schedule=t.schedule, rc_average=t.rc_average,
                       positions=cfg.model.positions.text() if cfg.model.positions else None, **finetune)
    train_dl, valid_dl = _loaders(cfg, bundle, seed, model)
    last = run_dir / "checkpoints" / "last.ckpt"
    ckpt_path = str(last) if last.is_file() else None
    if ckpt_path:
        load_checkpoint(ckpt_path)  # refuse a checkpoint that needs code, or a damaged one, with its name
    log_file = run_dir / "logs" / "metrics.csv"
    earlier = _read_log(log_file) if ckpt_path else []
    if is_global_zero():
        n_params = sum(p.numel() for p in model.parameters())
        log.info("model %s: %s parameters; %d training batches per epoch", cfg.model.name, f"{n_params:,}",
                 len(train_dl))
        if init is not None:
            frozen = trunk_size(model, heads) if init.freeze == "trunk" else 0
            log.info("fine-tuning from %s: %s trainable and %s frozen parameters at the start (head %s: %s; trunk "
                     "learning rate x %g%s)", t.init, f"{n_params - frozen:,}", f"{frozen:,}", init.head,
                     ", ".join(heads), init.trunk_lr_factor,
                     "" if init.freeze != "trunk" else "; the trunk frozen " +
                     (f"for {init.unfreeze_after_epochs} epoch(s)" if init.unfreeze_after_epochs else "throughout"))
    t0 = time.perf_counter()
    with _quiet_lightning():
        trainer, checkpoint, limit = _make_trainer(cfg, run_dir, monitor_metric(t.task), len(train_dl), progress,
                                                   [SamplerEpochSync(train_dl), *callbacks])
        try:
            # tensors and plain values only (checked above): never unpickle code from a resumed run folder
            extra = {"weights_only": True} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
            trainer.fit(module, train_dl, valid_dl, ckpt_path=ckpt_path, **extra)
        except Interrupted as stop:  # SIGTERM/SIGINT: the checkpoints on disk stay; say where it stopped
            stop.where = _position(trainer, run_dir, Path(cfg.output_dir))
            raise
        finally:
            if earlier and is_global_zero():
                _merge_log(log_file, earlier)
    return _Fitted(trainer, checkpoint, limit, ckpt_path, len(train_dl), t0)


def _finish(cfg: RunConfig, bundle, model: nn.Module, seed: int, run_dir: Path, fitted: _Fitted,
            frozen: tuple[str, ...] | None = None) -> dict[str, Any]:
    """After the fit: the curve written, the kept weights (best or last) loaded into ``model``, and the member's
    record for ``finished.json``. A time limit that cut the first epoch raises: no model is saved."""
    from seq2expr.training.curve import write_training_curve
    from seq2expr.training.module import monitor_metric

    t, trainer, checkpoint = cfg.train, fitted.trainer, fitted.checkpoint
    monitor = monitor_metric(t.task)
    last = run_dir / "checkpoints" / "last.ckpt"
    cut = fitted.limit.cut if fitted.limit is not None else None
    steps, epochs_done = int(trainer.global_step), int(trainer.global_step) // max(1, fitted.n_batches)
    if cut is not None and epochs_done < 1:
        raise ValueError(f"{run_dir}: train.max_time_minutes={t.max_time_minutes:g} stopped training after {steps} "
                         f"of the first epoch's {fitted.n_batches} steps; a model that has not seen one epoch is not "
                         "saved (raise train.max_time_minutes or remove it: budgets are epochs)")
    write_training_curve(run_dir, monitor)
    best = last if t.keep == "last" or not checkpoint.best_model_path else Path(checkpoint.best_model_path)
    model.load_state_dict(checkpoint_weights(best))
    # the kept weights' validation score: the best epoch's, or the last epoch's (train.keep)
    score = checkpoint.best_model_score if best != last else trainer.callback_metrics.get(monitor)
    seconds = round(time.perf_counter() - fitted.started, 1)  # this attempt's wall time (after a resume: since it)
    return {"seed": seed, "best_checkpoint": best.name, "best_score": None if score is None else float(score),
            "monitor": monitor, "epochs_trained": int(trainer.current_epoch), "epochs_planned": t.epochs,
            "steps": steps, "precision": {"32-true": "32"}.get(trainer.precision, trainer.precision),
            "truncated": cut is not None,
            **({"truncated_at": {"epoch": cut["epoch"] + 1, "step": cut["step"], "epochs_done": epochs_done,
                                 "max_time_minutes": t.max_time_minutes}} if cut else {}),
            "resumed_from": Path(fitted.ckpt_path).name if fitted.ckpt_path else None,
            "train_seconds": seconds,
            "precise_bn_sequences": _precise_bn(model, cfg, bundle, seed, frozen)}


def _position(trainer, run_dir: Path, out: Path) -> str:
    """Where an interrupted fit stopped, for its one line: ``epoch E step S`` (1-based epoch; with the member)."""
    member = f"member {run_dir.name}, " if run_dir != out else ""
    return f"{member}epoch {trainer.current_epoch + 1} step {trainer.global_step}"


def _precise_bn(model: nn.Module, cfg: RunConfig, bundle, seed: int, frozen: tuple[str, ...] | None = None) -> int:
    """Recompute the chosen weights' batch-norm statistics on up to ``train.precise_bn`` training sequences
    (a seeded subset, so a reloaded member gets the same); returns the number of sequences used. ``frozen``: the
    head of a model whose trunk was frozen to the end: only the head's batch norms are recomputed (the trunk keeps
    the parent's statistics, as it did while training)."""
    from seq2expr.data.dataset import make_loader
    from seq2expr.training.precise_bn import recalibrate_batchnorm

    n = cfg.train.precise_bn
    idx = np.asarray(bundle.splits["train"])
    bns = [m for k, m in model.named_modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm) and (frozen is None or is_head_tensor(k, frozen))]
    if not n or not bns:
        return 0
    if len(idx) > n:
        idx = np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))
    loader = make_loader(bundle.codes, bundle.targets, idx, batch_size=max(cfg.train.batch_size, 256), seed=seed,
                         n_value=bundle.policy.n_value, num_workers=0, shuffle=False, rc_augment=False, shift=0)
    rc = cfg.train.rc_average or cfg.train.rc_augment  # the strands the model sees at training and evaluation
    recalibrate_batchnorm(model, (x for x, _ in loader), reverse_complement=rc, modules=bns)
    return len(idx)


def _read_log(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _merge_log(path: Path, earlier: list[dict[str, str]]) -> None:
    """Put back the log rows of the run before a resume (CSVLogger starts a fresh file).

    Rows of epochs the resumed run logged again (the interrupted epoch's end) are taken from the new run.
    """
    new = _read_log(path)
    first = min((int(r["epoch"]) for r in new if r.get("epoch")), default=None)
    kept = [r for r in earlier if first is None or (r.get("epoch") and int(r["epoch"]) < first)]
    rows = kept + new
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)

