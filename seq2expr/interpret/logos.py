"""Sequence logos (logomaker, matplotlib Agg): attributions of one sequence, motifs, pattern vs match."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from seq2expr.atomic import atomic_path  # noqa: E402
from seq2expr.data.sequences import reverse_complement_onehot  # noqa: E402


def _frame(mat: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(mat, dtype=np.float64).T, columns=list("ACGT"))


def _ic_matrix(pwm: np.ndarray) -> np.ndarray:
    """Probability matrix scaled to information content (bits) per position."""
    p = np.clip(np.asarray(pwm, dtype=np.float64), 1e-9, None)
    p = p / p.sum(0, keepdims=True)
    ic = 2 + (p * np.log2(p)).sum(0)
    return p * ic[None]


def _draw(ax, mat: np.ndarray, title: str = "", ylabel: str = "", start: int = 0) -> None:
    import logomaker

    df = _frame(mat)
    df.index = df.index + start
    logomaker.Logo(df, ax=ax, color_scheme="classic")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save a figure as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def attribution_logo(attr: np.ndarray, path: str | Path, *, start: int = 0, end: int | None = None,
                     title: str = "") -> Path:
    """Logo of one sequence's ``(4, L)`` attributions (observed bases) on the window ``[start, end)``."""
    a = np.asarray(attr)[:, start:end]
    fig, ax = plt.subplots(figsize=(max(4.0, a.shape[1] * 0.09), 1.6))
    _draw(ax, a, title, "attribution", start)
    return save_figure(fig, path)


def motif_logo(mat: np.ndarray, path: str | Path, *, kind: str = "pwm", title: str = "") -> Path:
    """Logo of a ``(4, w)`` motif: a PWM as information content (``kind="pwm"``) or a CWM as is."""
    fig, ax = plt.subplots(figsize=(max(2.5, mat.shape[1] * 0.25), 1.5))
    _draw(ax, _ic_matrix(mat) if kind == "pwm" else mat, title, "bits" if kind == "pwm" else "contribution")
    return save_figure(fig, path)


def pattern_vs_match(cwm: np.ndarray, match_pwm: np.ndarray | None, path: str | Path, *, offset: int = 0,
                     reverse: bool = False, title: str = "", match_title: str = "") -> Path:
    """A pattern's CWM above its database match (aligned by Tomtom's offset and strand).

    The two logos share the x axis (positions only under the lower one) and a constrained layout keeps each
    title clear of the logo above it.
    """
    rows = 2 if match_pwm is not None else 1
    m = None
    if match_pwm is not None:
        m = reverse_complement_onehot(np.asarray(match_pwm)) if reverse else np.asarray(match_pwm)
    width = max(cwm.shape[1], (m.shape[1] + abs(offset)) if m is not None else 0)
    longest = max(len(title), len(match_title) if m is not None else 0)
    fig, axes = plt.subplots(rows, 1, figsize=(max(3.0, width * 0.25, longest * 0.075), 1.7 * rows), squeeze=False,
                             sharex=True, layout="constrained")
    _draw(axes[0, 0], cwm, title, "contribution")
    axes[0, 0].set_xlim(-0.5 + min(0, -offset), width - 0.5)
    if m is not None:
        _draw(axes[1, 0], _ic_matrix(m), match_title, "bits", start=-offset)
        axes[0, 0].tick_params(labelbottom=False)
    return save_figure(fig, path)


def _wrap(text: str, chars: int) -> str:
    """``text`` broken into lines of at most ``chars`` characters (labels longer than their axis)."""
    return "\n".join(textwrap.wrap(text, max(8, chars))) if text else text


def effect_plot(df: pd.DataFrame, path: str | Path, *, x: str = "spacing", y: str = "effect_ab",
                hue: str = "orientation", title: str = "", ref_lines: dict[str, float] | None = None,
                ylabel: str | None = None) -> Path:
    """Line plot of a tidy global-importance table (e.g. pair effect vs spacing per orientation); ``ylabel``
    (default: the column name) should name the scale of the values."""
    fig, ax = plt.subplots(figsize=(5, 2.6), layout="constrained")
    for key, g in df.groupby(hue, sort=False):
        ax.plot(g[x], g[y], marker="o", ms=3, label=str(key))
    for label, v in (ref_lines or {}).items():
        ax.axhline(v, ls="--", lw=0.8, color="grey")
        ax.text(ax.get_xlim()[0], v, f" {label}", fontsize=7, va="bottom")
    ax.set_xlabel(x)
    ax.set_ylabel(_wrap(ylabel or y, 30))
    ax.set_title(_wrap(title, 70), fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def bar_plot(labels: list[str], values: list[float], path: str | Path, *, ylabel: str = "mean effect",
             title: str = "") -> Path:
    """Bar chart (e.g. effect of each matched motif inserted into backgrounds). A constrained layout with the title
    and y label wrapped to the figure keeps every text on the canvas."""
    width = max(3.5, 0.5 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(width, 3.0), layout="constrained")
    ax.bar(range(len(values)), values, color=["#3a7" if v >= 0 else "#c44" for v in values])
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel(_wrap(ylabel, 28), fontsize=9)
    ax.set_title(_wrap(title, int(width * 11)), fontsize=9)
    return save_figure(fig, path)


def ref_alt_logo(ref: np.ndarray, alt: np.ndarray, path: str | Path, *, ref_centre: int, alt_centre: int,
                 flank: int = 30, widths: tuple[int, int] = (1, 1), title: str = "") -> Path:
    """Attribution logos of a variant's reference and alternative windows (``(4, L)`` each), ``flank`` bases either
    side of it, one above the other on one y scale, the variant's bases shaded (``widths``: ref and alt allele
    lengths)."""
    fig, axes = plt.subplots(2, 1, figsize=(max(4.0, (2 * flank + 1) * 0.09), 3.4), sharey=True,
                             layout="constrained")
    bottom, top = 0.0, 0.0
    for ax, attr, c, which, width in ((axes[0], ref, ref_centre, "ref", widths[0]),
                                      (axes[1], alt, alt_centre, "alt", widths[1])):
        lo, hi = max(0, c - flank), min(attr.shape[-1], c + flank + 1)
        a = np.asarray(attr, dtype=np.float64)[:, lo:hi]
        _draw(ax, a, f"{title} ({which})" if title else which, "attribution", lo)
        ax.axvspan(c - 0.5, c + width - 0.5, color="#f2c14e", alpha=0.35, zorder=-1)
        bottom, top = min(bottom, a.clip(None, 0).sum(0).min()), max(top, a.clip(0).sum(0).max())
    pad = 0.05 * (top - bottom) or 1e-6
    axes[0].set_ylim(bottom - pad, top + pad)  # shared: one scale for both windows
    return save_figure(fig, path)
