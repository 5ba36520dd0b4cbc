"""Evaluation in one place: :func:`evaluate` scores a saved model on labelled sequences, and :func:`score` turns
model outputs and targets into metrics, plots and a predictions table. Training's end-of-run evaluation calls
:func:`score` on its splits, so a trained run and a later ``seq2expr evaluate`` report the same numbers.

Regression is scored on the original measurement scale, the scale of the predictions table (``scale`` says so),
and, when the run transformed its targets (log, z-score), also on the model's scale, labelled, under
``model_scale``; classification scores probabilities against 0/1 labels. A data set that names a scorer
of its own in the registry (e.g. DREAM 2022's challenge score) gets it too.

A readout (:class:`~seq2expr.inference.Readout`, or its text as a command's ``--target``) picks the targets scored
and the strands predicted; every target by default. Its ``mean``/``diff`` transforms are refused: a measured
counterpart (the mean or difference of measured columns) would have to be invented, and on a classification model
it would compare a difference of probabilities with one of 0/1 labels. Its scale is not a choice here: both scales
are reported.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from seq2expr.atomic import atomic_path
from seq2expr.data.errors import DataError
from seq2expr.data.inputs import read_inputs
from seq2expr.data.records import Records
from seq2expr.data.registry import parse_dataset_spec
from seq2expr.evaluation.metrics import evaluate_predictions
from seq2expr.evaluation.plots import plot_predictions
from seq2expr.evaluation.report import write_metrics, write_predictions
from seq2expr.evaluation.scorers import Scorer, scorer_for
from seq2expr.hardware import describe_device
from seq2expr.inference import (
    BoundReadout,
    Readout,
    SavedModel,
    SavedModelConfig,
    as_readout,
    column_options,
    encode_for,
    load_model,
    model_scale_label,
    predict,
    resolve_device,
    resolve_precision,
    scale_label,
    training_overlap,
)
from seq2expr.outputs import check_output, write_marker
from seq2expr.progress import staged, step

log = logging.getLogger(__name__)


def evaluation_readout(readout: Readout | str | None, config: SavedModelConfig) -> BoundReadout:
    """The readout an evaluation scores (every target by default), resolved for ``config``; a transform or the
    model scale is refused with one :class:`DataError` line (see the module docstring)."""
    chosen = as_readout(readout)
    if chosen.transform is not None:
        targets = ",".join(map(str, chosen.targets or ()))
        raise DataError(f"evaluate scores outputs against measured columns, and a {chosen.transform} readout "
                        f"({chosen.transform}:{targets}) has none: name its targets instead "
                        f"({targets or 'none: every target'})")
    if chosen.scale != "original":
        raise DataError("evaluate reports the original and the model's scale both: leave the readout's scale "
                        "'original'")
    return chosen.resolve(config)


def score(config: SavedModelConfig, raw: np.ndarray, y: np.ndarray, *, ids: np.ndarray,
          measured: np.ndarray | None = None, readout: Readout | str | None = None,
          groups: Mapping[str, np.ndarray] | None = None, name: str = "eval", out_dir: str | Path | None = None,
          predictions_file: str | None = "predictions.tsv", n_boot: int = 1000, seed: int = 0,
          scorer: Scorer | None = None) -> tuple[dict[str, Any], dict | None]:
    """Metrics of model outputs ``raw`` (every target on the model scale, strands already read: from
    ``predict(..., readout=Readout(scale="model"))``) against targets; returns ``(metrics, scorer's result or
    None)``.

    ``y``: every target on the model scale (transformed values, or 0/1 labels); ``measured``: the same on the
    original scale (default: ``y`` with the transform inverted); columns of targets not read may be NaN.
    ``readout`` (:func:`evaluation_readout`; default: every target) picks the targets scored, named after them.
    Regression metrics are on the original scale (``scale`` names it), plus ``model_scale`` (``scale``,
    ``overall``[, ``per_target``]) when the run transformed its targets. Metrics are given per value of each group
    column but ``split`` (a row's role, not a grouping). The data set's ``scorer`` runs when every target is
    scored. With ``out_dir``: plots ``{scatter|roc_pr}_{name}*.png`` (axes labelled with the scale) and, unless
    ``predictions_file`` is None, a table ``id, target, prediction`` (measured values and predictions on the
    original scale).
    """
    task, bound = config.task, evaluation_readout(readout, config)
    names, n_all = bound.names(), len(config.target_names)
    cols = list(bound.columns) if bound.columns is not None else list(range(n_all))
    pred = bound.values(raw)  # the original scale, the chosen targets
    on_model = replace(bound.readout, scale="model").resolve(config).values(raw)
    kept = {k: np.asarray(v) for k, v in (groups or {}).items() if k != "split"}
    y = np.asarray(y).reshape(len(raw), n_all)
    if task == "classification":
        y_scored = y[:, cols]
    elif measured is not None:
        y_scored = np.asarray(measured, dtype=np.float64).reshape(len(raw), n_all)[:, cols]
    else:
        spec = config.target_transform
        y_scored = (spec.inverse(y) if spec is not None else y)[:, cols]
    metrics = evaluate_predictions(y_scored, pred, task, groups=kept or None, n_boot=n_boot, target_names=names,
                                   seed=seed)
    metrics["scale"] = scale_label(config) + (" (labels 0/1)" if task == "classification" else "")
    model_label = model_scale_label(config)
    if model_label:
        scored = evaluate_predictions(y[:, cols], on_model, task, n_boot=0, target_names=names, seed=seed)
        metrics["model_scale"] = {"scale": model_label, "overall": scored["overall"],
                                  **({"per_target": scored["per_target"]} if "per_target" in scored else {})}
    extra = scorer(np.asarray(ids), pred) if scorer is not None and cols == list(range(n_all)) else None
    if out_dir is not None:
        plot_predictions(y_scored, pred, task, Path(out_dir), name, names, scale=metrics["scale"])
        if predictions_file:
            shown = y[:, cols] if measured is None else np.asarray(measured).reshape(len(raw), n_all)[:, cols]
            write_predictions(Path(out_dir) / predictions_file, ids, shown, pred, names)
    return metrics, extra


def _seen_in_training(saved: SavedModel, codes: np.ndarray, exclude: bool) -> dict[str, Any]:
    """How many of the sequences to score the model was fitted or selected on (``mask``: which), said in a warning
    unless they are excluded."""
    mask = training_overlap(saved, codes)
    if mask is None:
        return {"recorded": False, "n": 0, "of": len(codes), "excluded": False,
                "note": "the model records no training sequences (a zoo copy, an import, or saved before they were)"}
    n = int(mask.sum())
    if n and not exclude:
        log.warning("%d of %d sequences to score (either strand) are among those the model was trained or validated "
                    "on: scores on them measure recall, not prediction (--exclude-training leaves them out)",
                    n, len(codes))
    return {"recorded": True, "n": n, "of": len(codes), "excluded": bool(exclude and n), "mask": mask}


def model_scale_targets(config: SavedModelConfig, measured: np.ndarray, source: str | None = None) -> np.ndarray:
    """Measured targets on the scale the model was trained on: the saved transform applied, or 0/1 labels
    (the training run's ``label_threshold`` applied when it had one)."""
    y = np.asarray(measured, dtype=np.float64)
    if config.task == "classification":
        threshold = config.data.target.label_threshold
        if threshold is not None:
            return (y > threshold).astype(np.float64)
        finite = y[np.isfinite(y)]
        other = finite[~np.isin(finite, (0.0, 1.0))]
        if other.size:
            how = (" (its labels came from quantiles of its training targets, which other data cannot reproduce)"
                   if config.data.target.label_quantiles else "")
            raise DataError(f"classification targets must be 0/1 labels, but these are continuous (e.g. {other[0]:g}):"
                            f" the model is a classification model{how}; evaluate it on 0/1 labels", source=source)
        return y
    return config.target_transform.apply(y) if config.target_transform is not None else y


def read_labelled(model: SavedModel, data: str | Path | Any, *, values: str | Path | None = None,
                  target_columns: list[str] | None = None, group_columns: list[str] | None = None,
                  id_column: str | None = None, sequence_column: str | None = None,
                  targets: list[str] | None = None) -> Records:
    """Labelled records from a file or a registry data set ``NAME[:SUBSET]``, read with the training run's
    layout by default: its sequence/ID columns and targets, and its group columns that the file has.

    ``targets``: the model's targets to read (default: all); ``target_columns`` name their columns in this table,
    one for each, in order (default: the targets' own names)."""
    from seq2expr.data.io.tables import table_columns

    cfg = model.config
    targets = list(targets or cfg.target_names)
    if target_columns and len(target_columns) != len(targets):
        raise DataError(f"{len(target_columns)} target columns {list(target_columns)} for {len(targets)} targets "
                        f"{targets}: give one --target-column for each")
    if hasattr(data, "columns") and hasattr(data, "iloc"):  # a DataFrame: its columns as a table file's
        return _frame_labelled(model, data, target_columns or targets, group_columns, id_column, sequence_column,
                               targets)

    def file_options(path: Path) -> dict[str, Any]:
        header = set(table_columns(values or path)) if group_columns is None else set()
        return {**column_options(model, sequence_column, id_column)(path), "group_columns": group_columns
                if group_columns is not None else [c for c in cfg.data.group_columns if c in header]}

    records = read_inputs(data, file_options, values=values, target_columns=target_columns or targets)
    if target_columns:  # named differently in this table: scored as the model's targets
        records.target_names = targets
    return records


def _frame_labelled(model: SavedModel, frame, target_columns: list[str], group_columns: list[str] | None,
                    id_column: str | None, sequence_column: str | None, targets: list[str]) -> Records:
    """Labelled records of a DataFrame, read with the training run's column names where the frame has them."""
    from seq2expr.data.io.tables import frame_records

    cfg, header = model.config, set(frame.columns)
    records = frame_records(
        frame, sequence_column=sequence_column or (cfg.data.sequence_column if cfg.data.sequence_column in header
                                                   else "sequence"),
        id_column=id_column or (cfg.data.id_column if cfg.data.id_column in header else
                                next((c for c in ("id", "ID") if c in header), None)),
        target_columns=target_columns,
        group_columns=[c for c in cfg.data.group_columns if c in header] if group_columns is None else group_columns)
    records.target_names = targets  # named differently in this frame: scored as the model's targets
    return records


def _measured(records: Records, config: SavedModelConfig, bound: BoundReadout) -> np.ndarray:
    """The measured values of the readout's targets, in their columns of every target's ``(N, T)`` (NaN in the
    others: :func:`score` reads the chosen ones); a target ``records`` lacks is one :class:`DataError` line."""
    names = bound.names()
    missing = [n for n in names if n not in records.target_names]
    if missing:
        raise DataError(f"target columns {records.target_names} lack the model's {missing}; pass --target-column for "
                        "each", source=records.source)
    columns = list(bound.columns) if bound.columns is not None else list(range(len(config.target_names)))
    full = np.full((len(records), len(config.target_names)), np.nan)
    full[:, columns] = np.asarray(records.targets)[:, [list(records.target_names).index(n) for n in names]]
    return full


def model_notes(config: SavedModelConfig) -> dict[str, Any]:
    """What a result should say about its model: ``model_truncated`` (one line) when a time limit cut its training
    (:meth:`~seq2expr.inference.FitRecord.truncation_note`), ``model_card`` (name, version, licence, citation)
    for a zoo model, and ``model_lineage`` for a fine-tuned one (its parent and how it was fine-tuned)."""
    note = config.fit.truncation_note() if config.fit is not None else None
    notes: dict[str, Any] = {"model_truncated": note} if note else {}
    if config.card is not None:
        notes["model_card"] = config.card.brief()
    if config.lineage is not None:
        notes["model_lineage"] = config.lineage.model_dump(mode="json")
    return notes


@staged(3, "evaluate")  # encode, predict, score (metrics, bootstrap CI, plots)
def evaluate(model: SavedModel | str | Path, data: Records | str | Path | Any, *, out_dir: str | Path | None = None,
             name: str | None = None, n_boot: int = 1000, batch_size: int = 512, device: str | None = None,
             seed: int = 0, precision: str | None = None, force: bool = False, exclude_training: bool = False,
             readout: Readout | str | None = None, values: str | Path | None = None,
             target_columns: list[str] | None = None, group_columns: list[str] | None = None,
             id_column: str | None = None, sequence_column: str | None = None) -> dict[str, Any]:
    """Predict labelled sequences with a saved model and score them against their targets.

    ``readout`` (a :class:`~seq2expr.inference.Readout`, or its text as ``predict``'s ``--target``: ``NAME``,
    ``A,B``) picks the targets scored and the strands predicted (default: every target, strands as trained); only
    its targets' columns are read and scored, and the results are named after them. A ``mean``/``diff`` readout
    is refused (:func:`evaluation_readout`).

    ``data``: :class:`~seq2expr.data.records.Records`, a pandas DataFrame (columns as in a table file), a table/FASTA
    path (read with ``values``, ``target_columns``, ``group_columns``, ``id_column``, ``sequence_column``: see
    :func:`read_labelled`) or a registry data set ``NAME[:SUBSET]``. ``name`` labels the result (default: the
    subset's name, else ``eval``).
    Returns ``{"source", "n", "target_names" (those scored), name: metrics[, "challenge": the data set's own
    scores]}``; with ``out_dir`` also writes ``metrics.json``, plots and ``predictions.tsv`` there. ``device``,
    ``precision``: as in :func:`~seq2expr.inference.predict`. ``out_dir`` must be a new (or empty) folder, or with
    ``force`` a previous ``evaluate`` output, and may not hold or lie inside an input
    (:func:`seq2expr.outputs.check_output`).

    Sequences the model was fitted or selected on (either strand; :func:`~seq2expr.inference.training_overlap`, for
    models that recorded them) are counted in ``seen_in_training`` and a warning: scores on them measure recall, not
    prediction. ``exclude_training`` leaves them out of the scores.
    """
    frame = hasattr(data, "columns") and hasattr(data, "iloc")  # a pandas DataFrame
    if not (frame or isinstance(data, Records | str | PathLike)):
        raise TypeError(f"evaluate takes a table/FASTA path, a registry data set NAME[:SUBSET], a pandas DataFrame "
                        f"(columns as in a table file) or Records, not {type(data).__name__}")
    if out_dir is not None:
        check_output(out_dir, [model, None if frame else data, values], command="evaluate", folder=True, force=force)
    saved = load_model(model)
    cfg = saved.config
    bound = evaluation_readout(readout, cfg)
    names = bound.names()
    records = data if isinstance(data, Records) else read_labelled(
        saved, data, targets=names, values=values, target_columns=target_columns, group_columns=group_columns,
        id_column=id_column, sequence_column=sequence_column)
    if name is None:
        spec = None if isinstance(data, Records) or frame else parse_dataset_spec(data)
        name = (spec.partition(":")[2] if spec else "") or "eval"
    _measured(records, cfg, bound)  # a missing target column before anything is predicted
    codes = encode_for(saved, records.sequences, ids=records.labels(), source=records.source)
    seen = _seen_in_training(saved, codes, exclude_training)
    if exclude_training and seen["n"]:
        keep = ~seen.pop("mask")
        records, codes = records.subset(np.flatnonzero(keep)), codes[keep]
    seen.pop("mask", None)
    step()
    dev = resolve_device(device, saved.model)
    used = resolve_precision(precision, dev)
    # every target on the model scale, strands as the readout says: score() reads the chosen ones
    raw = predict(saved, codes, readout=replace(bound.readout, targets=None, scale="model"), batch_size=batch_size,
                  device=dev, precision=used)
    step()
    measured = _measured(records, cfg, bound)
    y = model_scale_targets(cfg, measured, records.source)
    # the outputs (plots, predictions, metrics) appear in out_dir together, or not at all
    with atomic_path(out_dir, is_dir=True) if out_dir is not None else nullcontext(None) as stage:
        if stage is not None:
            write_marker(stage, "evaluate")
        metrics, extra = score(cfg, raw, y, ids=records.ids, measured=measured, readout=bound.readout,
                               groups=records.groups, name=name, out_dir=stage, n_boot=n_boot, seed=seed,
                               scorer=scorer_for(records.dataset))
        report: dict[str, Any] = {"source": records.source, "n": len(records), "target_names": names,
                                  "precision": used, "machine": describe_device(dev), "seen_in_training": seen,
                                  **model_notes(cfg), name: metrics}
        if extra is not None:
            report["challenge"] = extra
        if stage is not None:
            write_metrics(stage / "metrics.json", report)
    return report
