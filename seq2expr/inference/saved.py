"""A saved model is a folder: ``model.safetensors`` (weights) + ``config.json`` (a :class:`SavedModelConfig`).

The config says everything prediction needs besides the weights: the architecture (registry name, params,
input length, number of outputs), the run's ``data`` section (sequence policy, input columns, labelling)
and ``train`` section (task, reverse-complement averaging), the target names and the fitted target
transform. Loading never unpickles and never imports Lightning, so a saved model is safe to share and
cheap to load. The config carries ``format_version`` (:data:`FORMAT_VERSION`); an older one is brought up to date
on load by :func:`migrate_config`, the one place that knows the older layouts, and a newer one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from safetensors.torch import load_file, save_file
from torch import nn

from seq2expr.atomic import atomic_path
from seq2expr.config import DataConfig, InterpretConfig, Positions, SequencePolicy, TrainConfig
from seq2expr.data.errors import DataError
from seq2expr.data.genome.windows import WindowSource
from seq2expr.data.targets import TargetTransform
from seq2expr.files import fault_point, read_json, reading
from seq2expr.models import EnsembleAverage, build_model
from seq2expr.version import __version__
from seq2expr.zoo import ModelCard, is_zoo_name
from seq2expr.zoo import model_dir as zoo_model_dir

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TRAINED_ON = "training_sequences.safetensors"  # hashes of the sequences the weights were fitted or selected on
Scale = Literal["original", "model"]
# of config.json; 1: the files written before the key existed (no ``format_version``); 2: Enformer/Borzoi chose
# their TSS bins in the network (params tss_bins, aggregate), 3: the readout does (``model.positions``)
FORMAT_VERSION = 3
TRACK_MODELS = ("enformer", "borzoi")  # the architectures whose format-2 params chose bins


class ModelSpec(BaseModel):
    """The architecture: a registry name and its constructor arguments; for a track model (an output
    ``(B, P, T)`` along the window) the ``positions`` read as its outputs unless a readout names others."""

    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    seq_len: int = Field(ge=1)
    n_targets: int = Field(1, ge=1)
    positions: Positions | None = None


class FitRecord(BaseModel):
    """How the weights were trained: the precision (``train.precision`` resolved on the machine), the machine, and
    whether ``train.max_time_minutes`` cut a member short (then its epochs and steps say how far it got)."""

    model_config = ConfigDict(extra="allow")

    precision: str
    machine: str | None = None
    truncated: bool = False
    members: list[dict[str, Any]] = Field(default_factory=list)  # per member: seed/fold, epochs, steps, precision

    def truncation_note(self) -> str | None:
        """One line for tables and reports when a time limit cut training; None otherwise."""
        if not self.truncated:
            return None
        cut = [m for m in self.members if m.get("truncated")]
        each = "; ".join(f"{_member_name(m)} stopped in epoch {m['truncated_at']['epoch']} of "
                         f"{m.get('epochs_planned', '?')} (step {m['truncated_at']['step']})"
                         for m in cut if m.get("truncated_at"))
        return f"TRUNCATED by train.max_time_minutes: {each or 'a member stopped early'}"


class Lineage(BaseModel):
    """Where a fine-tuned model's weights started: its parent (what ``train.init`` named, the parent's card brief and
    the sha256 of its weights file, and the parent's own lineage), and how it was fine-tuned (members, head, target
    transform, what was frozen, on which data). Never the parent's held-out metrics: those are not the child's."""

    model_config = ConfigDict(extra="forbid")

    parent: str  # as given: zoo:NAME or a folder
    name: str  # the parent's card name, else its folder's name
    version: str | None = None
    weights_sha256: str
    card: dict[str, str] | None = None  # the parent's card brief (name, version, licence, citation)
    architecture: str
    members: str  # "member i of k -> member i" or "member i -> every member"
    head: Literal["keep", "new"]
    head_reason: str
    target_transform: Literal["parent", "refit"]
    target_transform_reason: str = ""
    freeze: Literal["none", "trunk"]
    unfreeze_after_epochs: int | None = None
    trunk_lr_factor: float = 1.0
    trainable_parameters: int
    frozen_parameters: int  # at the start of training (all trainable again after unfreezing)
    data: str  # the fine-tuning data: a registry data set or a path
    data_hash: str | None = None
    parent_lineage: Lineage | None = None

    def lines(self) -> list[tuple[str, str]]:
        """``(field, text)`` rows for ``seq2expr models info`` and reports."""
        frozen = ("nothing frozen" if self.freeze == "none" else
                  f"trunk frozen ({self.frozen_parameters:,} parameters)" +
                  (f" for the first {self.unfreeze_after_epochs} epoch(s)" if self.unfreeze_after_epochs
                   else " throughout"))
        rows = [("fine-tuned from", f"{self.parent} ({self.name}" + (f" {self.version}" if self.version else "")
                 + f", {self.architecture}; weights sha256 {self.weights_sha256})"),
                ("  members", self.members), ("  head", f"{self.head}: {self.head_reason}"),
                ("  target transform", self.target_transform_reason or self.target_transform),
                ("  training", f"{frozen}; trunk learning rate x {self.trunk_lr_factor:g}; "
                               f"{self.trainable_parameters:,} trainable parameters"),
                ("  data", self.data + (f" (data hash {self.data_hash[:16]})" if self.data_hash else ""))]
        if self.parent_lineage is not None:
            rows += [(f"  {k.strip()}" if k.startswith("  ") else f"  parent {k}", v)
                     for k, v in self.parent_lineage.lines()[:1]]
        return rows


def _member_name(m: dict[str, Any]) -> str:
    return f"fold_{m['fold']}" if m.get("fold") is not None else f"seed_{m.get('seed', '?')}"


class SavedModelConfig(BaseModel):
    """``config.json`` of a saved model. Unknown top-level keys (e.g. from a newer version) are kept."""

    model_config = ConfigDict(extra="allow")

    format_version: int = Field(FORMAT_VERSION, ge=2, le=FORMAT_VERSION)  # of this file; older ones are migrated
    model: ModelSpec
    data: DataConfig = Field(default_factory=DataConfig)  # policy, input columns, labelling of the run
    train: TrainConfig = Field(default_factory=TrainConfig)  # task, rc_average and the rest of the run
    target_names: list[str] = Field(default_factory=list)
    target_transform: TargetTransform | None = None  # fitted on the training rows; inverted at predict
    data_hash: str | None = None
    metrics: dict[str, Any] | None = None
    library_version: str | None = None
    ensemble_size: int = Field(0, ge=0)  # 0: one model; k: k members stored with prefixes m0. ... m{k-1}.
    windows: WindowSource | None = None  # a gene model: how its windows were built (variant scoring rebuilds them)
    interpret: InterpretConfig = Field(default_factory=InterpretConfig)  # the run's interpretation defaults
    fit: FitRecord | None = None  # how the weights were trained (None: saved by hand or before it was recorded)
    card: ModelCard | None = None  # a zoo model's card: name, version, files, licence, citation, input contract
    lineage: Lineage | None = None  # a fine-tuned model: its parent and how it was fine-tuned (train.init)

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, raw: Any) -> Any:
        """Bring a config of an older format up to :data:`FORMAT_VERSION` (:func:`migrate_config`)."""
        return migrate_config(raw) if isinstance(raw, dict) else raw

    @model_validator(mode="after")
    def _names(self) -> SavedModelConfig:
        n = self.model.n_targets
        if not self.target_names:
            self.target_names = default_target_names(n)
        if len(self.target_names) != n:
            raise ValueError(f"{len(self.target_names)} target names {self.target_names} for {n} model outputs")
        return self

    @property
    def policy(self) -> SequencePolicy:
        return self.data.policy

    @property
    def task(self) -> str:
        return self.train.task

    @property
    def rc_average(self) -> bool:
        return self.train.rc_average

    @property
    def seq_len(self) -> int:
        return self.model.seq_len

    @property
    def output_names(self) -> list[str]:
        """The columns of ``predict``'s table: the card's target names for a zoo model (what it publishes; not the
        column of the file it was trained on), else :attr:`target_names`. A card name that stands for any chosen
        track (``track_i``) or a card of another number of targets leaves the model's own names."""
        names = [t.name for t in self.card.targets] if self.card is not None else []
        if (len(names) != len(self.target_names) or len(set(names)) != len(names)
                or any(n.endswith("_i") for n in names)):
            return list(self.target_names)
        return names

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


class NewerFormatError(ValueError):
    """A ``config.json`` written by a newer seq2expr than this one."""


def migrate_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A saved model's raw ``config.json`` brought to :data:`FORMAT_VERSION` (a new dict; ``raw`` is unchanged).

    Format 1 (no ``format_version``: every folder and zoo entry written before the key) may hold the pre-typed
    layout's top-level ``policy``/``task``/``rc_average``, folded into ``data``/``train``; nothing else changed.
    Format 2: an ``enformer``/``borzoi`` network chose and joined its TSS bins itself (``params.tss_bins``,
    ``params.aggregate``); from format 3 it gives every bin and ``model.positions`` says which are read
    (``centre:N``, the same bins). A newer format raises :class:`NewerFormatError`. Each later format adds one step
    here.
    """
    raw = dict(raw)
    version = raw.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"format_version must be a whole number from 1 (got {version!r})")
    if version > FORMAT_VERSION:
        raise NewerFormatError(f"written by a newer seq2expr: format {version}, this one reads up to "
                               f"{FORMAT_VERSION}; upgrade seq2expr")
    if version == 1:
        for key, section in (("policy", "data"), ("task", "train"), ("rc_average", "train")):
            if key in raw:
                value = raw.pop(key)
                sub = dict(raw.get(section) or {})
                sub.setdefault(key, value)
                raw[section] = sub
    if version <= 2:
        raw["model"] = _positions_from_params(raw.get("model"))
    raw["format_version"] = FORMAT_VERSION
    return raw


def _positions_from_params(model: Any) -> Any:
    """A format-2 ``model`` section of an Enformer/Borzoi: the bin choice moved from the params to ``positions``."""
    if not isinstance(model, dict) or model.get("name") not in TRACK_MODELS:
        return model
    params = dict(model.get("params") or {})
    bins, aggregate = params.pop("tss_bins", 3), params.pop("aggregate", "mean")
    if params.pop("tss_index", None) is not None:
        raise ValueError("a format-2 track model with params.tss_index (bins off the window's centre): import it "
                         "again, and name its bins with a readout")
    if aggregate == "sum" and params.get("embedding_head"):
        raise ValueError("a format-2 fine-tuned track model that summed its bins before the new head: fine-tune it "
                         "again (its head now reads each bin; sum and head no longer commute)")
    return {**model, "params": params, "positions": {"bins": f"centre:{bins}", "aggregate": aggregate}}


def default_target_names(n: int) -> list[str]:
    """Names of unnamed outputs: ``prediction`` for one, ``prediction_0``... for several."""
    return ["prediction"] if n == 1 else [f"prediction_{i}" for i in range(n)]


@dataclass
class SavedModel:
    """A loaded model (eval mode; an :class:`EnsembleAverage` for an ensemble) and its config."""

    model: nn.Module
    config: SavedModelConfig
    path: Path | None = None

    @property
    def policy(self) -> SequencePolicy:
        return self.config.policy

    @property
    def members(self) -> list[SavedModel]:
        """Each member of an ensemble as a model of its own (the model itself when it is not an ensemble)."""
        if not isinstance(self.model, EnsembleAverage):
            return [self]
        cfg = self.config.model_copy(update={"ensemble_size": 0})
        return [SavedModel(m, cfg, self.path) for m in self.model.members]


def save_model(path: str | Path, model: nn.Module | list[nn.Module], config: SavedModelConfig | dict[str, Any],
               trained_on: np.ndarray | None = None) -> Path:
    """Write weights and config atomically; a list of models (an ensemble of one architecture) goes in one file,
    member ``i``'s weights prefixed ``m{i}.``. ``trained_on``: :func:`~seq2expr.data.sequences.sequence_hashes` of
    the sequences the weights were fitted or selected on (``training_sequences.safetensors``), which
    :func:`training_overlap` looks up."""
    cfg = config if isinstance(config, SavedModelConfig) else SavedModelConfig.model_validate(config)
    members = model if isinstance(model, list) else [model]
    state: dict[str, torch.Tensor] = {}
    for i, m in enumerate(members):
        prefix = f"m{i}." if isinstance(model, list) else ""
        seen: set[tuple] = set()
        for k, v in m.state_dict().items():
            alias = (v.data_ptr(), tuple(v.shape), v.stride(), v.dtype)
            if v.numel() and alias in seen:  # a module registered under two names (Enformer's trunk): stored once
                continue
            seen.add(alias)
            state[prefix + k] = v.detach().cpu().contiguous()
    cfg = cfg.model_copy(update={"format_version": FORMAT_VERSION, "library_version": __version__,
                                 "ensemble_size": len(members) if isinstance(model, list) else 0})
    with atomic_path(path, is_dir=True) as tmp:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        fault_point("export")  # a kill here leaves only a temporary folder, never a half model folder
        (tmp / CONFIG).write_text(cfg.to_json())
        if trained_on is not None:
            hashes = torch.from_numpy(np.unique(np.asarray(trained_on, dtype=np.int64)))
            save_file({"hashes": hashes}, str(tmp / TRAINED_ON), metadata={"hash": "blake2b-64, either strand"})
    return Path(path)


def training_hashes(model: SavedModel) -> np.ndarray | None:
    """The hashes (either strand) of the sequences the model was fitted or selected on, from its
    ``training_sequences.safetensors``; None when the model recorded none (a zoo copy, an imported checkpoint, a
    folder saved before they were recorded)."""
    file = model.path / TRAINED_ON if model.path is not None else None
    if file is None or not file.is_file():
        return None
    with reading(file):
        return load_file(str(file))["hashes"].numpy()


def training_overlap(model: SavedModel, codes: np.ndarray) -> np.ndarray | None:
    """Which rows of ``codes`` (either strand) are among the sequences the model was fitted or selected on
    (:func:`training_hashes`); None when the model recorded none."""
    from seq2expr.data.sequences import sequence_hashes

    seen = training_hashes(model)
    return None if seen is None else np.isin(sequence_hashes(codes), seen)


def model_path(path: str | Path) -> Path:
    """The folder a model argument names: a path as is, or a zoo entry ``zoo:NAME`` resolved to its checked local
    copy (:func:`seq2expr.zoo.model_dir`; a project entry is downloaded into the cache if no copy is here)."""
    return zoo_model_dir(path) if is_zoo_name(path) else Path(path)


def _with_aliases(model: nn.Module, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` plus the names :func:`save_model` left out because they name a tensor stored under another."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    if not missing:
        return weights
    out = dict(weights)
    for key in missing:
        t = expected[key]
        alias = next((a for a, u in expected.items() if a in weights and u.numel() and u.data_ptr() == t.data_ptr()
                      and u.shape == t.shape), None)
        if alias is not None:
            out[key] = weights[alias]
    return out


def read_config(path: str | Path) -> SavedModelConfig:
    """The :class:`SavedModelConfig` of a model folder (or of its ``config.json``, or of a zoo entry ``zoo:NAME``)."""
    path = model_path(path)
    file = path if path.suffix == ".json" else path / CONFIG
    if not file.is_file():
        raise FileNotFoundError(f"{file}: missing; a saved model folder holds {WEIGHTS} and {CONFIG}")
    raw = read_json(file)  # a FileError naming the file when it is unreadable or not JSON
    try:
        raw = migrate_config(raw) if isinstance(raw, dict) else raw
    except NewerFormatError as err:
        raise DataError(str(err), source=str(path)) from None
    except ValueError as err:
        raise DataError(f"format_version: {err}", source=str(file)) from None
    try:
        return SavedModelConfig.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise DataError(f"{where}: {first['msg']}", source=str(file)) from None


def load_model(path: str | Path | SavedModel, map_location: str = "cpu") -> SavedModel:
    """Rebuild the architecture from ``config.json`` and load the safetensors weights (eval mode).

    ``path``: a model folder or a zoo entry ``zoo:NAME`` (:func:`model_path`). An ensemble folder gives an
    :class:`EnsembleAverage` of its members. A :class:`SavedModel` is returned as is. Weights stored in half
    precision (the zoo's copies) are loaded into the float32 model.
    """
    if isinstance(path, SavedModel):
        return path
    path = model_path(path)
    w_file = path / WEIGHTS
    cfg = read_config(path)
    if not w_file.is_file():
        raise FileNotFoundError(f"{w_file}: missing; a saved model folder holds {WEIGHTS} and {CONFIG}")
    with reading(w_file):
        state = load_file(str(w_file), device=map_location)
    spec = cfg.model

    def make(weights: dict[str, torch.Tensor]) -> nn.Module:
        try:
            m = build_model(spec.name, seq_len=spec.seq_len, n_targets=spec.n_targets, **spec.params)
        except (ValueError, TypeError, KeyError) as err:  # sizes that do not make an architecture
            raise DataError(f"model.params do not build a {spec.name!r} model: {' '.join(str(err).split())}",
                            source=str(path / CONFIG)) from None
        try:
            m.load_state_dict(_with_aliases(m, weights))
        except RuntimeError as err:
            raise DataError(f"weights do not fit the architecture in {CONFIG}: {str(err).splitlines()[0]}",
                            source=str(w_file)) from None
        return m

    if cfg.ensemble_size:
        members = [make({k[len(f"m{i}."):]: v for k, v in state.items() if k.startswith(f"m{i}.")})
                   for i in range(cfg.ensemble_size)]
        model: nn.Module = EnsembleAverage(members)
    else:
        model = make(state)
    return SavedModel(model.eval(), cfg, path)
