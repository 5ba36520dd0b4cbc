"""Every HTML report (demo, design, variants, interpretation): jinja2 templates, autoescaped, one number format.

``seq2expr/templates/page.html.j2`` is the page (head, the only style sheet, body); each report's template extends
it and gets plain data (numbers, strings, rows, image file names), never HTML. :func:`fmt` formats every number a
report shows, HTML (the ``fmt`` filter) or markdown alike.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"


def fmt(v: Any, digits: int = 4, missing: str = "-") -> str:
    """A shown value: floats to ``digits`` significant digits; ``missing`` for None, NaN and empty or "nan" text."""
    if v is None or (isinstance(v, str) and v.lower() in ("", "nan")):
        return missing
    if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f"):
        return f"{float(v):.{digits}g}" if math.isfinite(float(v)) else missing
    return str(v)


@functools.cache
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = fmt
    return env


def render(template: str, **data: Any) -> str:
    """The page ``template`` (a file in ``seq2expr/templates``) rendered from ``data``, every value escaped."""
    return _environment().get_template(template).render(**data)
