"""``train(cfg)``: prepare data, fit one model (or a seeds ensemble) with Lightning, export, evaluate, report.

Outputs under ``cfg.output_dir``:

* ``config.yaml`` - the resolved run config (written first, so a crashed run can be repeated);
* ``checkpoints/{best,last}.ckpt`` - Lightning training state, used only to resume (our own files);
* ``logs/metrics.csv`` - per-epoch losses and validation metrics (CSVLogger);
* ``training_curve.{tsv,png}`` - those per epoch as a table and a figure (:mod:`seq2expr.training.curve`);
* ``model/`` - the exported model (safetensors + JSON, loadable without Lightning);
* ``metrics.json``, ``scatter_{split}[_{target}].png`` (or ROC/PR curves), ``predictions_test.tsv``.

An ensemble (``train.ensemble_seeds``) trains each member in ``seed_{s}/`` with its own checkpoints; a
cross-validation ensemble (``train.ensemble_folds`` with ``data.split.folds``) trains member ``f`` in
``fold_{f}/``, validated on fold ``f``, so that together the members learn from every non-test row; its
validation metrics are out-of-fold (each row predicted by the member that did not train on it).
``metrics.json`` also holds a leakage check of the splits (near-identical sequences across them).
Metrics come from :func:`seq2expr.evaluation.score` (the path ``seq2expr evaluate`` takes): on the model's
target scale (after the configured transform, e.g. log1p; Pearson r is unaffected by standardisation), the
predictions table on the original measurement scale; a registry data set's own scorer (DREAM 2022's challenge
score) is added for the test split.
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
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seq2expr.atomic import (
    LOCK_FILE,
    FolderBusy,
    atomic_path,
    clear_debris,
    folder_lock,
    lock_is_held,
    write_json,
    write_text,
)
from seq2expr.config import RunConfig, dump_config, load_config
from seq2expr.files import FileError, fault_point, reading
from seq2expr.hardware import describe_device
from seq2expr.inference import (
    FitRecord,
    ModelSpec,
    SavedModel,
    SavedModelConfig,
    Shard,
    check_precision,
    predict,
    save_model,
    training_precision,
)
from seq2expr.interrupts import Interrupted
from seq2expr.models import EnsembleAverage
from seq2expr.outputs import check_run_folder, read_marker, write_marker

log = logging.getLogger(__name__)
FINISHED = "finished.json"
RUN_STATE = "run.json"  # settings the checkpoints were written with


def _progress_bar():
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar

    if sys.stdout.isatty():
        try:
            return RichProgressBar()
        except (ImportError, ModuleNotFoundError):  # rich missing: fall back below
            pass
    return TQDMProgressBar(refresh_rate=50)  # not a terminal: fewer lines in logs


def _loaders(cfg: RunConfig, bundle, seed: int):
    from seq2expr.data.dataset import make_loader

    t = cfg.train
    common = dict(batch_size=t.batch_size, seed=seed, n_value=bundle.policy.n_value, num_workers=t.num_workers,
                  distributed=True)  # under DDP each process reads its share of the batches
    train = make_loader(bundle.codes, bundle.targets, bundle.splits["train"], shuffle=True,
                        rc_augment=t.rc_augment, shift=t.shift_augment, **common)
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


def _best_weights(ckpt_path: str | Path) -> dict[str, torch.Tensor]:
    """The wrapped model's weights from a Lightning checkpoint (read without unpickling code)."""
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
    if progress:
        cbs.append(_progress_bar())
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
        enable_progress_bar=progress,
        enable_model_summary=progress,
        deterministic="warn" if torch.cuda.is_available() else True,
        log_every_n_steps=max(1, min(50, n_batches)),
        num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],
    )
    return trainer, checkpoint, limit


@contextmanager
def _quiet_lightning(quiet: bool):
    """Keep Lightning's info lines (accelerator, tips) out of quiet runs; restore global torch settings after."""
    det, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(does not have many workers|exists and is not empty).*")
            # Lightning's own use of a deprecated torch pytree API; nothing a user can act on
            warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
            yield
    finally:
        logger.setLevel(level)
        torch.use_deterministic_algorithms(det, warn_only=warn_only)  # Lightning's deterministic=True is global


def fit_member(cfg: RunConfig, bundle, seed: int, run_dir: Path, *, resume: bool = True, progress: bool = True,
               callbacks: Sequence[Any] = ()) -> tuple[nn.Module, dict]:
    """Train one model with ``seed`` in ``run_dir``; returns it with its best weights, and fit info.

    Resumes from ``run_dir/checkpoints/last.ckpt`` when ``resume`` (on CPU with ``num_workers=0`` the resumed
    run ends with the same weights as an uninterrupted one: sampler epoch and RNG state are restored); a
    member that already finished is loaded from its best checkpoint instead of being trained again.
    """
    import lightning as L

    from seq2expr.models.registry import build_model
    from seq2expr.training.curve import write_training_curve
    from seq2expr.training.module import SamplerEpochSync, SeqModule, monitor_metric

    t = cfg.train
    ckpt_dir = run_dir / "checkpoints"
    if not resume and is_global_zero():
        for d in (ckpt_dir, run_dir / "logs"):
            shutil.rmtree(d, ignore_errors=True)
    if len(bundle.splits["valid"]) == 0:
        raise ValueError("training needs a validation split (data.split.valid_fraction > 0 or a 'valid' split)")
    n_targets = len(bundle.target_names)
    L.seed_everything(seed, workers=True, verbose=False)
    try:  # before anything is written: sizes that make no architecture are a config error
        model = build_model(cfg.model.name, seq_len=bundle.seq_len, n_targets=n_targets, **cfg.model.params)
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"model.params do not build a {cfg.model.name!r} model: {' '.join(str(err).split())}"
                         ) from None
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    clear_debris(ckpt_dir)  # a checkpoint half-written when a run was killed (the folder lock is ours)
    _check_resumable(ckpt_dir, _run_fingerprint(cfg, bundle, seed))
    finished = ckpt_dir / FINISHED
    if finished.is_file():
        info = json.loads(finished.read_text())
        model.load_state_dict(_best_weights(ckpt_dir / info["best_checkpoint"]))
        log.info("%s: already trained, loaded %s", run_dir, info["best_checkpoint"])
        _precise_bn(model, cfg, bundle, seed)
        return model.eval(), info

    module = SeqModule(model, n_targets=n_targets, task=t.task, loss=t.loss, lr=t.lr, weight_decay=t.weight_decay,
                       schedule=t.schedule, rc_average=t.rc_average)
    train_dl, valid_dl = _loaders(cfg, bundle, seed)
    monitor = monitor_metric(t.task)
    last = ckpt_dir / "last.ckpt"
    ckpt_path = str(last) if last.is_file() else None
    if ckpt_path:
        load_checkpoint(ckpt_path)  # refuse a checkpoint that needs code, or a damaged one, with its name
    log_file = run_dir / "logs" / "metrics.csv"
    earlier = _read_log(log_file) if ckpt_path else []
    t0 = time.perf_counter()
    with _quiet_lightning(not progress):
        trainer, checkpoint, limit = _make_trainer(cfg, run_dir, monitor, len(train_dl), progress,
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
    if not trainer.is_global_zero:  # the other DDP processes: rank 0 exports, evaluates and writes
        return model.cpu().eval(), {"seed": seed, "rank": trainer.global_rank}
    cut = limit.cut if limit is not None else None
    steps, epochs_done = int(trainer.global_step), int(trainer.global_step) // max(1, len(train_dl))
    if cut is not None and epochs_done < 1:
        raise ValueError(f"{run_dir}: train.max_time_minutes={t.max_time_minutes:g} stopped training after {steps} "
                         f"of the first epoch's {len(train_dl)} steps; a model that has not seen one epoch is not "
                         "saved (raise train.max_time_minutes or remove it: budgets are epochs)")
    write_training_curve(run_dir, monitor)
    best = last if t.keep == "last" or not checkpoint.best_model_path else Path(checkpoint.best_model_path)
    model.load_state_dict(_best_weights(best))
    # the kept weights' validation score: the best epoch's, or the last epoch's (train.keep)
    score = checkpoint.best_model_score if best != last else trainer.callback_metrics.get(monitor)
    info = {"seed": seed, "best_checkpoint": best.name, "best_score": None if score is None else float(score),
            "monitor": monitor, "epochs_trained": int(trainer.current_epoch), "epochs_planned": t.epochs,
            "steps": steps, "precision": {"32-true": "32"}.get(trainer.precision, trainer.precision),
            "truncated": cut is not None,
            **({"truncated_at": {"epoch": cut["epoch"] + 1, "step": cut["step"], "epochs_done": epochs_done,
                                 "max_time_minutes": t.max_time_minutes}} if cut else {}),
            "resumed_from": Path(ckpt_path).name if ckpt_path else None,
            "train_seconds": round(time.perf_counter() - t0, 1),  # this attempt's wall time (after a resume: since it)
            "precise_bn_sequences": _precise_bn(model, cfg, bundle, seed)}
    write_json(finished, info)
    return model.cpu().eval(), info


def _position(trainer, run_dir: Path, out: Path) -> str:
    """Where an interrupted fit stopped, for its one line: ``epoch E step S`` (1-based epoch; with the member)."""
    member = f"member {run_dir.name}, " if run_dir != out else ""
    return f"{member}epoch {trainer.current_epoch + 1} step {trainer.global_step}"


def _precise_bn(model: nn.Module, cfg: RunConfig, bundle, seed: int) -> int:
    """Recompute the chosen weights' batch-norm statistics on up to ``train.precise_bn`` training sequences
    (a seeded subset, so a reloaded member gets the same); returns the number of sequences used."""
    from seq2expr.data.dataset import make_loader
    from seq2expr.training.precise_bn import recalibrate_batchnorm

    n = cfg.train.precise_bn
    idx = np.asarray(bundle.splits["train"])
    if not n or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return 0
    if len(idx) > n:
        idx = np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))
    loader = make_loader(bundle.codes, bundle.targets, idx, batch_size=max(cfg.train.batch_size, 256), seed=seed,
                         n_value=bundle.policy.n_value, num_workers=0, shuffle=False, rc_augment=False, shift=0)
    rc = cfg.train.rc_average or cfg.train.rc_augment  # the strands the model sees at training and evaluation
    recalibrate_batchnorm(model, (x for x, _ in loader), reverse_complement=rc)
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


def evaluate_splits(saved: SavedModel, bundle, cfg: RunConfig, out_dir: Path, n_boot: int = 1000,
                    out_of_fold: Sequence[tuple[nn.Module, np.ndarray]] | None = None) -> dict[str, Any]:
    """Metrics and plots of the valid and test splits, a predictions table for test (through
    :func:`seq2expr.evaluation.score`), and the data set's own scores of the test predictions when it has a scorer.

    ``out_of_fold`` (member, validation rows) pairs replace the valid split: each member predicts the rows
    it was validated on (the out-of-fold estimate of a cross-validation ensemble).
    """
    from seq2expr.data.dataset import Rows
    from seq2expr.evaluation import score, scorer_for

    bs = max(cfg.train.batch_size, 256)
    fit = saved.config.fit
    # at the precision the members were trained at (auto when they differ)
    precision = check_precision(fit.precision) if fit is not None and "," not in fit.precision else "auto"

    def model_scale(model: SavedModel, rows: np.ndarray) -> np.ndarray:  # the memmap is read a batch at a time
        return predict(model, Rows(bundle.codes, rows), batch_size=bs, device="auto", scale="model",
                       precision=precision)

    results: dict[str, Any] = {}
    for split in ("valid", "test"):
        if split == "valid" and out_of_fold:
            idx = np.concatenate([np.asarray(rows, dtype=np.int64) for _, rows in out_of_fold])
            raw = np.concatenate([model_scale(SavedModel(m, saved.config), np.asarray(rows, dtype=np.int64))
                                  for m, rows in out_of_fold])
        else:
            idx = np.asarray(bundle.splits.get(split, []), dtype=np.int64)
            if len(idx) == 0:
                continue
            raw = model_scale(saved, idx)
        test = split == "test"
        results[split], extra = score(
            saved.config, raw, np.asarray(bundle.targets[idx], dtype=np.float32), ids=np.asarray(bundle.ids)[idx],
            measured=np.asarray(bundle.raw_targets[idx], dtype=np.float32),
            groups={k: np.asarray(v)[idx] for k, v in (bundle.groups or {}).items()}, name=split, out_dir=out_dir,
            predictions_file="predictions_test.tsv" if test else None, n_boot=n_boot, seed=cfg.train.seed,
            scorer=scorer_for(cfg.data.dataset) if test else None)
        if extra is not None:
            results["challenge"] = extra
    return results


def train(cfg: RunConfig | str | Path, *, overrides: Sequence[str] = (), resume: bool = True, progress: bool = True,
          callbacks: Sequence[Any] = (), shard: str | Shard | None = None,
          member_devices: str | int | Sequence[str] | None = None) -> Path | None:
    """Train as configured and return the exported model folder (``output_dir/model``).

    ``cfg``: a :class:`~seq2expr.config.RunConfig`, or a YAML file / shipped config name with ``overrides``
    (``key.sub=value``). ``callbacks`` are extra Lightning callbacks (e.g. for tests or custom logging). With
    ``resume`` a run killed part-way continues from its last checkpoint; the same seed gives the same weights on
    CPU. Two runs into one ``output_dir`` at once are refused (:func:`seq2expr.atomic.folder_lock`).

    An ensemble's members can be trained by several processes at once:

    * ``shard="K/N"`` trains members K, K+N, K+2N... of the ensemble (a scheduler array task). Each member is
      locked while it trains, so the shards share ``output_dir``; the shard that finds every member finished
      assembles the ensemble (evaluation, ``model/``, ``metrics.json``; once, under the folder lock) and returns
      its folder; the others return None (see :func:`finished_members`). ``train`` without a shard finishes
      an ensemble too: it loads the finished members and trains the rest.
    * ``member_devices`` (``"cuda:0,cuda:1"``, ``"cpu,cpu"``, a count) runs shard k of N on the k-th device, one
      process each (:mod:`seq2expr.training.parallel`), then assembles here. Each member trains on one device.

    The members are the same as in one process (seeded each), so on CPU the ensemble is the same to the bit.
    """
    inputs = [] if isinstance(cfg, RunConfig) else [cfg]
    if not isinstance(cfg, RunConfig):
        cfg = load_config(cfg, list(overrides))
    part = _check_parallel(cfg, shard, member_devices)  # before anything is written
    check_run(cfg, inputs)
    out = Path(cfg.output_dir)
    new = not out.exists()
    try:
        if member_devices is not None:
            return _train_on_devices(cfg, member_devices, resume=resume, callbacks=callbacks)
        if part is not None and part.count > 1:
            return _train_shard(cfg, part, resume=resume, progress=progress, callbacks=callbacks)
        # a second run into the same folder is refused; the other processes of a DDP run (started by Lightning with
        # this same command) train with rank 0, which holds the lock and writes every file
        with folder_lock(cfg.output_dir, "train run") if is_global_zero() else nullcontext():
            return _train(cfg, resume=resume, progress=progress, callbacks=callbacks)
    except ValueError:  # a data or config error (DataError, FileError...): a folder this call made goes again
        if new and is_global_zero():
            _discard_unstarted(out)
        raise


RUN_NAMES = re.compile(r"^(config\.yaml|metrics\.json|model|checkpoints|logs|training_curve\.(tsv|png)|"
                       r"predictions_test\.tsv|(scatter|roc_pr)_.+\.png|seed_-?\d+|fold_\d+)$")  # what train writes


def _legacy_run(folder: Path) -> bool:
    """A run folder ``train`` wrote before output folders carried a marker (its checkpoints' settings file)."""
    return any(folder.glob(f"checkpoints/{RUN_STATE}")) or any(folder.glob(f"*/checkpoints/{RUN_STATE}"))


def check_run(cfg: RunConfig, inputs: Sequence[object] = ()) -> None:
    """What can be checked before ``train`` writes anything: the model's name and parameters ("did you mean"),
    the task's loss, the accelerator, and the output folder, which train never writes over a file it did not
    create in (:func:`seq2expr.outputs.check_run_folder`: a new folder, train's own, or a folder holding none of
    the names train writes; the data files may not be among them)."""
    from seq2expr.inference import check_accelerator
    from seq2expr.models import check_params

    check_params(cfg.model.name, cfg.model.params)
    if cfg.train.task == "classification" and cfg.train.loss != "bce":
        raise ValueError("train.task=classification needs train.loss=bce")
    check_accelerator(cfg.train.accelerator, cfg.train.devices)
    d = cfg.data
    read = [*inputs, d.path, d.values, d.valid_path, d.test_path, *(d.split.ids_files or {}).values()]
    check_run_folder(cfg.output_dir, read, command="train", owns=lambda name: bool(RUN_NAMES.match(name)),
                     legacy=_legacy_run)


def _discard_unstarted(out: Path) -> None:
    """Remove the output folder a failed call created, unless a checkpoint was written or another process (a shard)
    holds a lock in it: a run that stops on a data or config error leaves nothing behind."""
    if not out.is_dir() or any(out.rglob("*.ckpt")) or any(lock_is_held(p) for p in out.rglob(LOCK_FILE)):
        return
    shutil.rmtree(out, ignore_errors=True)


def _write_run_config(out: Path, cfg: RunConfig) -> None:
    """The resolved config, once the data and model have been checked, and train's marker on the folder."""
    clear_debris(out)  # temporary files of a killed run (the folder lock is ours, so no writer is using them)
    if read_marker(out) != "train":
        write_marker(out, "train")
    write_text(out / "config.yaml", dump_config(cfg))


def _is_ensemble(cfg: RunConfig) -> bool:
    return bool(cfg.train.ensemble_seeds or cfg.train.ensemble_folds)


def _check_parallel(cfg: RunConfig, shard, member_devices) -> Shard | None:
    part = Shard.parse(shard)
    if member_devices is not None and part is not None:
        raise ValueError("use --shard or --member-devices, not both")
    several = (part is not None and part.count > 1) or member_devices is not None
    if several and not _is_ensemble(cfg):
        what = f"--shard {shard}" if part is not None else "--member-devices"
        raise ValueError(f"{what} splits an ensemble's members over processes; this config trains one model (set "
                         "train.ensemble_seeds or train.ensemble_folds, or use train.devices/strategy=ddp for one "
                         "model on several devices)")
    return part


def finished_members(cfg: RunConfig) -> tuple[int, int]:
    """(members whose training finished, members of the run): the progress of a sharded ensemble."""
    plan = _member_plan(cfg)
    return sum((d / "checkpoints" / FINISHED).is_file() for _, _, d in plan), len(plan)


# what a member's record says about the attempt rather than the member: the same member trained again (or resumed)
# differs only there, so the digest leaves them out and does not follow the clock
_ATTEMPT_KEYS = ("train_seconds", "resumed_from")


def _members_digest(cfg: RunConfig) -> str:
    """The finished members' records (their weights' checkpoints, scores, epochs and steps; not their wall times),
    hashed: an assembled ensemble is of exactly these members."""
    h = hashlib.sha256()
    for _, _, d in _member_plan(cfg):
        record = json.loads((d / "checkpoints" / FINISHED).read_text())
        h.update(json.dumps({k: v for k, v in record.items() if k not in _ATTEMPT_KEYS}, sort_keys=True).encode()
                 + b"|")
    return h.hexdigest()[:16]


def _member_lock(cfg: RunConfig, run_dir: Path):
    """Each ensemble member's folder is locked while it is trained or loaded (shards share ``output_dir``); a
    single model's folder is ``output_dir`` itself, held by the whole run. Only rank zero locks (DDP)."""
    if run_dir == Path(cfg.output_dir) or not is_global_zero():
        return nullcontext()
    return folder_lock(run_dir, "train run")


def _prepare(cfg: RunConfig):
    from seq2expr.data.prepare import prepare_data

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.task == "classification" and cfg.train.loss != "bce":
        raise ValueError("train.task=classification needs train.loss=bce")
    return prepare_data(cfg.data, cfg.train.task)


def _train_shard(cfg: RunConfig, part: Shard, *, resume: bool, progress: bool, callbacks: Sequence[Any],
                 assemble: bool = True) -> Path | None:
    """Train members ``part.index``, ``+ part.count``... of the plan, each under its own folder lock; then assemble
    the ensemble if every member has finished (and ``assemble``). Returns the model folder, or None."""
    out = Path(cfg.output_dir)
    zero = is_global_zero()
    plan = _member_plan(cfg)
    mine = plan[part.index::part.count]
    bundle = _prepare(cfg) if mine else None  # the data checked before anything is written
    if zero:
        with ExitStack() as stack:  # config.yaml, unless another process holds the folder (it writes it)
            try:
                stack.enter_context(folder_lock(out, "train run"))
            except FolderBusy:
                pass
            else:
                _write_run_config(out, cfg)
    if not mine:
        log.warning("shard %d/%d: no members to train (the ensemble has %d)", part.index, part.count, len(plan))
    else:
        for seed, fold, run_dir in mine:
            with _member_lock(cfg, run_dir):
                fit_member(cfg, bundle if fold is None else bundle.with_fold(fold), seed, run_dir, resume=resume,
                           progress=progress, callbacks=callbacks)
    if not zero or not assemble:
        return None
    return _assemble_if_complete(cfg, callbacks)


def _assemble_if_complete(cfg: RunConfig, callbacks: Sequence[Any]) -> Path | None:
    """Evaluate and export the ensemble once every member has finished, exactly once: under the folder lock (a
    process that finds it held leaves the assembly to its holder), and not again for the same finished members."""
    out = Path(cfg.output_dir)
    done, total = finished_members(cfg)
    if done < total:
        log.info("%d of %d ensemble members finished; the last shard to finish assembles the ensemble", done, total)
        return None
    with ExitStack() as stack:
        try:
            stack.enter_context(folder_lock(out, "train run"))
        except FolderBusy as err:
            log.info("every member finished; %s holds the folder and assembles the ensemble", err.problem)
            return None
        if (out / "model").is_dir() and _assembled_digest(out) == _members_digest(cfg):
            log.info("%s: already assembled from these members", out / "model")
            return out / "model"
        return _train(cfg, resume=True, progress=False, callbacks=callbacks)  # loads the finished members


def _assembled_digest(out: Path) -> str | None:
    try:
        return json.loads((out / "metrics.json").read_text()).get("members_digest")
    except (OSError, ValueError, AttributeError):
        return None


def _train_on_devices(cfg: RunConfig, devices: str | int | Sequence[str], *, resume: bool,
                      callbacks: Sequence[Any]) -> Path:
    """Shard k of N trained on the k-th of N devices, one spawned process each, then the assembly here."""
    from seq2expr.training.parallel import ONE_DEVICE, placements, run_placed

    where = placements(devices, cfg.train.threads)
    n = len(where)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update=ONE_DEVICE)})  # each member on one device
    with folder_lock(cfg.output_dir, "train run"):
        out = Path(cfg.output_dir)
        _prepare(cfg)  # the encoded-sequence cache, built once before the processes read it (and the data checked)
        _write_run_config(out, cfg)
        run_placed(_train_part, [(p, (p.apply(cfg), f"{k}/{n}", resume, list(callbacks)))
                                 for k, p in enumerate(where)])
        return _train(cfg, resume=True, progress=False, callbacks=callbacks)


def _train_part(cfg: RunConfig, part: str, resume: bool, callbacks: list[Any]) -> None:
    """One process of :func:`_train_on_devices` (module level, so a spawned process can run it)."""
    _train_shard(cfg, Shard.parse(part), resume=resume, progress=False, callbacks=callbacks, assemble=False)


def _train(cfg: RunConfig, *, resume: bool, progress: bool, callbacks: Sequence[Any]) -> Path:
    from seq2expr.evaluation import model_notes, write_metrics
    from seq2expr.training.curve import write_ensemble_curve
    from seq2expr.training.module import monitor_metric

    out = Path(cfg.output_dir)
    zero = is_global_zero()  # other DDP processes re-run this function to train with rank 0, writing nothing
    t = cfg.train
    bundle = _prepare(cfg)  # the data checked before anything is written
    if zero:
        _write_run_config(out, cfg)
    split_summary = _split_summary(cfg, bundle) if zero else {}
    leakage = _leakage(bundle) if zero else {}
    members, infos, out_of_fold = [], [], []
    for seed, fold, run_dir in _member_plan(cfg):
        member_data = bundle if fold is None else bundle.with_fold(fold)
        with _member_lock(cfg, run_dir):
            model, info = fit_member(cfg, member_data, seed, run_dir, resume=resume, progress=progress,
                                     callbacks=callbacks)
        members.append(model)
        infos.append(info if fold is None else {**info, "fold": fold})
        if fold is not None:
            out_of_fold.append((model, member_data.splits["valid"]))
    if not is_global_zero():
        return out / "model"
    ensemble = len(members) > 1 or _is_ensemble(cfg)
    if ensemble:  # every member's curve in the run folder too
        write_ensemble_curve(out, {d.name: d for _, _, d in _member_plan(cfg)}, monitor_metric(t.task))
    model = EnsembleAverage(members).eval() if ensemble else members[0]

    fit = _fit_record(cfg, infos)
    saved_config = SavedModelConfig(
        model=ModelSpec(name=cfg.model.name, params=cfg.model.params, seq_len=int(bundle.seq_len),
                        n_targets=len(bundle.target_names)),
        data=cfg.data, train=t.model_copy(update={"precision": fit.precision}), target_names=list(bundle.target_names),
        target_transform=bundle.transform if t.task == "regression" else None, data_hash=bundle.data_hash,
        windows=bundle.windows, interpret=cfg.interpret, fit=fit)
    results = evaluate_splits(SavedModel(model, saved_config), bundle, cfg, out, out_of_fold=out_of_fold or None)
    saved_config.metrics = {s: results[s]["overall"] for s in ("valid", "test") if s in results}
    model_dir = save_model(out / "model", members if ensemble else model, saved_config)
    n = {k: int(len(v)) for k, v in bundle.splits.items()}
    if out_of_fold:
        n["valid"] = int(sum(len(rows) for _, rows in out_of_fold))  # out-of-fold rows
    report = {"output_dir": str(out), "model_dir": str(model_dir), "task": t.task,
              "target_names": list(bundle.target_names), "target_scale": _scale_note(saved_config),
              "n": n, "valid_is_out_of_fold": bool(out_of_fold), "split_summary": split_summary, "leakage": leakage,
              "fit": infos, "threads": torch.get_num_threads(), "precision": {"requested": t.precision,
                                                                              "resolved": fit.precision},
              "machine": fit.machine, "truncated": fit.truncated, **model_notes(saved_config), **results}
    if ensemble:
        report["members_digest"] = _members_digest(cfg)  # what a shard checks before assembling again
    write_metrics(out / "metrics.json", report)
    return model_dir


def _fit_record(cfg: RunConfig, infos: list[dict[str, Any]]) -> FitRecord:
    """How the members were trained, for the saved model and ``metrics.json``: the precision they were trained at
    (``train.precision`` resolved on this machine; members finished elsewhere keep theirs), the machine, and
    whether a time limit cut any of them."""
    done = [i.get("precision") for i in infos if i.get("precision")]
    precision = done[0] if done and len(set(done)) == 1 else ", ".join(dict.fromkeys(done)) or \
        training_precision(cfg.train.precision, cfg.train.accelerator)
    members = [{k: i.get(k) for k in ("seed", "fold", "epochs_trained", "epochs_planned", "steps", "precision",
                                      "truncated", "truncated_at") if i.get(k) is not None} for i in infos]
    device = "cuda" if torch.cuda.is_available() and cfg.train.accelerator in ("auto", "gpu", "cuda") else "cpu"
    return FitRecord(precision=precision, machine=describe_device(device),
                     truncated=any(i.get("truncated") for i in infos), members=members)


def _member_plan(cfg: RunConfig) -> list[tuple[int, int | None, Path]]:
    """(seed, validation fold or None, run folder) of every model to train."""
    t, out = cfg.train, Path(cfg.output_dir)
    if t.ensemble_folds:
        return [(t.seed + f, f, out / f"fold_{f}") for f in t.ensemble_folds]
    if t.ensemble_seeds:
        return [(s, None, out / f"seed_{s}") for s in t.ensemble_seeds]
    return [(t.seed, None, out)]


def _split_summary(cfg: RunConfig, bundle) -> dict[str, Any]:
    """Rows per split and group value, logged (with a warning for a split that is a whole group nobody named)
    before training starts, and kept for ``metrics.json``."""
    from seq2expr.data.splits import format_split_summary, split_summary

    d = cfg.data
    fixed = [*(["valid"] if d.valid_path else []),
             *(["test"] if d.test_path or ("split" in bundle.groups and d.split.method != "column") else [])]
    summary = split_summary(bundle.splits, bundle.groups, d.split, fixed=fixed)
    log.info("%s", "\n".join(format_split_summary(summary)))
    for w in summary["warnings"]:
        log.warning("split: %s", w)
    return summary


def _leakage(bundle) -> dict[str, Any]:
    """Near-identical sequences (<= 4 mismatches, either strand) across the splits, logged and reported.

    Validation near-copies of training rows inflate validation scores; test near-copies are expected in
    variant-heavy benchmarks (e.g. DREAM 2022 SNV pairs) but mean the test score partly measures recall.
    """
    from seq2expr.data.similarity import leakage_report

    rep = leakage_report(bundle.codes, bundle.splits)
    for pair, v in rep["pairs"].items():
        a, b = pair.split("~")
        for ex in v["examples"]:  # row numbers -> the IDs a user can look up
            ex[f"{a}_id"], ex[f"{b}_id"] = str(bundle.ids[ex[a]]), str(bundle.ids[ex[b]])
        if v["near"]:
            first = v["examples"][0] if v["examples"] else None
            eg = f", e.g. {first[f'{a}_id']} ~ {first[f'{b}_id']}" if first else ""
            log.warning("leakage check: %d %s sequences have a near-identical (<= %d mismatches) sequence in %s%s",
                        v["near"], a, rep["max_mismatches"], b, eg)
    return rep


def _scale_note(saved_config: SavedModelConfig) -> str:
    if saved_config.task == "classification":
        return "labels 0/1 vs predicted probabilities"
    spec = saved_config.target_transform
    if spec is None or (spec.kind == "none" and not spec.standardize):
        return "original scale (no target transform)"
    return (f"original scale (as measured); model_scale: the model's scale (target transform "
            f"{json.dumps(spec.to_dict())})")
