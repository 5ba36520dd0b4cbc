"""Prediction with a plain ``nn.Module`` or a saved model folder; never imports Lightning.

* :func:`predict` runs a model over uint8 codes or one-hot arrays in batches and returns raw outputs
  (the model's target scale; logits for classification), optionally averaged with the reverse complement.
* :func:`predict_saved` takes sequences, applies the saved policy, and returns values on the original
  measurement scale (inverse target transform) or probabilities (classification).
* :func:`predict_file` streams any size of input file in chunks into a TSV written atomically.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seq2expr.atomic import atomic_path
from seq2expr.data.sequences import one_hot, reverse_complement_onehot
from seq2expr.models.saved import SavedModel, load_model


def rc_forward(model: nn.Module, x: torch.Tensor, rc_average: bool) -> torch.Tensor:
    """Model output for a one-hot batch; with ``rc_average`` the mean of forward and reverse-complement outputs.

    Outputs are averaged before any sigmoid (logits for classification): one rule for training-time
    validation and prediction, so reported metrics match what ``predict`` returns.
    """
    out = model(x)
    if rc_average:
        out = (out + model(reverse_complement_onehot(x))) / 2
    return out


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.inference_mode()
def predict(model: nn.Module, codes_or_onehot: np.ndarray | torch.Tensor, *, batch_size: int = 512,
            rc_average: bool = True, n_value: float = 0.0, device: str | torch.device | None = "cpu") -> np.ndarray:
    """Raw model outputs ``(N, n_targets)`` float32 for ``(N, L)`` uint8 codes or a ``(N, 4, L)`` one-hot array.

    Runs in eval mode under ``torch.inference_mode`` and puts the model back in its previous mode and device.
    Per batch: one vectorised one-hot of the codes, one forward (two with ``rc_average``); no per-sequence work.
    """
    data = codes_or_onehot
    is_codes = data.ndim == 2
    if not is_codes and (data.ndim != 3 or data.shape[1] != 4):
        raise ValueError(f"expected (N, L) codes or (N, 4, L) one-hot, got shape {tuple(data.shape)}")
    dev = _resolve_device(device)
    was_training = model.training
    params = list(model.parameters())
    old_dev = params[0].device if params else dev
    model.eval().to(dev)
    outs = []
    try:
        for start in range(0, len(data), batch_size):
            chunk = data[start : start + batch_size]
            if is_codes:
                x = one_hot(np.asarray(chunk, dtype=np.uint8), n_value)
            else:
                x = torch.as_tensor(np.asarray(chunk) if not torch.is_tensor(chunk) else chunk, dtype=torch.float32)
            outs.append(rc_forward(model, x.to(dev), rc_average).float().cpu())
    finally:
        model.train(was_training).to(old_dev)
    if not outs:
        n_out = int(getattr(model, "n_targets", 1))
        return np.zeros((0, n_out), dtype=np.float32)
    out = torch.cat(outs).numpy().astype(np.float32)
    return out[:, None] if out.ndim == 1 else out


def saved_rc_average(config: dict[str, Any]) -> bool:
    """The ``rc_average`` a saved model was trained and evaluated with (default True)."""
    train = config.get("train") or {}
    return bool(train.get("rc_average", config.get("rc_average", True)))


def to_output_scale(raw: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """Model-scale outputs -> probabilities (classification) or the original measurement scale (regression)."""
    if config.get("task") == "classification":
        return (1.0 / (1.0 + np.exp(-raw.astype(np.float64)))).astype(np.float32)
    spec = config.get("target_transform")
    if not spec:
        return raw
    from seq2expr.data.targets import TargetTransform

    return np.asarray(TargetTransform.from_dict(spec).inverse(raw), dtype=np.float32)


def predict_codes(saved: SavedModel, codes: np.ndarray, *, batch_size: int = 512,
                  device: str | torch.device | None = "cpu", output_scale: bool = True) -> np.ndarray:
    """Predictions for already-encoded codes with a saved model's own settings (n_value, rc_average)."""
    raw = predict(saved.model, codes, batch_size=batch_size, rc_average=saved_rc_average(saved.config),
                  n_value=saved.policy.n_value, device=device)
    return to_output_scale(raw, saved.config) if output_scale else raw


def encode_for(saved: SavedModel, seqs: Sequence[str], *, ids: Sequence[str] | None = None,
               source: str | None = None) -> np.ndarray:
    """Encode sequences with the saved policy to the length the model was built for."""
    from seq2expr.data.prepare import prepare_inference_codes

    return prepare_inference_codes(seqs, saved.policy, int(saved.config["model"]["seq_len"]), ids=ids, source=source)


def predict_saved(saved: SavedModel, seqs: Sequence[str] | np.ndarray, *, batch_size: int = 512,
                  device: str | torch.device | None = "cpu") -> np.ndarray:
    """Predictions ``(N, n_targets)`` on the original scale (or probabilities) for strings or uint8 codes."""
    codes = seqs if isinstance(seqs, np.ndarray) and seqs.dtype == np.uint8 else encode_for(saved, seqs)
    return predict_codes(saved, codes, batch_size=batch_size, device=device)


def prediction_columns(config: dict[str, Any]) -> list[str]:
    """Output column names: the target names (``prediction`` when the model has one unnamed target)."""
    names = list(config.get("target_names") or [])
    n = int(config["model"].get("n_targets", len(names) or 1))
    return names if len(names) == n else (["prediction"] if n == 1 else [f"prediction_{i}" for i in range(n)])


def write_prediction_table(out_path: str | Path, chunks: Iterable[tuple[Sequence[str], np.ndarray]],
                           columns: list[str]) -> int:
    """Write ``id, <columns...>`` rows from ``(ids, predictions)`` chunks to a TSV, atomically; returns rows.

    Each chunk is formatted in one pandas call (values as ``%.6g``), not row by row in Python.
    """
    import pandas as pd

    n = 0
    with atomic_path(out_path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", *columns])
        for ids, pred in chunks:
            pred = np.asarray(pred).reshape(len(pred), -1)
            if len(ids) != len(pred):
                raise ValueError(f"{len(ids)} IDs for {len(pred)} predictions")
            frame = pd.DataFrame(pred, columns=columns)
            frame.insert(0, "id", np.asarray(ids))
            frame.to_csv(fh, sep="\t", header=False, index=False, float_format="%.6g", lineterminator="\n")
            n += len(pred)
    return n


def input_columns(config: dict[str, Any], path: str | Path, sequence_column: str | None = None,
                  id_column: str | None = None) -> tuple[str, str | None]:
    """Sequence and ID columns to read ``path`` with: the caller's, else the training run's when ``path`` has them.

    A model trained on a table with ``Sequence``/``ID`` columns then predicts, evaluates and explains tables of
    the same layout without restating them; otherwise ``sequence`` and row-number IDs.
    """
    if sequence_column and id_column:
        return sequence_column, id_column
    from seq2expr.data.readers import table_columns

    data = config.get("data") or {}
    header = set(table_columns(path))
    trained_seq, trained_id = data.get("sequence_column"), data.get("id_column")
    seq = sequence_column or (trained_seq if trained_seq in header else "sequence")
    ids = id_column or (trained_id if trained_id in header else None)
    return seq, ids


def predict_file(model_dir: str | Path, input_path: str | Path, out_path: str | Path, *, batch_size: int = 512,
                 chunk_size: int = 100_000, id_column: str | None = None, sequence_column: str | None = None,
                 device: str | torch.device | None = "cpu") -> int:
    """Stream ``input_path`` (table or FASTA) through a saved model into a TSV ``id, <target...>``.

    Reads ``chunk_size`` records at a time, so memory does not grow with the input; the output appears
    only when complete (atomic rename). Returns the number of rows written. Columns default as in
    :func:`input_columns`.
    """
    from seq2expr.data.readers import iter_sequence_chunks

    saved = load_model(model_dir)
    sequence_column, id_column = input_columns(saved.config, input_path, sequence_column, id_column)

    def chunks():
        for ids, seqs in iter_sequence_chunks(input_path, chunk_size, id_column, sequence_column):
            codes = encode_for(saved, seqs, ids=list(ids), source=str(input_path))
            del seqs  # hold only IDs and predictions while the next chunk is read
            pred = predict_codes(saved, codes, batch_size=batch_size, device=device)
            del codes
            yield ids, pred

    return write_prediction_table(out_path, chunks(), prediction_columns(saved.config))
