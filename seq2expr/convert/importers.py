"""``seq2expr models import KIND WEIGHTS -o DIR``: the authors' published checkpoints as saved model folders.

Each KIND is a zoo entry whose card describes the published model (``seq2expr models info KIND``). The checkpoint
is read with :func:`~seq2expr.convert.checkpoint.read_checkpoint` (``torch.load(weights_only=True)``; nothing in
it runs), its architecture sizes are read off the weights (and, for Camformer, off the pickled modules or the
run's ``config.json``), and the weights are loaded strictly into the registered architecture that reproduces the
original network (``legnet2022``, ``camformer``, ``enformer``, ``borzoi``) before ``model.safetensors`` +
``config.json`` (with the card) are written. The card keeps the published metrics only when the file is the
published one (its checksum matches the card's); otherwise it says which file was converted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seq2expr.config import DataConfig, SequencePolicy, TrainConfig
from seq2expr.convert.checkpoint import ModuleRecord, read_checkpoint, state_dict_of
from seq2expr.data.genome.windows import WindowSource, WindowSpec
from seq2expr.download import git_blob_id, sha256_file
from seq2expr.files import FileError, read_json
from seq2expr.inference import ModelSpec, SavedModelConfig, save_model
from seq2expr.models import build_model
from seq2expr.outputs import check_output, write_marker
from seq2expr.zoo import CardFile, ModelCard, get_card


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


Importer = Callable[[Path, Options], Converted]
IMPORTERS: dict[str, Importer] = {}


def importer(*kinds: str) -> Callable[[Importer], Importer]:
    def deco(fn: Importer) -> Importer:
        for kind in kinds:
            IMPORTERS[kind] = fn
        return fn
    return deco


def kinds() -> list[str]:
    """The KINDs ``models import`` knows (each a zoo entry)."""
    _load_importers()
    return sorted(IMPORTERS)


def _load_importers() -> None:
    from seq2expr.convert import published  # noqa: F401  (registers the importers)


# ------------------------------------------------------------------------------------------------- the command


def import_checkpoint(kind: str, weights: str | Path, out: str | Path, options: Options | None = None, *,
                      card: ModelCard | None = None, force: bool = False) -> Path:
    """Convert the published checkpoint ``weights`` of ``kind`` into the saved model folder ``out`` (atomic).
    ``card``: the zoo entry it belongs to (default: the card named ``kind``). ``out`` is guarded as every output
    (:func:`seq2expr.outputs.check_output`): ``force`` replaces only a previous import."""
    _load_importers()
    if kind not in IMPORTERS:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(sorted(IMPORTERS))}")
    weights = Path(weights)
    if not weights.exists():
        raise FileError(weights, "file not found")
    options = options or Options()
    check_output(out, [weights, options.config], command="models import", folder=True, force=force)
    card = card or get_card(kind)
    options.kind = kind
    conv = IMPORTERS[kind](weights, options)
    spec = ModelSpec(name=conv.name, params=conv.params, seq_len=conv.seq_len, n_targets=len(conv.target_names))
    try:
        model = build_model(spec.name, seq_len=spec.seq_len, n_targets=spec.n_targets, **spec.params)
    except (TypeError, ValueError, KeyError) as err:
        raise FileError(weights, f"the sizes read from it do not make a {kind} model ({err})") from None
    load_strict(model, conv.state, weights)
    card = _card(card, _weights_file(weights), conv, sum(p.numel() for p in model.parameters()))
    policy = SequencePolicy(length=conv.seq_len, n_value=conv.n_value)
    windows = (WindowSource(windows=WindowSpec.single(conv.seq_len, upstream=conv.seq_len // 2),
                            strand_rule="transcript orientation: the window centred on the TSS, minus-strand windows "
                                        "reverse-complemented") if conv.tss_window else None)
    cfg = SavedModelConfig(model=spec, data=DataConfig(policy=policy), target_names=conv.target_names,
                           train=TrainConfig(task="regression", rc_average=False), windows=windows, card=card)
    save_model(out, model.eval(), cfg)
    write_marker(out, "models import")
    return Path(out)


def load_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load every weight of ``model`` from ``state`` (shapes and names must match; a name missing only because the
    module is shared under another name, as Enformer's trunk, is filled by that alias)."""
    expected = model.state_dict()
    extra = sorted(set(state) - set(expected))
    if extra:
        raise FileError(source, f"weights the {type(model).__name__} architecture does not have: {extra[:3]}")
    filled = dict(state)
    for key, t in expected.items():
        if key not in filled:
            alias = next((k for k in state if expected[k].data_ptr() == t.data_ptr()), None)
            if alias is None:
                raise FileError(source, f"weight {key!r} of the architecture is missing from the checkpoint")
            filled[key] = state[alias]
    try:
        model.load_state_dict(filled, strict=True)
    except RuntimeError as err:
        raise FileError(source, f"weights do not fit the architecture: {str(err).splitlines()[1:2] or err}") from None


def _weights_file(weights: Path) -> Path:
    """The checkpoint file itself (a folder's weights file)."""
    if weights.is_dir():
        for name in ("pytorch_model.bin", "model.safetensors", "model.pt", "model.pth"):
            if (weights / name).is_file():
                return weights / name
        raise FileError(weights, "no pytorch_model.bin or model.safetensors in this folder")
    return weights


def _card(card: ModelCard, file: Path, conv: Converted, n_params: int) -> ModelCard:
    """The entry's card for what was converted: the file's checksum, the sizes read off it, the parameters; the
    published metrics only if it is the published file."""
    sha = sha256_file(file)
    published = next((f for f in card.files if (f.sha256 and f.sha256 == sha)
                      or (f.git_blob and not f.sha256 and f.git_blob == git_blob_id(file))), None)
    files = [CardFile(name=file.name, url=published.url if published else None, size=file.stat().st_size, sha256=sha)]
    update: dict[str, Any] = {"files": files, "params": {**conv.params, **conv.notes}, "parameters": n_params}
    if published is None:
        update["metrics"] = []
        update["summary"] = (f"{card.summary} Converted from {file.name} (sha256 {sha[:16]}...), which is not the "
                             "published checkpoint: the published metrics do not apply.")
    return card.model_copy(update=update)


# ------------------------------------------------------------------------------------------- shared readers


def read_weights(path: Path, module_classes: tuple[str, ...] = ()) -> tuple[dict[str, torch.Tensor], Any]:
    """A checkpoint's flat state dict and the object it held (a :class:`ModuleRecord` for a pickled module);
    ``.safetensors`` files are read with safetensors."""
    path = _weights_file(path)
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
