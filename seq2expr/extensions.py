"""Every extension point in one table: what each kind is, the one file that adds one, the registry that holds them and
the entry-point group through which another package adds its own. ``seq2expr plugins`` lists what is registered,
``docs/DEVELOPING.md``'s "to add X" table and ``docs/extending.md``'s catalogue are generated from here (a test
keeps them equal), and the registry-wide tests take their parameters from here.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass

from seq2expr.plugins import Registry, summary


@dataclass(frozen=True)
class ExtensionPoint:
    """One kind of extension: its registry (imported on first use), the file that adds one and its decorator."""

    kind: str
    new_file: str
    decorator: str
    test: str
    offered_by: str
    load: Callable[[], Registry]
    # the CLI reads the names off the modules' file names, without importing them: each module is named after
    # its one item (a module of a model or data-set package may hold several, and helpers)
    named_by_file: bool = False

    @property
    def registry(self) -> Registry:
        return self.load()

    @property
    def group(self) -> str:
        return self.registry.group


def _models() -> Registry:
    from seq2expr.models.registry import MODELS

    return MODELS


def _datasets() -> Registry:
    from seq2expr.data.registry import DATASETS

    return DATASETS


def _attributions() -> Registry:
    from seq2expr.interpret.methods import ATTRIBUTIONS

    return ATTRIBUTIONS


def _design() -> Registry:
    from seq2expr.design.algorithms import ALGORITHMS

    return ALGORITHMS


def _exporters() -> Registry:
    from seq2expr.convert.export import EXPORTERS

    return EXPORTERS


def _importers() -> Registry:
    from seq2expr.convert.importers import IMPORTERS

    return IMPORTERS


POINTS: tuple[ExtensionPoint, ...] = (
    ExtensionPoint("model", "seq2expr/models/NAME.py", '@register("NAME") on an nn.Module with head_modules, example',
                   "tests/test_model_NAME.py", "model.name in configs, models info, the contract tests", _models),
    ExtensionPoint("data set", "seq2expr/data/datasets/NAME.py", "register_dataset(DatasetEntry(...))",
                   "tests/test_registry.py", "NAME[:SUBSET] inputs, data list/info/fetch", _datasets),
    ExtensionPoint("attribution method", "seq2expr/interpret/methods/NAME.py", '@ATTRIBUTIONS.register("NAME")',
                   "tests/test_oracles.py", "attribute(), interpret --method, variants/design --attributions",
                   _attributions, named_by_file=True),
    ExtensionPoint("design method", "seq2expr/design/algorithms/NAME.py", '@ALGORITHMS.register("NAME")',
                   "tests/test_design.py", "design(), design --method", _design, named_by_file=True),
    ExtensionPoint("export format", "seq2expr/convert/export/to_NAME.py", '@register_exporter("NAME")',
                   "tests/test_export.py", "models export --format, models test", _exporters),
    ExtensionPoint("importer", "seq2expr/convert/published.py (a function)", '@importer("KIND", ...)',
                   "tests/test_importers.py", "models import KIND", _importers),
)


def _defined(obj: object) -> object:
    """What defines an item: a class or function itself, a data set's loader, an instance's class."""
    if isinstance(obj, type) or inspect.isfunction(obj):
        return obj
    loader = getattr(obj, "loader", None)
    return loader if loader is not None else type(obj)


def describe(obj: object, name: str = "") -> str:
    """The one-line description of a registered item: a data set's ``description`` (to its first ``;``), else the
    first line of its docstring ("" when it has none)."""
    text = getattr(obj, "description", None)
    if isinstance(text, str):
        return text.split(";")[0].strip()
    defined = _defined(obj)
    module = sys.modules.get(getattr(defined, "__module__", ""))
    if inspect.isfunction(defined) and module is not None and module.__name__.rsplit(".", 1)[-1] == name:
        return summary(module)  # a module of one method says what the method is
    return summary(defined)


def origin(obj: object) -> str:
    """Where an item comes from: ``built-in``, or the module of the package that registered it."""
    module = getattr(_defined(obj), "__module__", "") or ""
    return "built-in" if module.startswith("seq2expr.") else module


def rows() -> list[dict[str, str]]:
    """Every registered item of every kind: ``kind, name, origin, description``."""
    return [{"kind": p.kind, "name": name, "origin": origin(obj), "description": describe(obj, name)}
            for p in POINTS for name, obj in p.registry.items()]


def how_to_add_table() -> str:
    """The markdown "to add X, touch these files" table of ``docs/DEVELOPING.md``."""
    lines = ["| To add a | Write this one file | Registered by | Its test | Offered by | Entry-point group |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {p.kind} | `{p.new_file}` | `{p.decorator}` | `{p.test}` | {p.offered_by} | `{p.group}` |"
              for p in POINTS]
    return "\n".join(lines)


def catalogue_table() -> str:
    """The markdown list of every built-in item of ``docs/extending.md``."""
    lines = ["| Kind | Name | Description |", "|---|---|---|"]
    lines += [f"| {r['kind']} | `{r['name']}` | {r['description'].replace('|', '/')} |" for r in rows()
              if r["origin"] == "built-in"]
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {"extension-points": how_to_add_table, "catalogue": catalogue_table}


def render(text: str) -> str:
    """``text`` with every generated block (between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``) rewritten."""
    for name, make in BLOCKS.items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        while begin in text:
            head, rest = text.split(begin, 1)
            _, tail = rest.split(end, 1)
            text = f"{head}\x00{name}\x00{tail}"
        text = text.replace(f"\x00{name}\x00", f"{begin}\n{make()}\n{end}")
    return text


if __name__ == "__main__":  # python -m seq2expr.extensions FILE...: rewrite the generated tables in place
    import pathlib

    for arg in sys.argv[1:]:
        path = pathlib.Path(arg)
        path.write_text(render(path.read_text()))
