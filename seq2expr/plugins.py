"""One pattern for every extension point: a :class:`Registry` per kind (models, data sets, attribution methods,
design methods, exporters, importers), filled by a decorator in the module that defines the item.

An extension package discovers its own modules (:func:`discover`, called at the end of its ``__init__``), so adding
an item is adding a module: there is no list to keep. Other packages add items through Python entry points: a
distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."seq2expr.models"]
    my_cnn = "my_package.my_cnn"      # a module that registers itself with @register("my_cnn")

is loaded the first time its registry is asked for a name (the entry point's module is imported; its decorator
registers the item). :func:`module_names` lists the items of a package whose modules are named after their item
without importing anything, so the CLI can offer the choices without loading torch.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Generic, TypeVar

from seq2expr.suggest import did_you_mean

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent


# Each kind's entry-point group, said once (the registries and the CLI read it here, importing nothing heavy), and
# the package whose modules are the built-in items where each module is named after its item (listed by
# :func:`choices` without importing them).
GROUPS = {"model": "seq2expr.models", "data set": "seq2expr.datasets", "attribution method": "seq2expr.attributions",
          "design method": "seq2expr.design_methods", "export format": "seq2expr.exporters",
          "model kind": "seq2expr.importers"}
ONE_MODULE_EACH = {"attribution method": "seq2expr.interpret.methods", "design method": "seq2expr.design.algorithms"}


def choices(kind: str) -> list[str]:
    """The names of ``kind``'s items, built-in and installed (an attribution or a design method), read from module
    and entry-point names: what a command offers, without importing torch."""
    return module_names(ONE_MODULE_EACH[kind], GROUPS[kind])


class PluginError(ValueError):
    """An item registered twice, an unknown name, or an entry point that does not load."""


class Registry(Generic[T]):
    """Named items of one ``kind``. ``group``: the entry-point group third-party packages add items through
    (default: the kind's in :data:`GROUPS`)."""

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group or GROUPS[kind]
        self._items: dict[str, T] = {}
        self._plugins_loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding the decorated class or function under ``name``."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name``; a name is registered once."""
        if name in self._items:
            raise PluginError(f"{self.kind} {name!r} registered twice")
        self._items[name] = obj
        return obj

    def remove(self, name: str) -> None:
        """Take ``name`` out again (an item registered for the span of a test or a session)."""
        self._items.pop(name, None)

    @contextmanager
    def temporary(self, name: str, obj: T) -> Iterator[T]:
        """``obj`` registered as ``name`` inside the ``with`` block only."""
        self.add(name, obj)
        try:
            yield obj
        finally:
            self.remove(name)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(self.group):
            try:
                ep.load()  # its module registers its items on import
            except Exception as err:  # a broken plug-in is named, not a traceback from deep inside importlib
                raise PluginError(f"entry point {ep.name!r} ({ep.value}) of group {self.group!r} does not load: "
                                  f"{err}") from err

    def names(self) -> list[str]:
        """Every registered name, sorted (plug-ins loaded)."""
        self._load_plugins()
        return sorted(self._items)

    def get(self, name: str) -> T:
        """The item ``name``; an unknown name is one error naming the closest known one and all of them."""
        self._load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise PluginError(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """The message for an unknown ``name``."""
        known = self.names()
        return f"unknown {self.kind} {name!r}{did_you_mean(name, known)} (known: {', '.join(known)})"

    def items(self) -> Iterator[tuple[str, T]]:
        for name in self.names():
            yield name, self._items[name]

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._items

    def __len__(self) -> int:
        return len(self.names())


@cache
def _installed() -> metadata.EntryPoints:
    """Every installed entry point, read once per process (each read scans every distribution's metadata)."""
    return metadata.entry_points()


def entry_points(group: str) -> list[metadata.EntryPoint]:
    """The installed entry points of ``group``, sorted by name."""
    return sorted(_installed().select(group=group), key=lambda ep: ep.name)


def discover(package: str, path: Iterable[str]) -> list[str]:
    """Import every public module of ``package`` (``path`` is its ``__path__``): each registers its items. Returns
    the module names, so a package need not list its own modules."""
    names = [info.name for info in pkgutil.iter_modules(list(path)) if not info.name.startswith("_")]
    for name in sorted(names):
        importlib.import_module(f"{package}.{name}")
    return sorted(names)


def module_names(package: str, group: str | None = None) -> list[str]:
    """The public module names of a ``seq2expr`` package, read from its folder without importing it, plus the
    names of ``group``'s entry points: the choices of a registry whose modules are named after their items."""
    folder = ROOT.joinpath(*package.split(".")[1:])
    names = {info.name for info in pkgutil.iter_modules([str(folder)]) if not info.name.startswith("_")}
    if group is not None:
        names |= {ep.name for ep in entry_points(group)}
    return sorted(names)


def summary(obj: object) -> str:
    """The first sentence of an item's docstring, roles and double backticks made plain ("" when it has none): what
    the docs tables and ``seq2expr plugins`` show."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    para = " ".join(doc.split("\n\n")[0].split())
    para = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", para).replace("``", "`")
    end = re.search(r"[.!?](\s|$)", para)
    return para[:end.start() + 1] if end else para
