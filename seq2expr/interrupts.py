"""SIGTERM and SIGINT as an exception, so that a scheduler's stop (or Ctrl+C) ends a command honestly.

A batch scheduler sends SIGTERM at a job's time limit or on pre-emption. Without a handler Python dies at once,
leaving temporaries; Lightning's own handler turns it into a clean exit with status 0, so the scheduler records a
success. Inside :func:`handle_signals` both signals raise :class:`Interrupted` wherever the program is: atomic
outputs remove their temporaries on the way out (nothing half-written appears), checkpoints already on disk stay
(a resume starts from the last one), and the command exits with ``128 + signal``: 143 for SIGTERM, 130 for
SIGINT, as a shell reports a process killed by them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """A SIGTERM/SIGINT received inside :func:`handle_signals`. A BaseException, like KeyboardInterrupt, so that
    no ``except Exception`` swallows it. ``where`` is filled in by the code that knows the position (e.g. the
    training epoch and step) on the way up."""

    def __init__(self, signum: int, where: str | None = None):
        super().__init__(signum, where)
        self.signum = int(signum)
        self.where = where

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return f"interrupted ({self.name})" + (f" at {self.where}" if self.where else "")


def _raise(signum: int, frame) -> None:
    raise Interrupted(signum)


@contextmanager
def handle_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise :class:`Interrupted`; the previous handlers come back after.
    Outside the main thread (where Python cannot set handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)
