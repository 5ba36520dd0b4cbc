"""Every HTML report is a jinja2 template extending ``seq2expr/templates/page.html.j2`` (the only style sheet),
autoescaped, fed plain data; one number formatter (``report_html.fmt``) serves them all."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.report_html import TEMPLATES, fmt, render

PACKAGE = Path(__file__).resolve().parents[1] / "seq2expr"
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _safe(page: str) -> None:
    assert "<script" not in page and ESCAPED in page


def test_page_escapes_its_title():
    page = render("page.html.j2", title="a <b> & c")
    assert page.startswith("<!doctype html>") and "<title>a &lt;b&gt; &amp; c</title>" in page
    assert page.count("<style>") == 1


def test_no_template_marks_anything_safe_and_no_module_builds_html_markup():
    templates = list(TEMPLATES.glob("*.j2"))
    assert len(templates) >= 5
    assert [t.name for t in templates if re.search(r"\|\s*safe\b|autoescape\s+false", t.read_text())] == []
    marked = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if re.search(r"\bMarkup\(|<style", p.read_text())]
    assert marked == []


def test_one_number_format():
    assert fmt(0.123456) == "0.1235" and fmt(0.123456, 3) == "0.123" and fmt(np.float32(2.5)) == "2.5"
    assert fmt(np.int64(7)) == "7" and fmt("GATA1") == "GATA1" and fmt(True) == "True"
    assert fmt(None) == fmt(float("nan")) == fmt("nan") == fmt("") == "-" and fmt(None, missing="") == ""


def test_reports_use_the_page_and_no_module_writes_its_own_css():
    from seq2expr.inference import SavedModelConfig
    from seq2expr.interpret.report import MotifResults, report_page

    cfg = SavedModelConfig(model={"name": "m", "seq_len": 10}, target_names=["y"])
    none = MotifResults(patterns=[], matches=pd.DataFrame(), best=pd.DataFrame(), database={}, collections=[],
                        sites=pd.DataFrame())
    page = report_page(cfg, "y", "saliency", 3, [], [], pd.DataFrame(), [], none, None)
    style = (TEMPLATES / "page.html.j2").read_text().split("<style>")[1].split("</style>")[0]
    assert page.startswith("<!doctype html>") and style in page and "Interpretation report" in page
    assert "No motif found" in page and "No significantly matched motif" in page


def test_interpretation_report_escapes_what_it_shows():
    from seq2expr.inference import SavedModelConfig
    from seq2expr.interpret.modisco import Pattern
    from seq2expr.interpret.report import MotifResults, report_page

    cfg = SavedModelConfig(model={"name": "m", "seq_len": 10}, target_names=["y"])
    pwm = np.full((4, 6), 0.25)
    pat = Pattern(HOSTILE, "pos", pwm, pwm, pwm, 12)
    top = pd.DataFrame({"pattern": [HOSTILE], "motif": ["MA1 X"], "tf": [HOSTILE], "q_value": [0.0123456]})
    gi_table = pd.DataFrame({"motif": [HOSTILE], "effect": [1.23456]})
    mo = MotifResults([pat], pd.DataFrame(), pd.DataFrame(), {}, [], pd.DataFrame())
    page = report_page(cfg, HOSTILE, "saliency", 3, [(HOSTILE, 0.5, "s.png")], [(pat, "p.png", HOSTILE, top)],
                       gi_table, ["gi.png"], mo, None)
    _safe(page)
    assert f"<h3>{ESCAPED}: " in page and "<td>0.0123</td>" in page and "<td>1.23</td>" in page
    assert f"{ESCAPED} — predicted {ESCAPED} 0.5" in page and "<img src='img/gi.png'>" in page


def test_variant_report_escapes_what_it_shows():
    from seq2expr.variants.report import report_html

    row = {"id": "rs1", "chrom": "chr1", "pos": 10, "ref": "A", "alt": "C", "gene_name": HOSTILE,
           "effect_y": 0.123456}
    summary = {"input": HOSTILE, "alleles": 2, "scored_alleles": 1, "rows": 1, "mode": "centred", "seconds": 1,
               "background_snvs": 10, "skipped": {HOSTILE: 1}, "skip_reasons": {HOSTILE: HOSTILE},
               "model_card": {"name": HOSTILE, "version": "1", "licence": "MIT", "citation": HOSTILE},
               "model_lineage": {"name": HOSTILE, "parent": "p", "weights_sha256": "0" * 64, "head": "h",
                                 "freeze": "trunk", "data": HOSTILE}}
    page = report_html(summary, [row], ["y"], [(HOSTILE, "top0.png")], ["effects_y.png"])
    _safe(page)
    assert f"Pretrained model <b>{ESCAPED}</b> version 1" in page and "trunk frozen" in page
    assert "<td>0.1235</td>" in page and "<h2>Top 1 by |effect on y|</h2>" in page
    assert "<img src='img/effects_y.png'>" in page and f"<h3>{ESCAPED}</h3><img src='img/top0.png'" in page


def test_design_report_escapes_what_it_shows():
    from seq2expr.design.output import report_page

    summary = {"n": 1, "method": "greedy", "objective": "max", "target": HOSTILE, "candidates": 12345,
               "candidates_per_second": 99.6, "oracle": "none", "diversity": {"mean_hamming": 0.0, "min_hamming": 0},
               "constraints_ok": 1, "member_spread": {"mean": 0.123456, "max": None, "members": 2},
               "construct": HOSTILE, "model_truncated": HOSTILE}
    table = pd.DataFrame({"id": [HOSTILE], "design_score": [1.234567], "oracle_score": [None]})
    page = report_page(summary, table, [(HOSTILE, "d0.png")])
    _safe(page)
    assert "12,345 candidates scored (100/s)" in page and "mean 0.1235, max  over 2 members." in page
    assert "<td>1.235</td><td></td>" in page and f"Warning: {ESCAPED}" in page
    assert "No oracle: the designs are not validated." in page and "<img src='img/trajectory.png'>" in page


def test_demo_page_escapes_what_it_shows():
    page = render("demo.html.j2", title="seq2expr demo", headline=HOSTILE, lines=[HOSTILE], model="cnn",
                  sizes="{'train': 1}", seed=0, threads=2, seconds=3.4, split="", figures=[("run/a.png", "test")],
                  columns=["motif", "q_value", "recovered"], rows=[[HOSTILE, 0.012345, "yes"]], note="n",
                  files=[(HOSTILE, "run/metrics.json")])
    _safe(page)
    assert "<td>0.0123</td><td>yes</td>" in page and "2 torch threads, run time 3 s" in page
    assert "<a href='run/metrics.json'>" in page
