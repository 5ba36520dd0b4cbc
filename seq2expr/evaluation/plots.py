"""Figures for a run: measured-vs-predicted scatter (regression), ROC and precision-recall (classification).

Matplotlib's Agg backend (no display needed); files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seq2expr.atomic import atomic_path

HEXBIN_ABOVE = 2000  # more points than this: density-coloured hexbin instead of a scatter


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (the format from its suffix, 120 dpi, atomically) and close it: every plot of this
    module ends here."""
    plt = _figure()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def scatter_plot(y, p, path: str | Path, title: str = "", scale: str = "original scale") -> Path:
    """Measured (x) vs predicted (y) with Pearson r in the title; hexbin density for large N. Both axes are on
    ``scale`` (named in the axis labels)."""
    from seq2expr.evaluation.metrics import regression_metrics

    y, p = np.asarray(y, np.float64).ravel(), np.asarray(p, np.float64).ravel()
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep], p[keep]
    m = regression_metrics(y, p)
    plt = _figure()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    if len(y) > HEXBIN_ABOVE:
        hb = ax.hexbin(y, p, gridsize=60, bins="log", cmap="viridis", mincnt=1)
        fig.colorbar(hb, ax=ax, label="count (log)")
    else:
        ax.scatter(y, p, s=6, alpha=0.5, linewidths=0)
    if len(y):
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"measured ({scale})")
    ax.set_ylabel(f"predicted ({scale})")
    ax.set_title(f"{title}\nr = {m['pearson_r']:.3f}, rho = {m['spearman_rho']:.3f}, n = {m['n']}".strip())
    return save_figure(fig, Path(path))


def roc_pr_plot(y, prob, path: str | Path, title: str = "") -> Path:
    """ROC and precision-recall curves side by side for binary labels ``y`` and probabilities ``prob``."""
    import torch
    from torchmetrics.functional.classification import binary_precision_recall_curve, binary_roc

    from seq2expr.evaluation.metrics import classification_metrics

    y, prob = np.asarray(y, np.float64).ravel(), np.asarray(prob, np.float64).ravel()
    keep = np.isfinite(y) & np.isfinite(prob)
    labels, prob = (y[keep] >= 0.5).astype(np.int64), prob[keep]
    plt = _figure()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.5, 4))
    if 0 < labels.sum() < len(labels):
        m = classification_metrics(labels, prob)  # the numbers metrics.json reports
        pt, lt = torch.from_numpy(prob), torch.from_numpy(labels)
        fpr, tpr, _ = binary_roc(pt, lt)
        prec, rec, _ = binary_precision_recall_curve(pt, lt)
        a1.plot(fpr.numpy(), tpr.numpy(), label=f"AUROC {m['auroc']:.3f}")
        # the step curve whose area is the average precision
        a2.step(rec.numpy(), prec.numpy(), where="post", label=f"AUPRC {m['auprc']:.3f}")
        a2.axhline(labels.mean(), color="grey", lw=0.8, ls="--", label="base rate")
    a1.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    a1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    a2.set(xlabel="recall", ylabel="precision", title="precision-recall")
    for a in (a1, a2):
        a.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, Path(path))


def plot_predictions(y, p, task: str, out_dir: str | Path, split: str, target_names: list[str],
                     scale: str = "original scale") -> list[Path]:
    """One figure per target: ``scatter_{split}[_{target}].png`` (axes on ``scale``) or
    ``roc_pr_{split}[_{target}].png``."""
    y2 = np.asarray(y).reshape(len(y), -1)
    p2 = np.asarray(p).reshape(len(p), -1)
    paths = []
    for j, name in enumerate(target_names):
        suffix = "" if len(target_names) == 1 else f"_{_safe(name)}"
        kind = "roc_pr" if task == "classification" else "scatter"
        path, title = Path(out_dir) / f"{kind}_{split}{suffix}.png", f"{split}: {name}"
        paths.append(roc_pr_plot(y2[:, j], p2[:, j], path, title) if task == "classification"
                     else scatter_plot(y2[:, j], p2[:, j], path, title, scale=scale))
    return paths


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))[:60]


def training_curve_plot(tables, monitor: str, path: str | Path) -> Path:
    """Loss (train solid, valid dashed) and the validation ``monitor`` per epoch; ``tables`` maps a member name
    ("" for a single model) to a frame with columns ``epoch, train_loss, valid_loss, <monitor>``."""
    plt = _figure()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    for i, (name, t) in enumerate(tables.items()):
        tag = f"{name} " if name else ""
        a1.plot(t["epoch"], t["train_loss"], color=f"C{i}", marker=".", label=f"{tag}train")
        a1.plot(t["epoch"], t["valid_loss"], color=f"C{i}", ls="--", marker=".", label=f"{tag}valid")
        a2.plot(t["epoch"], t[monitor], color=f"C{i}", marker=".", label=name or None)
    a1.set(xlabel="epoch", ylabel="loss", title="loss per epoch")
    a2.set(xlabel="epoch", ylabel=monitor, title=f"validation {monitor.removeprefix('val_')} per epoch")
    a1.legend(fontsize=7)
    if len(tables) > 1:
        a2.legend(fontsize=7)
    for a in (a1, a2):
        a.xaxis.get_major_locator().set_params(integer=True)
    return save_figure(fig, Path(path))
