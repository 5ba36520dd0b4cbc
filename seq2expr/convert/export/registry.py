"""The exporters' registry: each format is one module of this package (named ``to_FORMAT``) that registers a class
with ``@register_exporter("FORMAT")``; the package imports its own modules (:func:`seq2expr.plugins.discover`), so a
new format is a new module, and another package adds one through the ``seq2expr.exporters`` entry point.
``models export --format`` and ``models test`` take their choices from here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import torch

from seq2expr.plugins import Registry

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


EXPORTERS: Registry[Exporter] = Registry("export format")


def register_exporter(name: str) -> Callable[[type], type]:
    """Class decorator: the class (instantiated once) exports format ``name``."""

    def deco(cls: type) -> type:
        cls.name = name
        EXPORTERS.add(name, cls())
        return cls

    return deco


def exporters() -> dict[str, Exporter]:
    """Every registered format by name."""
    return dict(EXPORTERS.items())


def get_exporter(name: str) -> Exporter:
    """The exporter of format ``name``, or one line naming the formats there are."""
    return EXPORTERS.get(name)
