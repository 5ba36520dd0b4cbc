"""The exporters' registry: each format is one module of this package that registers a class with
``@register_exporter("NAME")``; :func:`exporters` finds the modules (named ``to_FORMAT``) with ``pkgutil`` (no
hand-kept list), so a new format is a new module. ``models export --format`` and ``models test`` take their choices
from here."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import torch

Runner = Callable[[np.ndarray], np.ndarray]


class Exporter(Protocol):
    """One export format: the file it writes, the runtime that runs it, and how to write and run that file."""

    name: ClassVar[str]  # the --format value (set by the decorator)
    file: ClassVar[str]  # the graph's file name in the export folder
    runtime: ClassVar[str]  # what runs the file: onnxruntime, torch

    def write(self, program: torch.export.ExportedProgram, path: Path) -> None:
        """Write the traced contract module to ``path``."""

    def runner(self, path: Path) -> Runner:
        """A function running the written file: one-hot ``(N, 4, L)`` float32 -> ``(N, K)``, without seq2expr."""

    def versions(self) -> dict[str, str]:
        """The libraries (and format versions) the file was written with, for contract.json."""


_EXPORTERS: dict[str, Exporter] = {}


def register_exporter(name: str) -> Callable[[type], type]:
    """Class decorator: the class (instantiated once) exports format ``name``."""

    def deco(cls: type) -> type:
        if name in _EXPORTERS:
            raise ValueError(f"exporter {name!r} registered twice")
        cls.name = name
        _EXPORTERS[name] = cls()
        return cls

    return deco


def exporters() -> dict[str, Exporter]:
    """Every registered format by name (its modules imported on the first call)."""
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("to_"):
            importlib.import_module(f"{__package__}.{info.name}")
    return dict(sorted(_EXPORTERS.items()))


def get_exporter(name: str) -> Exporter:
    """The exporter of format ``name``, or one line naming the formats there are."""
    known = exporters()
    if name not in known:
        raise ValueError(f"unknown export format {name!r}; known: {', '.join(known)}")
    return known[name]
