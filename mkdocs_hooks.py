"""mkdocs hook: docstrings use Sphinx cross-reference roles (:func:`x`, :class:`~a.b.C`); the rendered API pages
show them as plain code (``x``, ``C``) instead of the literal role text."""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def _code(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs) -> str:
    """Replace role markup left in the page's HTML by the referenced name in code style."""
    return ROLE.sub(_code, html)
