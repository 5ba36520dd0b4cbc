"""One registry for every architecture: ``@register("name")`` on the class, ``build_model`` to make one.

Every model is a plain ``nn.Module`` taking a one-hot batch ``(B, 4, L)`` and returning ``(B, n_targets)``.
Constructors accept ``seq_len`` and ``n_targets`` plus their own size options, so a saved
``{"name": ..., "params": ...}`` dict rebuilds the exact architecture.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from seq2expr.plugins import Registry
from seq2expr.suggest import did_you_mean

MODELS: Registry[type[nn.Module]] = Registry("model")


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator adding an architecture under ``name`` (a module of :mod:`seq2expr.models`, or of another
    package through the ``seq2expr.models`` entry point)."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        MODELS.add(name, cls)
        cls.registry_name = name
        return cls

    return deco


def list_models() -> list[str]:
    return MODELS.names()


def get_model_class(name: str) -> type[nn.Module]:
    return MODELS.get(name)


def model_parameters(name: str) -> list[str]:
    """The size options of an architecture: its constructor's parameters but ``seq_len`` and ``n_targets``."""
    import inspect

    sig = inspect.signature(get_model_class(name).__init__)
    return [p for p in sig.parameters if p not in ("self", "seq_len", "n_targets")
            and sig.parameters[p].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def check_params(name: str, params: dict) -> None:
    """Refuse an unknown model name, or a ``model.params`` key the architecture does not take, with the closest
    known parameter ("did you mean"), before anything is built or written."""
    known = model_parameters(name)
    for key in params:
        if key not in known:
            raise ValueError(f"model.params.{key}: not a parameter of model {name!r}{did_you_mean(key, known)} "
                             f"(its parameters: {', '.join(known)})")


def build_model(name: str, *, seq_len: int, n_targets: int = 1, **params) -> nn.Module:
    """Instantiate a registered architecture."""
    return get_model_class(name)(seq_len=seq_len, n_targets=n_targets, **params)


def head_names(model: nn.Module) -> tuple[str, ...]:
    """The module names of a model's output head (its ``head_modules``): what fine-tuning keeps or replaces; every
    other tensor is the trunk. Each architecture declares it; a name that names no module is an error."""
    names = tuple(getattr(model, "head_modules", ()) or ())
    if not names:
        raise ValueError(f"model {getattr(model, 'registry_name', type(model).__name__)!r} declares no output head "
                         "(head_modules)")
    for name in names:
        model.get_submodule(name)  # AttributeError for a name that is not a module
    return names


def is_head_tensor(key: str, heads: tuple[str, ...]) -> bool:
    """Whether a ``state_dict`` key belongs to one of the head modules ``heads``."""
    return any(key == h or key.startswith(h + ".") for h in heads)


def new_head_params(name: str, params: dict) -> dict:
    """The ``model.params`` of architecture ``name`` with a new output head: unchanged for most; a tracks model
    (Enformer, Borzoi) reads its trunk's embeddings through a new linear head instead of the published tracks."""
    hook = getattr(get_model_class(name), "new_head_params", None)
    return hook(dict(params)) if hook is not None else dict(params)


def freezes_trunk_by_default(name: str) -> bool:
    """Whether fine-tuning freezes this architecture's trunk unless told otherwise (``train.freeze: auto``)."""
    return bool(getattr(get_model_class(name), "freeze_trunk_by_default", False))


def input_segments(model: nn.Module) -> tuple[tuple[int, int], ...] | None:
    """The ``[start, end)`` segments of a model's input that are reverse-complemented one at a time (``dual``:
    promoter | spacer | distal), found on the model or any module inside it (an ensemble, a folded copy, a
    readout wrapper); None for a single-segment input (the whole input is one strand)."""
    for m in model.modules():
        segments = getattr(m, "strand_segments", None)
        if segments:
            return tuple(segments)
    return None
