"""The run orchestrator, ``train(cfg)``: prepare the data, plan the members, train them (one process, shards or one
process per device) with :func:`~seq2expr.training.member.fit_member`, then assemble, evaluate and export.

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

The member trainer (:mod:`seq2expr.training.member`) trains one model in its folder and knows nothing of this
module; the assembly, evaluation and export are :mod:`seq2expr.training.assemble`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seq2expr.atomic import LOCK_FILE, FolderBusy, clear_debris, folder_lock, lock_is_held, write_text
from seq2expr.config import RunConfig, dump_config, load_config
from seq2expr.data.errors import DataError
from seq2expr.inference import Shard
from seq2expr.outputs import check_run_folder, read_marker, write_marker
from seq2expr.training.assemble import check_leakage, describe_splits, export_run
from seq2expr.training.member import FINISHED, RUN_STATE, fit_member, is_global_zero
from seq2expr.training.transfer import Parent, Transfer, adapt, resolve_parent

log = logging.getLogger(__name__)


def train(cfg: RunConfig | str | Path, *, overrides: Sequence[str] = (), resume: bool = True, progress: bool = True,
          callbacks: Sequence[Any] = (), shard: str | Shard | None = None,
          member_devices: str | int | Sequence[str] | None = None, init: str | Path | None = None,
          force: bool = False) -> Path | None:
    """Train as configured and return the exported model folder (``output_dir/model``).

    ``cfg``: a :class:`~seq2expr.config.RunConfig`, or a YAML file / shipped config name with ``overrides``
    (``key.sub=value``). ``init`` (``zoo:NAME`` or a model folder; the same as ``train.init``) fine-tunes that model
    instead of starting from random weights (:mod:`seq2expr.training.transfer`). ``callbacks`` are extra Lightning
    callbacks (e.g. for tests or custom logging). With
    ``resume`` a run killed part-way continues from its last checkpoint; the same seed gives the same weights on
    CPU. Two runs into one ``output_dir`` at once are refused (:func:`seq2expr.atomic.folder_lock`). A folder that
    holds a run (checkpoints or a model) trained with other settings is refused, naming them
    (:func:`check_same_run`); ``force`` trains again from scratch, removing that run's outputs first. A run that
    stops on a data or config error leaves an existing folder's ``config.yaml`` as it was.

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
    if init is not None:
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"init": str(init)})})
    cfg, parent = resolve_parent(cfg)  # fine-tuning: the parent's architecture, policy and strands
    part = _check_parallel(cfg, shard, member_devices)  # before anything is written
    check_run(cfg, [*inputs, *([parent.saved.path] if parent is not None else [])])
    out = Path(cfg.output_dir)
    new = not out.exists()
    made = _first_missing(out)  # the top folder this call creates (runs/ of runs/default), removed on an error
    if force and part is not None and part.count > 1:
        raise ValueError("--force with --shard: start the run over once (seq2expr train CONFIG --force), then start "
                         "the shards")
    before = _run_config_bytes(out)  # a run that fails leaves the folder's config as it was
    try:
        if member_devices is not None:
            return _train_on_devices(cfg, parent, member_devices, resume=resume, callbacks=callbacks, force=force)
        if part is not None and part.count > 1:
            return _train_shard(cfg, part, parent, resume=resume, progress=progress, callbacks=callbacks)
        # a second run into the same folder is refused; the other processes of a DDP run (started by Lightning with
        # this same command) train with rank 0, which holds the lock and writes every file
        with folder_lock(cfg.output_dir, "train run") if is_global_zero() else nullcontext():
            return _complete(cfg, parent, resume=resume, progress=progress, callbacks=callbacks, force=force)
    except ValueError:  # a data or config error (DataError, FileError...): a folder this call made goes again
        if new and is_global_zero():
            _discard_unstarted(out, made)
        elif is_global_zero():
            _put_back(out, before)
        raise
    finally:
        if is_global_zero() and (out / PREVIOUS_RUN).is_dir() and (out / "model").is_dir():
            shutil.rmtree(out / PREVIOUS_RUN, ignore_errors=True)  # the new run ended: the old one goes


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
    if not d.path and not d.dataset:
        raise DataError("no data: set data.path (a table or FASTA) or data.dataset (a registry name)",
                        source=cfg.source)
    read = [*inputs, d.path, d.values, d.valid_path, d.test_path, *(d.split.ids_files or {}).values()]
    check_run_folder(cfg.output_dir, read, command="train", owns=lambda name: bool(RUN_NAMES.match(name)),
                     legacy=_legacy_run)


# settings that change where and how fast a run trains, not what it trains: a re-run may change them
NEUTRAL_SETTINGS = ("output_dir", "data.cache_dir", "train.threads", "train.num_workers", "train.accelerator",
                    "train.devices", "train.strategy", "train.num_nodes", "train.max_time_minutes", "tune.")


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _trained_before(out: Path) -> bool:
    """Whether ``out`` holds a run's results or checkpoints (what a config must agree with)."""
    return (out / "model").is_dir() or any(out.glob("checkpoints/*.ckpt")) or any(out.glob("*/checkpoints/*.ckpt"))


def config_changes(cfg: RunConfig) -> list[str]:
    """The settings (``key: before -> now``) in which ``cfg`` differs from the run recorded in its output folder's
    ``config.yaml``, leaving out those that do not change what is trained (:data:`NEUTRAL_SETTINGS`)."""
    path = Path(cfg.output_dir) / "config.yaml"
    if not path.is_file():
        return []
    try:
        before = _flat(load_config(path).model_dump(mode="json"))  # defaults of keys added since filled in
    except ValueError as err:
        return [f"config.yaml no longer reads ({' '.join(str(err).split())[:200]})"]
    now = _flat(cfg.model_dump(mode="json"))
    keys = sorted(k for k in set(before) | set(now) if not k.startswith(NEUTRAL_SETTINGS))
    return [f"{k}: {before.get(k, '-')!r} -> {now.get(k, '-')!r}" for k in keys if before.get(k) != now.get(k)]


def check_same_run(cfg: RunConfig, force: bool = False) -> None:
    """Refuse to resume or reload a run whose folder holds checkpoints or a model trained with other settings: its
    model, metrics and config would otherwise describe a run that never happened. ``force``: remove that run's
    outputs instead (the caller holds the folder's lock), so that it trains again from scratch. Called once the
    data are read and the config is final (fine-tuning adapts it to the data), before anything is written."""
    out = Path(cfg.output_dir)
    if not _trained_before(out):
        return
    if force:  # set aside, not removed: a run that fails puts them back (train(): _put_back)
        aside = out / PREVIOUS_RUN
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir()
        for entry in _run_entries(out):
            entry.rename(aside / entry.name)
        log.info("%s: the previous run's outputs set aside (--force); they are removed when this run ends", out)
        return
    changes = config_changes(cfg)
    if changes:
        shown = "; ".join(changes[:6]) + (f"; and {len(changes) - 6} more" if len(changes) > 6 else "")
        raise ValueError(f"{out}: holds a run trained with other settings ({shown}); the same config resumes or "
                         "reloads it, --force trains again from scratch (its model, checkpoints and metrics replaced), "
                         "or choose another output_dir")


PREVIOUS_RUN = ".previous-run"  # the outputs a --force run replaces, kept until it ends


def _run_entries(out: Path) -> list[Path]:
    return [e for e in out.iterdir() if RUN_NAMES.match(e.name)] if out.is_dir() else []


def _put_back(out: Path, before: bytes | None) -> None:
    """After a failed call into an existing folder: the outputs a ``--force`` run set aside back in place of what it
    wrote, or the config as it was."""
    aside = out / PREVIOUS_RUN
    if aside.is_dir():
        for entry in _run_entries(out):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        for entry in aside.iterdir():
            entry.rename(out / entry.name)
        aside.rmdir()
    elif before is not None and _run_config_bytes(out) != before:
        write_text(out / "config.yaml", before.decode())


def _run_config_bytes(out: Path) -> bytes | None:
    try:
        return (out / "config.yaml").read_bytes()
    except OSError:
        return None


def _first_missing(out: Path) -> Path | None:
    """The outermost folder of ``out`` (``out`` itself or a parent) that does not exist yet, or None."""
    missing = None
    for p in (out, *out.parents):
        if p.exists():
            break
        missing = p
    return missing


def _discard_unstarted(out: Path, made: Path | None = None) -> None:
    """Remove the output folder a failed call created, unless a checkpoint was written or another process (a shard)
    holds a lock in it, and the parents it created (``made``: the outermost) if they are left empty: a run that stops
    on a data or config error leaves nothing behind."""
    if not out.is_dir() or any(out.rglob("*.ckpt")) or any(lock_is_held(p) for p in out.rglob(LOCK_FILE)):
        return
    shutil.rmtree(out, ignore_errors=True)
    if made is None or made == out:
        return
    for p in out.parents:
        try:
            p.rmdir()  # only an empty folder goes
        except OSError:
            return
        if p == made:
            return


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


def _prepare(cfg: RunConfig, parent: Parent | None) -> tuple[RunConfig, Any, Transfer | None]:
    """The data prepared, and with a parent the run adapted to them (:func:`~seq2expr.training.transfer.adapt`):
    the config, the data bundle and the fine-tuning plan."""
    from seq2expr.data.prepare import prepare_data

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.task == "classification" and cfg.train.loss != "bce":
        raise ValueError("train.task=classification needs train.loss=bce")
    return adapt(cfg, prepare_data(cfg.data, cfg.train.task), parent)


def _train_shard(cfg: RunConfig, part: Shard, parent: Parent | None, *, resume: bool, progress: bool,
                 callbacks: Sequence[Any], assemble: bool = True) -> Path | None:
    """Train members ``part.index``, ``+ part.count``... of the plan, each under its own folder lock; then assemble
    the ensemble if every member has finished (and ``assemble``). Returns the model folder, or None."""
    out = Path(cfg.output_dir)
    zero = is_global_zero()
    mine = list(enumerate(_member_plan(cfg)))[part.index::part.count]
    transfer = bundle = None
    if mine:  # the data checked before anything is written
        cfg, bundle, transfer = _prepare(cfg, parent)
        check_same_run(cfg)
    if zero:
        with ExitStack() as stack:  # config.yaml, unless another process holds the folder (it writes it)
            try:
                stack.enter_context(folder_lock(out, "train run"))
            except FolderBusy:
                pass
            else:
                _write_run_config(out, cfg)
    if not mine:
        log.warning("shard %d/%d: no members to train (the ensemble has %d)", part.index, part.count,
                    len(_member_plan(cfg)))
    else:
        for i, (seed, fold, run_dir) in mine:
            with _member_lock(cfg, run_dir):
                fit_member(cfg, bundle if fold is None else bundle.with_fold(fold), seed, run_dir, resume=resume,
                           progress=progress, callbacks=callbacks,
                           init=transfer.member(i) if transfer is not None else None)
    if not zero or not assemble:
        return None
    return _assemble_if_complete(cfg, parent, callbacks)


def _assemble_if_complete(cfg: RunConfig, parent: Parent | None, callbacks: Sequence[Any]) -> Path | None:
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
        return _complete(cfg, parent, resume=True, progress=False, callbacks=callbacks)  # loads the finished members


def _assembled_digest(out: Path) -> str | None:
    try:
        return json.loads((out / "metrics.json").read_text()).get("members_digest")
    except (OSError, ValueError, AttributeError):
        return None


def _train_on_devices(cfg: RunConfig, parent: Parent | None, devices: str | int | Sequence[str], *, resume: bool,
                      callbacks: Sequence[Any], force: bool = False) -> Path:
    """Shard k of N trained on the k-th of N devices, one spawned process each, then the assembly here."""
    from seq2expr.training.parallel import ONE_DEVICE, placements, run_placed

    where = placements(devices, cfg.train.threads)
    n = len(where)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update=ONE_DEVICE)})  # each member on one device
    with folder_lock(cfg.output_dir, "train run"):
        out = Path(cfg.output_dir)
        # the encoded-sequence cache, built once before the processes read it (and the data checked)
        written, _, _ = _prepare(cfg, parent)
        check_same_run(written, force)
        _write_run_config(out, written)
        run_placed(_train_part, [(p, (p.apply(cfg), f"{k}/{n}", resume, list(callbacks)))
                                 for k, p in enumerate(where)])
        return _complete(cfg, parent, resume=True, progress=False, callbacks=callbacks)


def _train_part(cfg: RunConfig, part: str, resume: bool, callbacks: list[Any]) -> None:
    """One process of :func:`_train_on_devices` (module level, so a spawned process can run it)."""
    cfg, parent = resolve_parent(cfg)
    _train_shard(cfg, Shard.parse(part), parent, resume=resume, progress=False, callbacks=callbacks, assemble=False)


def _complete(cfg: RunConfig, parent: Parent | None, *, resume: bool, progress: bool,
              callbacks: Sequence[Any], force: bool = False) -> Path:
    """The run in this process, to its end: the data prepared, every member of the plan trained (or loaded, when it
    finished before: all of them, when the shards or device processes trained them), then on rank zero the model
    assembled, evaluated and exported (:func:`~seq2expr.training.assemble.export_run`). Returns the model folder."""
    out = Path(cfg.output_dir)
    zero = is_global_zero()  # other DDP processes re-run this function to train with rank 0, writing nothing
    cfg, bundle, transfer = _prepare(cfg, parent)  # the data checked before anything is written
    if zero:
        check_same_run(cfg, force)
        _write_run_config(out, cfg)
    split_summary = describe_splits(cfg, bundle) if zero else {}
    leakage = check_leakage(bundle) if zero else {}
    members, infos, out_of_fold = _fit_members(cfg, bundle, transfer, resume=resume, progress=progress,
                                               callbacks=callbacks)
    if not is_global_zero():
        return out / "model"
    ensemble = len(members) > 1 or _is_ensemble(cfg)
    return export_run(cfg, bundle, members, infos, out_of_fold, ensemble=ensemble,
                      member_dirs=[d for _, _, d in _member_plan(cfg)], split_summary=split_summary,
                      leakage=leakage, members_digest=_members_digest(cfg) if ensemble else None,
                      lineage=transfer.lineage(cfg, bundle, members[0]) if transfer is not None else None)


def _fit_members(cfg: RunConfig, bundle, transfer: Transfer | None, *, resume: bool, progress: bool,
                 callbacks: Sequence[Any]
                 ) -> tuple[list[nn.Module], list[dict[str, Any]], list[tuple[nn.Module, np.ndarray]]]:
    """Every member of the plan, each under its folder lock: (models, records, (member, validation rows) of a
    cross-validation ensemble's members)."""
    members, infos, out_of_fold = [], [], []
    for i, (seed, fold, run_dir) in enumerate(_member_plan(cfg)):
        member_data = bundle if fold is None else bundle.with_fold(fold)
        with _member_lock(cfg, run_dir):
            model, info = fit_member(cfg, member_data, seed, run_dir, resume=resume, progress=progress,
                                     callbacks=callbacks, init=transfer.member(i) if transfer is not None else None)
        members.append(model)
        infos.append(info if fold is None else {**info, "fold": fold})
        if fold is not None:
            out_of_fold.append((model, member_data.splits["valid"]))
    return members, infos, out_of_fold


def _member_plan(cfg: RunConfig) -> list[tuple[int, int | None, Path]]:
    """(seed, validation fold or None, run folder) of every model to train."""
    t, out = cfg.train, Path(cfg.output_dir)
    if t.ensemble_folds:
        return [(t.seed + f, f, out / f"fold_{f}") for f in t.ensemble_folds]
    if t.ensemble_seeds:
        return [(s, None, out / f"seed_{s}") for s in t.ensemble_seeds]
    return [(t.seed, None, out)]

