"""One error path for files that cannot be read or written: a :class:`FileError` reading ``FILE: problem``.

Bottom layer (imports nothing of the package), so every layer wraps its reads in :func:`reading`: truncation,
bad compression, wrong encoding, binary content, a permission problem, a missing file or a file that is not
valid JSON/YAML/safetensors become one line that names the file, which the CLI prints as ``error: ...`` with
exit code 2 (:func:`seq2expr.cli.common.user_errors`).
"""

from __future__ import annotations

import errno
import functools
import inspect
import json
import os
import signal
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# what a damaged or unreadable file raises while it is read or parsed (SafetensorError and yaml.YAMLError are
# matched by name in :func:`problem`, so this module needs neither library)
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, UnicodeDecodeError,
                                                json.JSONDecodeError)


class FileError(ValueError):
    """A file that cannot be read or written. ``str(err)`` reads ``FILE: PROBLEM``."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _oneline(text: object) -> str:
    return " ".join(str(text).split())


def problem(err: BaseException) -> str:
    """A short, one-line description of why a file could not be read or written."""
    name = type(err).__name__
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, PermissionError):
        return "permission denied"
    if isinstance(err, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(err, NotADirectoryError):
        return "a part of the path is not a folder"
    if isinstance(err, EOFError):
        return "truncated (the compressed data ends early)"
    if name == "BadGzipFile" or isinstance(err, zlib.error):
        return f"corrupt compressed data ({_oneline(err)})"
    if isinstance(err, UnicodeDecodeError):
        return (f"not UTF-8 text (binary content? byte 0x{err.object[err.start]:02x} at byte {err.start})"
                if err.start < len(err.object) else "not UTF-8 text")
    if isinstance(err, json.JSONDecodeError):
        return f"not valid JSON (line {err.lineno} column {err.colno}: {err.msg})"
    if name == "SafetensorError":
        return f"truncated or not a safetensors file ({_oneline(err)})"
    if hasattr(err, "problem_mark") or name.endswith(("YAMLError", "ScannerError", "ParserError", "ComposerError")):
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        return f"not valid YAML ({where}{_oneline(getattr(err, 'problem', None) or err)})"
    if isinstance(err, OSError):
        if err.errno == errno.ENOSPC:
            return "no space left on the device"
        if err.errno == errno.EROFS:
            return "read-only file system"
        if err.errno == errno.EDQUOT:
            return "disk quota exceeded"
        if err.errno == errno.ELOOP:
            return "a symlink loop (its links lead back to themselves)"
        return _oneline(err.strerror or err)
    return _oneline(err)


def is_file_error(err: BaseException) -> bool:
    """True for what a damaged, unreadable or unwritable file raises (see :data:`READ_ERRORS`)."""
    name = type(err).__name__
    return (isinstance(err, READ_ERRORS) or name == "SafetensorError" or hasattr(err, "problem_mark")
            or name.endswith("YAMLError"))


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn what a damaged/unreadable ``path`` raises inside the block into a :class:`FileError` naming it.

    Other errors (a :class:`FileError` or a record-level ``DataError`` already naming the file) pass unchanged.
    """
    try:
        yield
    except FileError:
        raise
    except Exception as err:
        if not is_file_error(err):
            raise
        raise FileError(getattr(err, "filename", None) or path, problem(err)) from err


writing = reading  # the same translation for writes (disk full, read-only folder, permission denied)


def reads(param: str = "path") -> Callable[[F], F]:
    """Decorator: the function (or generator) reads the file given as its argument ``param``; what that file
    raises while damaged or unreadable becomes a :class:`FileError` naming it (see :func:`reading`)."""

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)

        def path_of(a, k):
            return sig.bind_partial(*a, **k).arguments.get(param, "(input)")

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*a, **k):
                with reading(path_of(a, k)):
                    yield from fn(*a, **k)
            return gen  # type: ignore[return-value]

        @functools.wraps(fn)
        def call(*a, **k):
            with reading(path_of(a, k)):
                return fn(*a, **k)
        return call  # type: ignore[return-value]

    return wrap


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``; any failure is a :class:`FileError` naming it."""
    with reading(path):
        return Path(path).read_text(encoding="utf-8")


def read_json(path: str | Path):
    """The parsed JSON of ``path``; any failure (including invalid JSON) is a :class:`FileError` naming it."""
    with reading(path):
        return json.loads(Path(path).read_text(encoding="utf-8"))


FAULT_ENV = "SEQ2EXPR_FAULT"
_fault_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """A test hook for crash safety: with ``SEQ2EXPR_FAULT=NAME[:K[:SIGNAL]]`` the process kills itself (SIGKILL, as
    a power cut or an OOM kill would; or ``TERM``/``INT``, as a scheduler's stop or Ctrl+C would) the K-th time
    (default 1st) it reaches the point ``NAME``; otherwise nothing.

    Points: ``encode`` (data preparation, the encoded cache half-written), ``batch`` (after a training step),
    ``checkpoint`` (a checkpoint half-written), ``export`` (the final model folder half-written), ``chunk`` (a
    ``predict`` or ``variants`` output with its first chunks written).
    """
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    want, _, rest = spec.partition(":")
    if want != name:
        return
    k, _, sig = rest.partition(":")
    _fault_hits[name] = _fault_hits.get(name, 0) + 1
    if _fault_hits[name] == int(k or 1):
        os.kill(os.getpid(), getattr(signal, f"SIG{sig.upper() or 'KILL'}"))
