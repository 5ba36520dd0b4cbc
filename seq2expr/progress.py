"""Progress bars on stderr (rich) for the long loops: prediction, evaluation, interpretation, ISM, genome
windows, tuning.

One switch for all of them: a bar shows only when stderr is a terminal, unless ``SEQ2EXPR_PROGRESS`` says
otherwise (``0``/``off`` never, ``1``/``on`` always). Where stderr is not a terminal and the variable is not set (a
batch job's log), the outermost loop that runs longer than a few seconds logs a plain line at each tenth of its work
instead (``lines()``), so that a long step is not silent until it ends. A bar started while another one runs is
added to the same display (nested loops, e.g. ``predict`` inside ISM) and removed when its loop ends. A bar is drawn
only once its work has run for half a second and is cleared when it ends, and loops of one step show nothing, so the
many small ``predict`` calls of a search neither flicker nor fill the terminal.

``track(iterable)`` counts a loop's items; ``@staged(n, "name")`` gives a function of ``n`` stages a bar that
its body moves with ``step()``.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
ENV = "SEQ2EXPR_PROGRESS"
DELAY = 0.5  # seconds before a bar is drawn
_OFF, _ON = {"0", "off", "false", "no"}, {"1", "on", "true", "yes"}
_active: list = []  # the one rich Progress on screen, while any bar runs
_screen: dict[str, Any] = {}  # its timer, lock and whether it is drawn (done: its outermost bar ended)
_stages: list[Callable[[int], None]] = []  # advance() of the innermost @staged function running


def enabled() -> bool:
    """Whether bars are shown: ``SEQ2EXPR_PROGRESS`` if set, else whether stderr is a terminal."""
    env = os.environ.get(ENV, "").strip().lower()
    if env in _OFF:
        return False
    if env in _ON:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def lines() -> bool:
    """Whether long loops log plain progress lines instead: stderr is no terminal and ``SEQ2EXPR_PROGRESS`` unset."""
    return os.environ.get(ENV, "").strip() == "" and not enabled()


LINE_DELAY = 5.0  # seconds a loop runs before its first line: quick loops log nothing
_lining: list[str] = []  # the outermost loop logging lines, while it runs


@contextmanager
def _progress_lines(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """``advance(n)`` that logs ``description: 30% (300/1000)`` as the count passes each tenth of ``total``,
    once the loop has run LINE_DELAY seconds (the display only: nothing else reads the clock)."""
    import logging
    import time

    log = logging.getLogger(__name__)
    start, done, said = time.monotonic(), [0], [0]
    _lining.append(description)

    def advance(n: int = 1) -> None:
        done[0] += n
        tenth = min(10, done[0] * 10 // total)
        if tenth > said[0] and time.monotonic() - start >= LINE_DELAY:
            said[0] = tenth
            log.info("%s: %d%% (%d/%d)", description, 10 * tenth, done[0], total)

    try:
        yield advance
    finally:
        _lining.pop()


@contextmanager
def progress_bar(total: int | None, description: str, *, disable: bool = False) -> Iterator[Callable[[int], None]]:
    """A bar of ``total`` steps for the duration of the ``with``; yields ``advance(n=1)``.

    For loops whose steps are not an iterable's items (e.g. optuna trials reported through a callback).
    """
    if disable or (total is not None and total <= 1):
        yield lambda n=1: None
        return
    if not enabled():
        if lines() and total and not _lining:
            with _progress_lines(total, description) as advance:
                yield advance
        else:
            yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    outer = not _active
    if outer:
        bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        _screen.update(lock=threading.Lock(), done=False, shown=False, paused=False)
        _screen["timer"] = _start_timer(bar)
        _active.append(bar)
    bar = _active[0]
    task = bar.add_task(description, total=total)
    try:
        yield lambda n=1: bar.advance(task, n)
    finally:
        if outer:
            _screen["timer"].cancel()
            with _screen["lock"]:
                _screen["done"] = True
                if _screen["shown"]:
                    bar.stop()
            _active.clear()
        else:
            bar.remove_task(task)


def _start_timer(bar) -> threading.Timer:
    """Draw ``bar`` after DELAY: quick calls (most predict() calls of a search) never draw."""
    def show() -> None:
        with _screen["lock"]:
            if not _screen["done"]:
                bar.start()
                _screen["shown"] = True

    timer = threading.Timer(DELAY, show)
    timer.daemon = True
    timer.start()
    return timer


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with no progress thread alive: the bar on screen is taken down (its refresh thread ends)
    and drawn again after the block; one not drawn yet waits. For work that forks and needs this process to run
    no other thread, such as TF-MoDISco compiling its numba kernels in forked children (with a thread alive it
    compiles them here)."""
    if not _active or _screen.get("paused"):
        yield
        return
    bar = _active[0]
    _screen["paused"] = True
    _screen["timer"].cancel()
    _screen["timer"].join()
    refresh = None
    with _screen["lock"]:
        shown = _screen["shown"]
        if shown:
            refresh = getattr(bar.live, "_refresh_thread", None)  # rich's stop() signals it but does not join it
            bar.stop()  # the tasks are kept
    if refresh is not None:
        refresh.join()  # gone within one refresh period
    try:
        yield
    finally:
        _screen["paused"] = False
        if shown:
            bar.start()
        else:
            _screen["timer"] = _start_timer(bar)


def track(iterable: Iterable[T], total: int | None = None, description: str = "working", *,
          disable: bool = False) -> Iterator[T]:
    """Yield the items of ``iterable`` while a bar counts them (``total`` defaults to ``len(iterable)``)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar(total, description, disable=disable) as advance:
        for item in iterable:
            yield item
            advance(1)


def staged(total: int, description: str) -> Callable[[F], F]:
    """Decorate a function of ``total`` stages: a bar runs while it does, and :func:`step` advances it."""
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with progress_bar(total, description) as advance:
                _stages.append(advance)
                try:
                    return fn(*args, **kwargs)
                finally:
                    _stages.pop()
        return wrapper  # type: ignore[return-value]
    return decorate


def step(n: int = 1) -> None:
    """Mark ``n`` stages of the running :func:`staged` function done (nothing outside one)."""
    if _stages:
        _stages[-1](n)
