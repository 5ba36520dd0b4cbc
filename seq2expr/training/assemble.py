"""The end of a run: the trained members assembled into the saved model, evaluated, exported and reported.

:func:`export_run` is the last step of :mod:`seq2expr.training.run`: the members (one model, or an ensemble averaged
by :class:`~seq2expr.models.EnsembleAverage`) are evaluated on the valid and test splits through
:func:`seq2expr.evaluation.score` (the path ``seq2expr evaluate`` takes; out-of-fold for a cross-validation
ensemble), saved to ``output_dir/model`` (safetensors + JSON, with their :class:`~seq2expr.inference.FitRecord`)
and reported in ``metrics.json``. The split summary and the leakage check, logged before training starts, are
made here too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seq2expr.config import RunConfig
from seq2expr.hardware import describe_device
from seq2expr.inference import (
    FitRecord,
    Lineage,
    ModelSpec,
    Readout,
    SavedModel,
    SavedModelConfig,
    check_precision,
    predict,
    save_model,
    training_precision,
)
from seq2expr.models import EnsembleAverage

log = logging.getLogger(__name__)


def export_run(cfg: RunConfig, bundle, members: list[nn.Module], infos: list[dict[str, Any]],
               out_of_fold: list[tuple[nn.Module, np.ndarray]], *, ensemble: bool, member_dirs: Sequence[Path],
               split_summary: dict[str, Any], leakage: dict[str, Any], members_digest: str | None,
               lineage: Lineage | None = None) -> Path:
    """Assemble, evaluate and save the trained ``members`` (their records ``infos``) and write ``metrics.json``;
    returns the model folder. ``ensemble``: save them as an ensemble (and write every member's curve, from
    ``member_dirs``, into the run folder); ``members_digest`` is recorded for a later shard's check; ``lineage``: a
    fine-tuned model's parent and how it was fine-tuned (saved with the model, reported in ``metrics.json``)."""
    from seq2expr.evaluation import model_notes, write_metrics
    from seq2expr.training.curve import write_ensemble_curve
    from seq2expr.training.module import monitor_metric

    out, t = Path(cfg.output_dir), cfg.train
    if ensemble:  # every member's curve in the run folder too
        write_ensemble_curve(out, {d.name: d for d in member_dirs}, monitor_metric(t.task))
    model = EnsembleAverage(members).eval() if ensemble else members[0]

    fit = fit_record(cfg, infos)
    saved_config = SavedModelConfig(
        model=ModelSpec(name=cfg.model.name, params=cfg.model.params, seq_len=int(bundle.seq_len),
                        n_targets=len(bundle.target_names), positions=cfg.model.positions),
        data=cfg.data, train=t.model_copy(update={"precision": fit.precision}), target_names=list(bundle.target_names),
        target_transform=bundle.transform if t.task == "regression" else None, data_hash=bundle.data_hash,
        windows=bundle.windows, interpret=cfg.interpret, fit=fit, lineage=lineage)
    results = evaluate_splits(SavedModel(model, saved_config), bundle, cfg, out, out_of_fold=out_of_fold or None)
    saved_config.metrics = {s: results[s]["overall"] for s in ("valid", "test") if s in results}
    model_dir = save_model(out / "model", members if ensemble else model, saved_config,
                           trained_on=_fitted_on(bundle))
    n = {k: int(len(v)) for k, v in bundle.splits.items()}
    if out_of_fold:
        n["valid"] = int(sum(len(rows) for _, rows in out_of_fold))  # out-of-fold rows
    report = {"output_dir": str(out), "model_dir": str(model_dir), "task": t.task,
              "target_names": list(bundle.target_names), "target_scale": scale_note(saved_config),
              "n": n, "valid_is_out_of_fold": bool(out_of_fold), "split_summary": split_summary, "leakage": leakage,
              "fit": infos, "threads": torch.get_num_threads(), "precision": {"requested": t.precision,
                                                                              "resolved": fit.precision},
              "machine": fit.machine, "truncated": fit.truncated, **model_notes(saved_config), **results}
    if ensemble:
        report["members_digest"] = members_digest  # what a shard checks before assembling again
    write_metrics(out / "metrics.json", report)
    return model_dir


def _fitted_on(bundle) -> np.ndarray:
    """Hashes of every sequence the weights were fitted or selected on (all rows but the test split's), for
    ``evaluate``'s check of sequences the model has seen (:func:`seq2expr.inference.training_overlap`)."""
    from seq2expr.data.dataset import Rows
    from seq2expr.data.sequences import sequence_hashes

    test = np.asarray(bundle.splits.get("test", []), dtype=np.int64)
    rows = np.setdiff1d(np.arange(len(bundle.codes)), test)
    return sequence_hashes(Rows(bundle.codes, rows)) if len(rows) else np.zeros(0, dtype=np.int64)


def evaluate_splits(saved: SavedModel, bundle, cfg: RunConfig, out_dir: Path, n_boot: int = 1000,
                    out_of_fold: Sequence[tuple[nn.Module, np.ndarray]] | None = None,
                    readout: Readout | str | None = None) -> dict[str, Any]:
    """Metrics and plots of the valid and test splits, a predictions table for test (through
    :func:`seq2expr.evaluation.score`), and the data set's own scores of the test predictions when it has a scorer.

    ``out_of_fold`` (member, validation rows) pairs replace the valid split: each member predicts the rows
    it was validated on (the out-of-fold estimate of a cross-validation ensemble). ``readout`` (default: every
    target, strands as trained) picks the targets scored, as :func:`seq2expr.evaluation.evaluate`'s does.
    """
    from seq2expr.data.dataset import Rows
    from seq2expr.evaluation import evaluation_readout, score, scorer_for

    bs = max(cfg.train.batch_size, 256)
    fit = saved.config.fit
    # at the precision the members were trained at (auto when they differ)
    precision = check_precision(fit.precision) if fit is not None and "," not in fit.precision else "auto"

    chosen = evaluation_readout(readout, saved.config).readout
    every = replace(chosen, targets=None, scale="model")  # every target on the model scale: score() picks

    def model_scale(model: SavedModel, rows: np.ndarray) -> np.ndarray:  # the memmap is read a batch at a time
        return predict(model, Rows(bundle.codes, rows), readout=every, batch_size=bs, device="auto",
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
            measured=np.asarray(bundle.raw_targets[idx], dtype=np.float32), readout=chosen,
            groups={k: np.asarray(v)[idx] for k, v in (bundle.groups or {}).items()}, name=split, out_dir=out_dir,
            predictions_file="predictions_test.tsv" if test else None, n_boot=n_boot, seed=cfg.train.seed,
            scorer=scorer_for(cfg.data.dataset) if test else None)
        if extra is not None:
            results["challenge"] = extra
    return results

def fit_record(cfg: RunConfig, infos: list[dict[str, Any]]) -> FitRecord:
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


def describe_splits(cfg: RunConfig, bundle) -> dict[str, Any]:
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


def check_leakage(bundle) -> dict[str, Any]:
    """Near-identical sequences (<= 4 mismatches, either strand) across the splits, logged and reported; with
    genomic coordinates, also test rows whose tile overlaps a train/valid tile (``"coordinates"``).

    Validation near-copies of training rows inflate validation scores; test near-copies are expected in
    variant-heavy benchmarks (e.g. DREAM 2022 SNV pairs) but mean the test score partly measures recall.
    """
    from seq2expr.data.similarity import leakage_report

    rep = leakage_report(bundle.codes, bundle.splits)
    tiles = getattr(bundle, "tiles", None)
    if tiles is not None:  # genomic tiles: count overlaps whatever split method made the splits
        from seq2expr.data.coordinates import overlap_report

        rep["coordinates"] = cov = overlap_report(tiles, bundle.splits)
        for ex in cov["examples"]:
            ex["test_id"] = str(bundle.ids[ex["test"]])
        if cov["test_overlapping"]:
            lo, hi = cov["test_overlap_bp"]
            log.warning("leakage check: %d of %d test rows overlap a train/valid row by %d-%d bp (columns %s); "
                        "split.method: coordinates keeps overlapping tiles in one split", cov["test_overlapping"],
                        cov["test_rows"], lo, hi, "/".join(cov["columns"]))
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


def scale_note(saved_config: SavedModelConfig) -> str:
    if saved_config.task == "classification":
        return "labels 0/1 vs predicted probabilities"
    spec = saved_config.target_transform
    if spec is None or (spec.kind == "none" and not spec.standardize):
        return "original scale (no target transform)"
    return (f"original scale (as measured); model_scale: the model's scale (target transform "
            f"{json.dumps(spec.to_dict())})")
