"""A saved model is a folder: ``model.safetensors`` (weights) + ``config.json`` (everything else).

``config.json`` holds the architecture (registry name + params), the sequence policy, the target
transform, the task, the library version and the data hash. Loading never unpickles and never imports
Lightning, so a saved model is safe to share and cheap to load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from seq2expr import __version__
from seq2expr.atomic import atomic_path
from seq2expr.models.registry import build_model

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


@dataclass
class SavedModel:
    """A loaded model plus its metadata (``config`` is the parsed ``config.json``)."""

    model: nn.Module
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def policy(self):
        from seq2expr.data.sequences import SequencePolicy

        return SequencePolicy.from_dict(self.config.get("policy"))


def save_model(path: str | Path, model: nn.Module | list[nn.Module], config: dict[str, Any]) -> Path:
    """Write weights and config atomically. ``config`` must include ``model: {name, params}``.

    A list of models (a seed ensemble of one architecture) is stored in one file, prefixed ``m{i}.``.
    """
    models = model if isinstance(model, list) else [model]
    state: dict[str, torch.Tensor] = {}
    for i, m in enumerate(models):
        prefix = f"m{i}." if isinstance(model, list) else ""
        for k, v in m.state_dict().items():
            state[prefix + k] = v.detach().cpu().contiguous()
    meta = {**config, "library_version": __version__, "ensemble_size": len(models) if isinstance(model, list) else 0}
    if "model" not in meta or "name" not in meta["model"]:
        raise ValueError("config must contain model.name and model.params")
    with atomic_path(path, is_dir=True) as tmp:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return Path(path)


class EnsembleAverage(nn.Module):
    """Average of several models' outputs (a seeds ensemble)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


def load_model(path: str | Path, map_location: str = "cpu") -> SavedModel:
    """Rebuild the architecture from ``config.json`` and load the safetensors weights (eval mode)."""
    path = Path(path)
    cfg_file, w_file = path / CONFIG, path / WEIGHTS
    for f in (cfg_file, w_file):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: missing; a saved model folder holds {WEIGHTS} and {CONFIG}")
    config = json.loads(cfg_file.read_text())
    spec = config["model"]
    state = load_file(str(w_file), device=map_location)

    def make() -> nn.Module:
        return build_model(spec["name"], seq_len=spec["seq_len"], n_targets=spec["n_targets"], **spec.get("params", {}))

    n = int(config.get("ensemble_size", 0))
    if n:
        members = []
        for i in range(n):
            m = make()
            m.load_state_dict({k[len(f"m{i}."):]: v for k, v in state.items() if k.startswith(f"m{i}.")})
            members.append(m)
        model: nn.Module = EnsembleAverage(members)
    else:
        model = make()
        model.load_state_dict(state)
    return SavedModel(model.eval(), config)
