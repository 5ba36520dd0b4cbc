"""A construct's fixed flanks, looked up one way for every command: ``design`` (``--construct``, the model's own by
default), ``variants`` (centred windows inside a construct) and ``models export`` (golden sequences inside it).

A construct is named by a registry data set (its assay's flanks around the measured variable region), given as a
``(left, right)`` pair, refused with ``none``, or taken from the data set the model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

from seq2expr.data.errors import DataError
from seq2expr.inference.saved import SavedModel

ConstructSpec = str | tuple[str, str] | None  # a data set's name, (left, right), "none", or None


@dataclass(frozen=True)
class Construct:
    """Fixed flanks and where they came from: ``dataset``, the registry data set whose construct they are (None for
    flanks given as such, or none); ``own``: the model's own, taken by default."""

    left: str = ""
    right: str = ""
    dataset: str | None = None
    own: bool = False

    @property
    def pair(self) -> tuple[str, str]:
        return self.left, self.right

    @property
    def label(self) -> str | None:
        """What a summary says: the data set's name, ``NAME (the model's own)``, or None."""
        return f"{self.dataset} (the model's own)" if self.own else self.dataset


def dataset_construct(name: str) -> tuple[str, str]:
    """A registry data set's construct flanks ``(left, right)``; an unknown data set is the registry's error, one
    without a construct a :class:`DataError` (the one wording)."""
    from seq2expr.data.registry import get_entry

    flanks = get_entry(name).construct
    if flanks is None:
        raise DataError(f"data set {name!r} defines no construct (fixed flanks)")
    return flanks


def trained_construct(saved: SavedModel) -> tuple[str, str, str] | None:
    """``(data set, left, right)``: the construct of the registry data set the model was trained on, or None (no
    data set, one this installation does not know, or one without a construct)."""
    name = saved.config.data.dataset
    if not name:
        return None
    try:
        left, right = dataset_construct(name)
    except ValueError:  # DataError is one: unknown here, or no construct; nothing to state
        return None
    return str(name), left, right


def construct_spec(construct: str | None, left: str = "", right: str = "") -> ConstructSpec:
    """A command's ``--construct`` and ``--construct-left/--construct-right`` (or ``--left/--right-flank``) as one
    spec: flanks given as such (either non-empty) win over a named construct."""
    return (left, right) if left or right else construct


def resolve_construct(spec: ConstructSpec = None, *, model: SavedModel | None = None) -> Construct:
    """The flanks a command works inside, from ``spec``: a ``(left, right)`` pair as given, ``none`` (any case) no
    flanks, another string a registry data set's construct; ``None``: with ``model``, the model's own construct
    when its flanks leave room for a variable region, else no flanks."""
    if isinstance(spec, tuple):
        return Construct(*spec)
    if isinstance(spec, str):
        return Construct() if spec.lower() == "none" else Construct(*dataset_construct(spec), dataset=spec)
    own = trained_construct(model) if model is not None else None
    if own is None or len(own[1]) + len(own[2]) >= model.config.seq_len:
        return Construct()
    return Construct(own[1], own[2], dataset=own[0], own=True)
