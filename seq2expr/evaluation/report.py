"""``metrics.json``: the machine-readable result of a training or evaluation run, written atomically."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seq2expr.atomic import atomic_path, write_json


def _finite(obj: Any) -> Any:
    """Replace NaN/inf by None (strict JSON has no NaN) and numpy scalars/arrays by Python values."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return _finite(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_metrics(path: str | Path, metrics: dict[str, Any]) -> Path:
    """Write ``metrics`` as strict JSON (NaN -> null) atomically; returns the path."""
    write_json(path, _finite(metrics))
    return Path(path)


def read_metrics(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def write_predictions(path: str | Path, ids, y_raw, pred, names: list[str]) -> None:
    """TSV ``id, target, prediction`` (one target) or ``id, <name>_target, <name>_prediction ...``."""
    if len(names) == 1:
        header = ["id", "target", "prediction"]
    else:
        header = ["id", *[c for n in names for c in (f"{n}_target", f"{n}_prediction")]]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        for i, yt, pr in zip(ids, y_raw, pred, strict=True):
            w.writerow([i, *[f"{v:.6g}" for pair in zip(yt, pr, strict=True) for v in pair]])


def evaluate_records(saved, records, out_dir: str | Path | None = None, *, n_boot: int = 1000, batch_size: int = 512,
                     device: str = "cpu", name: str = "eval",
                     extra_scores: Callable[[Any], dict | None] | None = None) -> dict[str, Any]:
    """Predict ``records`` with a saved model and score them against their targets.

    Regression is scored on the model's target scale (measured values go through the saved transform,
    as during training, so numbers are comparable with the training report); classification scores
    probabilities against 0/1 labels (``data.target.label_threshold`` from training is applied when set).
    ``extra_scores(predictions)`` (original scale, ``(N, T)``) may add e.g. a challenge score under
    ``"challenge"``. With ``out_dir``: writes ``metrics.json``, plots and ``predictions.tsv`` there.
    """
    import numpy as np

    from seq2expr.data.errors import DataError
    from seq2expr.evaluation.metrics import evaluate_predictions
    from seq2expr.training.predict import encode_for, predict_codes, to_output_scale

    cfg = saved.config
    task, names = cfg.get("task", "regression"), list(cfg.get("target_names") or [])
    if list(records.target_names) != names:
        raise DataError(f"target columns {records.target_names} differ from the model's {names}; "
                        "pass --target-column for each", source=records.source)
    codes = encode_for(saved, records.sequences, ids=records.labels(), source=records.source)
    raw = predict_codes(saved, codes, batch_size=batch_size, device=device, output_scale=False)
    y = np.asarray(records.targets, dtype=np.float64)
    if task == "classification":
        threshold = ((cfg.get("data") or {}).get("target") or {}).get("label_threshold")
        if threshold is not None:
            y = (y > threshold).astype(np.float64)
        elif not np.isin(y[np.isfinite(y)], (0.0, 1.0)).all():
            raise DataError("classification targets must be 0/1 labels", source=records.source)
        p = 1.0 / (1.0 + np.exp(-raw.astype(np.float64)))
    else:
        p = raw
        if cfg.get("target_transform"):
            from seq2expr.data.targets import TargetTransform

            y = TargetTransform.from_dict(cfg["target_transform"]).apply(y)
    groups = {k: v for k, v in records.groups.items() if len(np.unique(np.asarray(v).astype(str))) > 1}
    result = evaluate_predictions(y, p, task, groups=groups or None, n_boot=n_boot, target_names=names)
    report = {"source": records.source, "n": len(records), "target_names": names, name: result}
    pred = to_output_scale(raw, cfg)
    extra = extra_scores(pred) if extra_scores is not None else None
    if extra is not None:
        report["challenge"] = extra
    if out_dir is not None:
        from seq2expr.evaluation.plots import plot_predictions

        out = Path(out_dir)
        plot_predictions(y, p, task, out, name, names)
        write_predictions(out / "predictions.tsv", records.ids, np.asarray(records.targets),
                          pred, names)
        write_metrics(out / "metrics.json", report)
    return report
