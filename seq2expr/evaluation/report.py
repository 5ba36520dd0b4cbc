"""Result files of a training or evaluation run: ``metrics.json`` (strict JSON) and the predictions table,
written atomically."""

from __future__ import annotations

import csv
import json
import math
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
