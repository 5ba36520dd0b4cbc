"""The one "did you mean" hint: the closest known name to a misspelt one (difflib), for every message that names
an unknown key, parameter or name. A bottom-layer module (standard library only), so any layer can use it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name`` (difflib's ratio, cut-off 0.6), or None when none is close."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'y'?"`` for the closest known name, or ``""``: appended to an "unknown ..." message."""
    match = closest(name, known)
    return f"; did you mean {match!r}?" if match is not None else ""
