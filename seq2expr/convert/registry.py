"""The importers' registry and what they share: each published KIND registers a function (``@importer``) that reads
its checkpoint into a :class:`Converted` (architecture, sizes, renamed weights); :mod:`seq2expr.convert.published`
holds them, :mod:`seq2expr.convert.importers` runs one. Checkpoints are read only through
:func:`~seq2expr.convert.checkpoint.read_checkpoint` (``torch.load(weights_only=True)``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seq2expr.config import Positions
from seq2expr.convert.checkpoint import ModuleRecord, read_checkpoint, state_dict_of
from seq2expr.files import FileError, read_json
from seq2expr.plugins import Registry


@dataclass
class Options:
    """What ``models import`` may set beyond the checkpoint: the run config of a Camformer model, and for the
    genome-track models the input length, the tracks (and their names) and the bins around the TSS."""

    kind: str = ""
    config: Path | None = None
    seq_len: int | None = None
    tracks: list[int] | None = None
    target_names: list[str] | None = None
    tss_bins: int | None = None
    aggregate: str | None = None
    tf_gamma: bool | None = None


@dataclass
class Converted:
    """An importer's result: the architecture, its weights (original names mapped) and what the model needs."""

    name: str
    params: dict[str, Any]
    seq_len: int
    state: dict[str, torch.Tensor]
    n_value: float
    target_names: list[str]
    notes: dict[str, Any] = field(default_factory=dict)
    tss_window: bool = False  # a genome-track model: gene mode scores windows of seq_len centred on the TSS
    positions: Positions | None = None  # a track model: the bins read as its outputs (model.positions)


Importer = Callable[[Path, Options], Converted]
IMPORTERS: Registry[Importer] = Registry("model kind")


def importer(*kinds: str) -> Callable[[Importer], Importer]:
    """Function decorator: the function imports the published checkpoints of every KIND in ``kinds`` (each a zoo
    entry's name)."""

    def deco(fn: Importer) -> Importer:
        for kind in kinds:
            IMPORTERS.add(kind, fn)
        return fn

    return deco


def weights_file(weights: Path) -> Path:
    """The checkpoint file itself (a folder's weights file)."""
    if weights.is_dir():
        for name in ("pytorch_model.bin", "model.safetensors", "model.pt", "model.pth"):
            if (weights / name).is_file():
                return weights / name
        raise FileError(weights, "no pytorch_model.bin or model.safetensors in this folder")
    return weights


def read_weights(path: Path, module_classes: tuple[str, ...] = ()) -> tuple[dict[str, torch.Tensor], Any]:
    """A checkpoint's flat state dict and the object it held (a :class:`ModuleRecord` for a pickled module);
    ``.safetensors`` files are read with safetensors."""
    path = weights_file(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        from seq2expr.files import reading

        with reading(path):
            state = load_file(str(path))
        return state, state
    obj = read_checkpoint(path, module_classes)
    return state_dict_of(obj, path), obj


def read_run_config(weights: Path, options: Options) -> dict[str, Any]:
    """``options.config``, else ``config.json`` beside or inside ``weights`` (a Hugging Face snapshot folder, a
    Camformer run folder); ``{}`` when there is none."""
    for cand in ([options.config] if options.config else
                 [weights / "config.json" if weights.is_dir() else weights.parent / "config.json"]):
        if cand is not None and cand.is_file():
            raw = read_json(cand)
            if not isinstance(raw, dict):
                raise FileError(cand, "not a JSON object")
            return raw
        if options.config:
            raise FileError(cand, "file not found")
    return {}


def record_of(obj: Any) -> ModuleRecord | None:
    return obj if isinstance(obj, ModuleRecord) else None
