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

from pathlib import Path
from typing import Any

import torch

import seq2expr.convert.published  # noqa: F401  (registers the importers)
from seq2expr.config import DataConfig, SequencePolicy, TrainConfig
from seq2expr.convert.registry import IMPORTERS, Converted, Options, weights_file
from seq2expr.data.genome.windows import WindowSource, WindowSpec
from seq2expr.download import git_blob_id, sha256_file
from seq2expr.files import FileError
from seq2expr.inference import ModelSpec, SavedModelConfig, save_model
from seq2expr.inference.positions import bin_indices
from seq2expr.models import build_model
from seq2expr.outputs import check_output, write_marker
from seq2expr.zoo import CardFile, ModelCard, get_card


def kinds() -> list[str]:
    """The KINDs ``models import`` knows (each a zoo entry)."""
    return IMPORTERS.names()


# ------------------------------------------------------------------------------------------------- the command


def import_checkpoint(kind: str, weights: str | Path, out: str | Path, options: Options | None = None, *,
                      card: ModelCard | None = None, force: bool = False) -> Path:
    """Convert the published checkpoint ``weights`` of ``kind`` into the saved model folder ``out`` (atomic).
    ``card``: the zoo entry it belongs to (default: the card named ``kind``). ``out`` is guarded as every output
    (:func:`seq2expr.outputs.check_output`): ``force`` replaces only a previous import."""
    if kind not in IMPORTERS:
        raise ValueError(IMPORTERS.unknown(kind))
    weights = Path(weights)
    if not weights.exists():
        raise FileError(weights, "file not found")
    options = options or Options()
    check_output(out, [weights, options.config], command="models import", folder=True, force=force)
    card = card or get_card(kind)
    options.kind = kind
    conv = IMPORTERS.get(kind)(weights, options)
    spec = ModelSpec(name=conv.name, params=conv.params, seq_len=conv.seq_len, n_targets=len(conv.target_names),
                     positions=conv.positions)
    try:
        model = build_model(spec.name, seq_len=spec.seq_len, n_targets=spec.n_targets, **spec.params)
    except (TypeError, ValueError, KeyError) as err:
        raise FileError(weights, f"the sizes read from it do not make a {kind} model ({err})") from None
    if spec.positions is not None:  # the default bins lie in the network's output (a DataError line otherwise)
        bin_indices(spec.positions, model.n_bins)
    load_strict(model, conv.state, weights)
    card = _card(card, weights_file(weights), conv, sum(p.numel() for p in model.parameters()))
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
