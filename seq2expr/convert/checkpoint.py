"""Read a published PyTorch checkpoint without running any code from it: ``torch.load(weights_only=True)`` only.

A checkpoint is a pickle, and unpickling may call any function it names. ``weights_only=True`` refuses every name
but tensors and plain containers; this module adds one thing on top, for checkpoints that pickle the whole
``nn.Module`` (Camformer's ``torch.save(model, path)``): the module classes it names (``torch.nn.modules.*`` and the
classes an importer expects, e.g. ``base.model.CNN``) are read as inert records of their state (parameters,
buffers, submodules, settings such as a pooling kernel), never imported or run. Anything else a checkpoint names
(``os.system``, ``builtins.eval``, an unknown class) is refused with one line naming it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from seq2expr.files import FileError, reading

STATE_KEYS = ("state_dict", "model_state_dict", "model")  # where training scripts nest a state dict


class ModuleRecord:
    """The pickled state of one ``nn.Module``, kept as data: :attr:`qualname` (the class it named) and
    :attr:`state` (its ``__dict__``: ``_parameters``, ``_buffers``, ``_modules``, settings)."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any):  # reached only through pickle's NEWOBJ with no arguments
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"state": state}

    @property
    def kind(self) -> str:
        """The class name without its module (``Conv2d``, ``Conv2dSame``, ``CNN``)."""
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def children(self) -> dict[str, ModuleRecord]:
        return dict(self.state.get("_modules") or {})

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """The tensors as ``nn.Module.state_dict()`` names them (non-persistent buffers left out)."""
        out: dict[str, torch.Tensor] = {}
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for group in ("_parameters", "_buffers"):
            for name, t in (self.state.get(group) or {}).items():
                if t is not None and name not in skip:
                    out[prefix + name] = t.detach() if isinstance(t, torch.Tensor) else t
        for name, child in self.children.items():
            if child is not None:
                out.update(child.state_dict(f"{prefix}{name}."))
        return out


def _record_class(qualname: str) -> type[ModuleRecord]:
    return type(f"Record_{qualname.replace('.', '_')}", (ModuleRecord,), {"qualname": qualname})


def _is_torch_module_class(name: str) -> bool:
    if not name.startswith("torch.nn.modules."):
        return False
    obj: Any = torch
    for part in name.split(".")[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


def _unsafe_globals(path: Path) -> list[str]:
    if not zipfile.is_zipfile(path):
        return []  # a legacy (pre-1.6) file: weights_only reports what it refuses while loading
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except (ValueError, RuntimeError, KeyError) as err:
        raise FileError(path, f"not a PyTorch checkpoint ({' '.join(str(err).split())[:200]})") from None


def read_checkpoint(path: str | Path, module_classes: Iterable[str] = ()) -> Any:
    """The object a ``torch.save`` file holds, read with ``weights_only=True`` (on the CPU).

    ``module_classes``: fully qualified class names, besides ``torch.nn.modules.*``, that may appear as pickled
    modules; they come back as :class:`ModuleRecord`. Raises a :class:`~seq2expr.files.FileError` naming the file
    when loading would run code, or when the file is not a readable checkpoint.
    """
    path = Path(path)
    allowed = set(module_classes)
    with reading(path):
        unsafe = _unsafe_globals(path)
    refused = [g for g in unsafe if g not in allowed and not _is_torch_module_class(g)]
    if refused:
        raise FileError(path, f"refused: loading this checkpoint would run code ({', '.join(sorted(refused)[:3])}); "
                              "only tensors, containers and module state are read (torch.load weights_only=True)")
    records = [(_record_class(g), g) for g in unsafe]
    try:
        with reading(path), torch.serialization.safe_globals(records):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileError:
        raise
    except Exception as err:  # noqa: BLE001  (UnpicklingError, RuntimeError of a damaged zip, ...): one line
        text = " ".join(str(err).split())
        if "Unsupported global" in text or "weights_only" in text.lower() or "UnpicklingError" in type(err).__name__:
            raise FileError(path, f"refused: loading this checkpoint would run code ({text[:200]})") from None
        raise FileError(path, f"not a readable PyTorch checkpoint ({text[:200]})") from None


def state_dict_of(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The flat ``{name: tensor}`` of what :func:`read_checkpoint` returned: a state dict, one nested under a
    training script's key (``state_dict``, ``model_state_dict``, ``model``), or a pickled module's record."""
    if isinstance(obj, ModuleRecord):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in STATE_KEYS:
            if isinstance(obj.get(key), dict | ModuleRecord):
                return state_dict_of(obj[key], path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors and len(tensors) == len(obj):
            return tensors
    raise FileError(path, f"holds a {type(obj).__name__}, not model weights (a state dict or a pickled module)")
