"""Atomic output: write to a temporary sibling, then rename, so no reader sees a half-written file.

A write that fails (disk full, read-only folder, no permission) leaves nothing behind and raises a
:class:`~seq2expr.files.FileError` naming the output; :func:`folder_lock` keeps two runs out of one folder.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seq2expr.files import FileError, problem, writing
from seq2expr.user_cache import cache_folder


@contextmanager
def atomic_path(path: str | Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    The temporary (``.NAME.XXXXXXXX``) is OS-locked while the block runs, so the stale temporaries of earlier
    writes of the same output that a killed process left (no lock) are removed here first; the output gets the
    permissions the umask gives a new file or folder (not the temporary's private 0600/0700).
    """
    path = Path(path)
    with user_named(path), writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        clear_stale(path)
        if is_dir:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            tmp = Path(name)
        held = _hold(tmp, None if is_dir else fd)  # locked before another writer's clear_stale can see it
    try:
        with user_named(path), _disk_errors(path):
            yield tmp
            _commit(tmp, path, is_dir)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _release(held)


@contextmanager
def atomic_files(folder: str | Path) -> Iterator[Path]:
    """Stage the files of one result in a temporary folder; on success move them into ``folder`` together (it
    may already hold other files, which are kept), on failure or interruption remove them: no partial result."""
    folder = Path(folder)
    with user_named(folder), writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        clear_stale(folder)
        stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    held = _hold(stage)
    try:
        with user_named(folder), _disk_errors(folder):
            yield stage
        with user_named(folder), writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
            for p in sorted(stage.iterdir()):
                target = folder / p.name
                if p.is_dir() and target.is_dir():
                    shutil.rmtree(target)
                os.replace(p, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        _release(held)


@contextmanager
def temporary_folder(beside: str | Path, tag: str = "tmp") -> Iterator[Path]:
    """A private folder ``.NAME.TAG.XXXXXXXX`` beside ``beside`` for the block's scratch files, removed after it;
    OS-locked like :func:`atomic_path`'s temporaries, so a killed run's is cleared by the next write of ``beside``."""
    beside = Path(beside)
    with user_named(beside), writing(beside):
        beside.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{beside.name}.{tag}.", dir=beside.parent))
    held = _hold(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        _release(held)


def shown_path(name: str | Path, path: Path) -> str:
    """``name`` as the user knows it: a temporary of ``path`` (``.NAME.XXXXXXXX``, or a file inside one) is named
    as ``path`` (or the file inside it), never by its hidden temporary name."""
    p = Path(name)
    try:
        rel = p.relative_to(path.parent)
    except ValueError:
        return str(name)
    if rel.parts and rel.parts[0].startswith(f".{path.name}."):
        return str(path.joinpath(*rel.parts[1:]))
    return str(name)


@contextmanager
def user_named(path: Path) -> Iterator[None]:
    """A :class:`FileError` raised in the block that names a temporary of ``path`` names ``path`` instead."""
    try:
        yield
    except FileError as err:
        shown = shown_path(err.path, path)
        if shown == err.path:
            raise
        raise FileError(shown, err.problem) from err


def _hold(tmp: Path, fd: int | None = None) -> tuple[int | None, Path | None]:
    """An OS lock on a temporary while its writer lives (None without POSIX locks), taken first (another process's
    :func:`clear_stale` removes an unlocked temporary), then its entry in the registry of temporaries
    (:func:`register`). ``fd``: the temporary's descriptor from its creation, locked at once."""
    try:
        import fcntl
    except ImportError:
        if fd is not None:
            os.close(fd)
        return None, register(tmp)
    fd = os.open(tmp, os.O_RDONLY) if fd is None else fd
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, register(tmp)


def _release(held: tuple[int | None, Path | None]) -> None:
    fd, entry = held
    if fd is not None:
        os.close(fd)
    if entry is not None:
        entry.unlink(missing_ok=True)


def registry() -> Path:
    """Where the temporaries of running writes are listed: ``$SEQ2EXPR_CACHE/temporaries/``, one file
    ``PID.XXXXXXXX`` per temporary, holding the host's name and the temporary's absolute path (a line each)."""
    return cache_folder("temporaries")


def register(tmp: Path) -> Path | None:
    """List the temporary ``tmp`` with this process's PID (:func:`registry`), so that a later command finds it
    wherever it is if this process is killed (:func:`sweep_temporaries`); None when the cache cannot be written (the
    next write of the same output still clears it: :func:`clear_stale`)."""
    try:
        folder = registry()
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{os.getpid()}.", dir=folder)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{socket.gethostname()}\n{Path(tmp).absolute()}")
        return Path(name)
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM): alive
        return True
    return True


def sweep_temporaries() -> list[Path]:
    """Remove the temporaries that killed processes left (their PID is dead and no writer holds them), wherever they
    lie, and their entries; returns them. Every command calls it as it starts (``cli.main``). Only an entry's own
    temporary goes: a path that is no temporary's name (``.NAME.XXXXXXXX``) is never removed."""
    gone: list[Path] = []
    try:
        entries = list(registry().iterdir())
    except OSError:
        return gone
    for entry in entries:
        pid = entry.name.partition(".")[0]
        if not pid.isdigit() or _pid_alive(int(pid)):
            continue
        try:
            host, _, text = entry.read_text().strip().partition("\n")
        except OSError:
            continue
        if host and host != socket.gethostname():
            continue  # a shared cache: another machine's PIDs mean nothing here
        tmp = Path(text or entry)  # an empty entry (killed while it was written) names nothing to remove
        if text and _TEMP_NAME.match(tmp.name) and (tmp.exists() or tmp.is_symlink()) and not _is_live(tmp):
            _remove(tmp)
            gone.append(tmp)
        if not text or not (tmp.exists() and _is_live(tmp)):
            entry.unlink(missing_ok=True)
    return gone


def _is_live(tmp: Path) -> bool:
    """Whether a live writer holds the temporary ``tmp`` (see :func:`_hold`); without POSIX locks, assume so."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fd = os.open(tmp, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def clear_stale(path: str | Path) -> list[Path]:
    """Remove the temporaries of earlier writes of ``path`` that no live process holds (left by a kill); returns
    them. ``.NAME.old`` (a replaced folder) goes only once ``path`` is in place again."""
    path = Path(path)
    name = re.compile(rf"^\.{re.escape(path.name)}\.(?:[a-z]+\.)?[a-z0-9_]{{8}}$")
    gone = []
    try:
        siblings = list(path.parent.glob(f".{glob.escape(path.name)}.*"))
    except OSError:
        return gone
    for p in siblings:
        old = p.name == f".{path.name}.old"
        if (old and path.exists()) or (not old and name.match(p.name) and not _is_live(p)):
            _remove(p)
            gone.append(p)
    return gone


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def umask() -> int:
    """The process's umask (read without changing it where the OS tells it)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def _disk_errors(path: Path) -> Iterator[None]:
    """A full or read-only disk while a block writes an output: a FileError naming the output."""
    try:
        yield
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise FileError(getattr(err, "filename", None) or path, problem(err)) from err
        raise


def _permissions(tmp: Path, is_dir: bool) -> None:
    """The mode the umask gives a new file (``0o666 & ~umask``) or folder (``0o777``), for the output and, in a
    folder, everything in it: mkstemp/mkdtemp and some writers (safetensors) make their files private (0600)."""
    mask = umask()
    os.chmod(tmp, (0o777 if is_dir else 0o666) & ~mask)
    if not is_dir:
        return
    for root, dirs, files in os.walk(tmp):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~mask)
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                os.chmod(p, (0o777 if os.stat(p).st_mode & 0o111 else 0o666) & ~mask)


def _commit(tmp: Path, path: Path, is_dir: bool) -> None:
    """Move a finished temporary file/folder into place (a folder replaces the old one)."""
    with writing(path):
        _permissions(tmp, is_dir)
        if is_dir:
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                path.rename(old)
                tmp.rename(path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(path)
        else:
            os.replace(tmp, path)


_TEMP_NAME = re.compile(r"^\..+\.([a-z0-9_]{8}|old)$")  # atomic_path's temporaries: .NAME.XXXXXXXX, .NAME.old


def clear_debris(folder: str | Path) -> list[Path]:
    """Remove the temporaries of writes that a killed process left in ``folder`` (not recursive); returns them.

    Call it only while holding the folder (:func:`folder_lock`); a temporary a live writer holds is kept.
    """
    gone = []
    for p in Path(folder).glob(".*"):
        if _TEMP_NAME.match(p.name) and (p.name.endswith(".old") or not _is_live(p)):
            _remove(p)
            gone.append(p)
    return gone


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


LOCK_FILE = ".seq2expr.lock"


class FolderBusy(FileError):
    """:func:`folder_lock` found the folder held by another process."""


@contextmanager
def folder_lock(folder: str | Path, what: str = "run") -> Iterator[Path]:
    """Hold ``folder/.seq2expr.lock`` (an OS file lock, released even if the process is killed) for the block.

    The file names the holder's PID; a second process asking for the same folder gets a :class:`FolderBusy`
    (a :class:`FileError`) naming the lock file and that PID instead of interleaving its writes with the first one's.
    """
    folder = Path(folder)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no OS file locks, run unguarded
        yield path
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderBusy(path, f"another {what} (PID {holder}) is writing to {folder}; wait for it to end or "
                                   "use another output folder") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino  # not unlinked by a holder that just ended
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def hold_lock(path: str | Path, *, remove: bool = False) -> Iterator[Path]:
    """Hold an OS lock on ``path`` (created if needed) for the block, waiting while another process holds it.

    For short critical sections shared by cooperating processes (several tune workers asking for trials) and for
    a process's "I am alive" mark (see :func:`lock_is_held`); the OS frees it when the holder dies, even by SIGKILL.
    ``remove`` unlinks the file at the end (only for a file no other process waits on). Without POSIX locks
    (Windows) the block runs unguarded.
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        if remove:
            path.unlink(missing_ok=True)
        os.close(fd)


def lock_is_held(path: str | Path) -> bool:
    """Whether a live process holds the OS lock on ``path`` (:func:`hold_lock`); False for a missing file, a file
    whose holder died, or without POSIX locks."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock taken when nobody held it
    return False
