"""Report figures keep every text on the canvas and say what they show (issue 37): the interpretation's
global-importance bars, the variant report's ref/alt logos (one y scale, the variant marked), its effect
histogram and its table (no ``nan`` gene names)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from seq2expr.interpret import logos


@pytest.fixture
def figures(monkeypatch):
    """Figures as the module saves them, kept open to be measured."""
    kept = []

    def keep(fig, path):
        kept.append(fig)
        fig.savefig(path, format="png")  # the canvas as it is, without bbox_inches="tight" rescuing clipped text
        return path

    monkeypatch.setattr(logos, "save_figure", keep)
    yield kept
    for fig in kept:
        logos.plt.close(fig)


def _inside(ext, box) -> bool:
    return box.x0 - 1 <= ext.x0 and ext.x1 <= box.x1 + 1 and box.y0 - 1 <= ext.y0 and ext.y1 <= box.y1 + 1


def _texts_inside(fig) -> None:
    """Everything drawn of each axes (tick labels, axis labels, title) lies on the figure's canvas."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for ax in fig.axes:
        for t in (ax.title, ax.xaxis.label, ax.yaxis.label):
            if t.get_text():
                assert _inside(t.get_window_extent(r), fig.bbox), (t.get_text(), t.get_window_extent(r), fig.bbox)
        assert _inside(ax.get_tightbbox(r), fig.bbox), (ax.get_tightbbox(r), fig.bbox)


@pytest.mark.parametrize("labels", [["REB1", "RAP1"], ["REB1", "RAP1", "ABF1", "GCN4", "MCM1", "NRG1", "SPT15"]])
def test_global_importance_plot_keeps_title_and_ylabel_on_the_canvas(figures, tmp_path, labels):
    out = logos.bar_plot(labels, list(np.linspace(-0.5, 0.8, len(labels))), tmp_path / "gi.png",
                         title="mean predicted change when inserted (both strands)",
                         ylabel="mean change (log2 expression, model scale)")
    assert out.read_bytes().startswith(b"\x89PNG")
    fig = figures[0]
    _texts_inside(fig)
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    assert not ax.title.get_window_extent(r).overlaps(ax.yaxis.label.get_window_extent(r))


def test_ref_and_alt_logos_share_a_scale_and_mark_the_variant(figures, tmp_path):
    rng = np.random.default_rng(0)
    x = np.eye(4)[rng.integers(0, 4, 120)].T
    ref = x * rng.normal(0, 0.05, (1, 120))
    alt = ref.copy()
    alt[:, 60] = [0, -0.6, 0, 0]  # the alternative base lowers the prediction much more than any reference base
    logos.ref_alt_logo(ref, alt, tmp_path / "v.png", ref_centre=60, alt_centre=60, flank=20, title="rs1 GATA1 A>C")
    fig = figures[0]
    top, bottom = fig.axes
    assert top.get_ylim() == bottom.get_ylim() and top.get_ylim()[0] < -0.6  # one scale, room for the alt base
    assert top.get_title() == "rs1 GATA1 A>C (ref)" and bottom.get_title() == "rs1 GATA1 A>C (alt)"
    for ax in (top, bottom):  # the variant's column is shaded
        spans = [p for p in ax.patches if isinstance(p, Rectangle) and np.allclose(p.get_facecolor()[:3],
                                                                                    to_rgb("#f2c14e"))]
        assert [(p.get_x(), p.get_width()) for p in spans] == [(59.5, 1.0)]
    _texts_inside(fig)


def test_effect_histogram_ticks_do_not_overlap(figures, tmp_path):
    from seq2expr.variants.report import histograms

    rng = np.random.default_rng(0)
    effects = {"expression": rng.normal(0, 0.0123, 5000) * rng.exponential(1, 5000)}
    assert histograms(effects, tmp_path) == ["effects_expression.png"]
    fig = figures[0]
    _texts_inside(fig)
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    boxes = [t.get_window_extent(r) for t, x in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True)
             if t.get_text() and lo <= x <= hi]  # the labels drawn
    assert 3 <= len(boxes) <= 7
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_variant_table_and_logo_headings():
    from seq2expr.variants.report import report_html, variant_label

    row = {"id": "rs1", "chrom": "chr1", "pos": 10, "ref": "A", "alt": "C", "gene_id": "ENSG1", "gene_name": np.nan,
           "effect_y": 0.5}
    named = {**row, "id": "rs2", "gene_name": "GATA1"}
    assert variant_label(row) == "rs1 ENSG1 A>C" and variant_label(named) == "rs2 GATA1 A>C"
    assert variant_label({**row, "gene_id": None}) == "rs1 A>C"
    summary = {"input": "v.vcf", "alleles": 2, "scored_alleles": 2, "rows": 2, "mode": "centred", "seconds": 1,
               "background_snvs": 10, "skipped": {}, "skip_reasons": {}}
    page = report_html(summary, [row, named], ["y"], [("rs2 GATA1 A>C", "top1.png")], [])
    assert ">nan<" not in page and "<td>-</td>" in page
    assert "<h3>rs2 GATA1 A&gt;C</h3>" in page
