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


CARDS = "<!-- zoo-cards -->"


def on_page_markdown(markdown: str, **kwargs) -> str:
    """The Pretrained models page: its ``<!-- zoo-cards -->`` mark becomes the catalogue's cards (a table, then one
    section per entry), so the page always shows the cards the package ships."""
    if CARDS not in markdown:
        return markdown
    from seq2expr.zoo import list_cards, named_metrics

    cards = list_cards()
    rows = ["| entry | origin | input | predicts | held-out metrics | licence |", "|---|---|---|---|---|---|"]
    for c in cards:
        m = c.metrics[0] if c.metrics else None
        held = (", ".join(f"{k} {v:.3f}" for k, v in named_metrics(m.metrics).items()) + f" on {m.data}") if m \
            else "-"
        origin = "published import" if c.source == "published" else "project-trained"
        rows.append(f"| [`{c.name}`](#{c.name}) {c.version} | {origin} | {c.input.length:,} nt | "
                    f"{'; '.join(t.predicts() for t in c.targets)} | {held} | {c.licence} |")
    sections = []
    for c in cards:
        lines = [f"### {c.name}", "", c.summary, "", "| field | value |", "|---|---|"]
        lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in c.lines()]
        sections.append("\n".join(lines))
    return markdown.replace(CARDS, "\n".join(rows) + "\n\n## The cards\n\n" + "\n\n".join(sections))
