"""Every HTML report is one page template (``seq2expr/templates/page.html.j2``) holding the only style sheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from seq2expr.report_html import TEMPLATES, html_page

PACKAGE = Path(__file__).resolve().parents[1] / "seq2expr"


def test_page_escapes_its_title_and_keeps_its_parts_in_order():
    page = html_page("a <b> & c", ["<h1>one</h1>", "", "<p>two &amp; three</p>"])
    assert page.startswith("<!doctype html>") and "<title>a &lt;b&gt; &amp; c</title>" in page
    assert page.index("<h1>one</h1>") < page.index("<p>two &amp; three</p>") < page.index("</body>")
    assert page.count("<style>") == 1


def test_reports_use_the_page_and_no_module_writes_its_own_css():
    from seq2expr.inference import SavedModelConfig
    from seq2expr.interpret.report import MotifResults, report_page

    cfg = SavedModelConfig(model={"name": "m", "seq_len": 10}, target_names=["y"])
    none = MotifResults(patterns=[], matches=pd.DataFrame(), best=pd.DataFrame(), database={}, collections=[],
                        sites=pd.DataFrame())
    page = report_page(cfg, "y", "saliency", 3, [], [], pd.DataFrame(), [], none, None)
    style = (TEMPLATES / "page.html.j2").read_text().split("<style>")[1].split("</style>")[0]
    assert page.startswith("<!doctype html>") and style in page and "Interpretation report" in page
    inline = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if "<style" in p.read_text()]
    assert inline == []
