"""The pattern-vs-match figure: each logo's title is clear of the logo above it (they used to overlap)."""

from __future__ import annotations

import numpy as np
import pytest

from seq2expr.interpret import logos


@pytest.mark.parametrize("width,offset", [(6, 0), (9, 2), (20, -3)])
def test_pattern_vs_match_titles_do_not_overlap(monkeypatch, tmp_path, width, offset):
    figures = []

    def keep(fig, path):  # save as the module does, but keep the figure open to measure it
        figures.append(fig)
        fig.savefig(path, format="png")
        return path

    monkeypatch.setattr(logos, "save_figure", keep)
    rng = np.random.default_rng(width)
    cwm = rng.normal(size=(4, width))
    pwm = rng.dirichlet(np.ones(4) * 0.3, size=width).T
    out = logos.pattern_vs_match(cwm, pwm, tmp_path / "p.png", offset=offset, reverse=True,
                                 title="pos_patterns.pattern_0 (pos, 431 seqlets)",
                                 match_title="MA0303.3 GCN4 (q=1.2e-05)")
    assert out.read_bytes().startswith(b"\x89PNG")
    fig = figures[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    top, bottom = fig.axes
    top_box = top.get_tightbbox(renderer)  # the upper logo with its tick labels and title
    title_box = bottom.title.get_window_extent(renderer)
    assert title_box.y1 <= top_box.y0 + 1e-6  # the lower title sits below everything of the upper logo
    assert not title_box.overlaps(top_box)
    assert top.get_xlim() == bottom.get_xlim()  # aligned by Tomtom's offset
    logos.plt.close(fig)
