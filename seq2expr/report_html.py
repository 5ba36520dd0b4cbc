"""The one HTML page of every report (demo, design, variants, interpretation): a jinja2 template holding the CSS.

``seq2expr/templates/page.html.j2`` is the page (head, style sheet, body); a report hands it its title and its
body's parts, HTML it has already escaped (``html.escape`` on every value it shows).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def html_page(title: str, parts: Iterable[str]) -> str:
    """A whole page titled ``title`` (escaped here) whose body is ``parts``, HTML fragments in order."""
    template = _environment().get_template("page.html.j2")
    return template.render(title=title, parts=[p for p in parts if p])
