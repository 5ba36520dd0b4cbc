"""The output-path guard: a command never writes over what it reads, nor over a folder it did not make.

:func:`check_output` is called by every library function that writes a command's result (``predict_file``,
``evaluate``, ``merge_tables``, the variant, design and interpretation writers, ``build_gene_dataset``,
``run_demo``; ``train`` has its own rule in :func:`check_run_folder`), before any work, so the CLI and the Python
API are protected alike. It refuses, with a :class:`~seq2expr.files.FileError` naming both paths:

* an output that is, holds, or lies inside an input of the run (symlinks and ``..`` resolved);
* an output folder that exists, is not empty and does not carry the marker (:data:`MARKER`, a small JSON file
  naming the command) of a previous output of the same command; such a previous output is replaced only with
  ``force`` (``--force``);
* a folder where a file is wanted, or a file where a folder is wanted.

Every output folder a command creates gets the marker (:func:`write_marker`, called inside the temporary
folder before it is moved into place). This module is near the bottom (it imports only :mod:`seq2expr.files`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from seq2expr.files import FileError

MARKER = ".seq2expr-output"  # JSON {"command": ...} in every output folder a command creates
LOCK_NAME = ".seq2expr.lock"  # a run folder's lock (seq2expr.atomic.folder_lock); never a user's file

PathLike = str | os.PathLike


def _resolved(path: PathLike) -> Path:
    """The absolute path with symlinks and ``..`` resolved (as far as it exists); a symlink loop is a
    :class:`FileError` naming the path as given."""
    try:
        return Path(os.path.expanduser(os.fspath(path))).resolve(strict=False)
    except (RuntimeError, OSError) as err:  # Python < 3.13: RuntimeError("Symlink loop ..."); later: ELOOP
        raise FileError(path, "is a symlink loop (its links lead back to themselves); point it at a real "
                              "file") from err


def _paths(inputs: Iterable[object]) -> list[PathLike]:
    """The inputs that are paths (None, loaded models, records and data-set names are skipped)."""
    out: list[PathLike] = []
    for x in inputs:
        if isinstance(x, str | os.PathLike) and os.fspath(x):
            out.append(x)
    return out


def relation(output: PathLike, input: PathLike) -> str | None:
    """How ``output`` overlaps ``input``: ``"is"``, ``"holds"`` (the input lies inside the output), ``"inside"``
    (the output lies inside the input), or None."""
    o, i = _resolved(output), _resolved(input)
    if o == i:
        return "is"
    if o in i.parents:
        return "holds"
    if i in o.parents:
        return "inside"
    return None


def check_inputs(output: PathLike, inputs: Iterable[object]) -> None:
    """Refuse an ``output`` that is, holds, or lies inside one of ``inputs`` (paths; other objects are skipped)."""
    for inp in _paths(inputs):
        how = relation(output, inp)
        if how == "is":
            raise FileError(output, f"is the input {os.fspath(inp)}; the output would replace it: choose another "
                                    "output path")
        if how == "holds":
            raise FileError(output, f"holds the input {os.fspath(inp)}; the output would replace it: choose an "
                                    "output outside the inputs")
        if how == "inside":
            raise FileError(output, f"is inside the input {os.fspath(inp)}; choose an output outside the inputs")


def read_marker(folder: PathLike) -> str | None:
    """The command whose output ``folder`` is (its :data:`MARKER`), or None."""
    try:
        meta = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta.get("command") if isinstance(meta, dict) else None


def write_marker(folder: PathLike, command: str) -> Path:
    """Mark ``folder`` as the output of ``command`` (call it on the temporary folder before it is moved in)."""
    path = Path(folder) / MARKER
    tmp = path.with_name(f"{MARKER}.{os.getpid()}")  # renamed into place: a kill never leaves half a marker
    tmp.write_text(json.dumps({"command": command, "note": "written by seq2expr: this folder is the output of "
                               f"`seq2expr {command}` and may be replaced by it with --force"}) + "\n")
    os.replace(tmp, path)
    return path


def check_output(output: PathLike, inputs: Iterable[object] = (), *, command: str, folder: bool = False,
                 force: bool = False) -> Path:
    """Refuse an output that would lose a user's data (see the module docstring); returns ``Path(output)``.

    ``folder``: the output is a folder (replaced as a whole, and marked); else a file, which replaces an existing
    file that is not an input (an output file carries no marker). ``force``: replace a previous output folder of
    the same ``command``.
    """
    out = Path(output)
    check_inputs(out, inputs)
    if not folder:
        if out.is_dir():
            raise FileError(out, f"is a folder; the {command} output is a file: give a file path")
        return out
    if out.exists() and not out.is_dir():
        raise FileError(out, f"exists and is a file; the {command} output is a folder: choose a new folder")
    if not out.is_dir() or all(p.name == LOCK_NAME for p in out.iterdir()):  # new, empty, or only its run lock
        return out
    mark = read_marker(out)
    if mark == command:
        if not force:
            raise FileError(out, f"holds a previous `{command}` output; pass --force to replace it, or choose a "
                                 "new folder")
        return out
    what = f"the output of `{mark}`" if mark else f"not empty and holds no output of `{command}` (no {MARKER})"
    raise FileError(out, f"exists and is {what}; choose a new folder (--force replaces only a previous output of "
                         f"`{command}`)")


def check_run_folder(folder: PathLike, inputs: Iterable[object] = (), *, command: str,
                     owns: Callable[[str], bool], legacy: Callable[[Path], bool] | None = None) -> bool:
    """The rule of a command that adds to a folder (``train``): it never writes over a file it did not create.

    ``owns(name)``: whether the command writes the top-level entry ``name`` of the folder. The folder may be new,
    or its own (the marker, or ``legacy(folder)`` for a folder from before markers); any other existing folder
    may hold anything but the entries the command writes. An input may not be the folder or hold it, and may lie
    inside it only under a name the command does not write (the folder's own ``config.yaml`` excepted, which the
    command wrote). Returns whether the folder is already the command's own.
    """
    out = Path(folder)
    mark = read_marker(out) if out.is_dir() else None
    own = mark == command or (out.is_dir() and legacy is not None and legacy(out))
    for inp in _paths(inputs):
        how = relation(out, inp)
        if how in ("is", "inside"):
            check_inputs(out, [inp])
        elif how == "holds":
            top = _resolved(inp).relative_to(_resolved(out)).parts[0]
            if owns(top) and not (own and top == "config.yaml"):
                raise FileError(out, f"holds the input {os.fspath(inp)}, which `{command}` would write over: choose "
                                     "another output folder")
    if out.exists() and not out.is_dir():
        raise FileError(out, f"exists and is a file; the {command} output is a folder: choose a new folder")
    if mark is not None and mark != command:
        raise FileError(out, f"exists and is the output of `{mark}`; choose another folder for `{command}`")
    if out.is_dir() and not own:
        taken = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME and owns(p.name))
        if taken:
            raise FileError(out / taken[0], f"exists and was not written by `{command}` ({out} holds no {MARKER} "
                                            "marker of it); choose another output folder")
    return own
