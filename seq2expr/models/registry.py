"""One registry for every architecture: ``@register("name")`` on the class, ``build_model`` to make one.

Every model is a plain ``nn.Module`` taking a one-hot batch ``(B, 4, L)`` and returning ``(B, n_targets)``.
Constructors accept ``seq_len`` and ``n_targets`` plus their own size options, so a saved
``{"name": ..., "params": ...}`` dict rebuilds the exact architecture.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_MODELS: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator adding an architecture under ``name``."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = cls
        cls.registry_name = name
        return cls

    return deco


def list_models() -> list[str]:
    return sorted(_MODELS)


def get_model_class(name: str) -> type[nn.Module]:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}") from None


def model_parameters(name: str) -> list[str]:
    """The size options of an architecture: its constructor's parameters but ``seq_len`` and ``n_targets``."""
    import inspect

    sig = inspect.signature(get_model_class(name).__init__)
    return [p for p in sig.parameters if p not in ("self", "seq_len", "n_targets")
            and sig.parameters[p].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def check_params(name: str, params: dict) -> None:
    """Refuse an unknown model name, or a ``model.params`` key the architecture does not take, with the closest
    known parameter ("did you mean"), before anything is built or written."""
    import difflib

    known = model_parameters(name)
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"model.params.{key}: not a parameter of model {name!r}{hint} (its parameters: "
                             f"{', '.join(known)})")


def build_model(name: str, *, seq_len: int, n_targets: int = 1, **params) -> nn.Module:
    """Instantiate a registered architecture."""
    return get_model_class(name)(seq_len=seq_len, n_targets=n_targets, **params)


def input_segments(model: nn.Module) -> tuple[tuple[int, int], ...] | None:
    """The ``[start, end)`` segments of a model's input that are reverse-complemented one at a time (``dual``:
    promoter | spacer | distal), found on the model or any module inside it (an ensemble, a folded copy, a
    readout wrapper); None for a single-segment input (the whole input is one strand)."""
    for m in model.modules():
        segments = getattr(m, "strand_segments", None)
        if segments:
            return tuple(segments)
    return None
