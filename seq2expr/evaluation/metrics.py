"""Prediction-quality metrics, per target, per group, with bootstrap intervals.

Every metric is torchmetrics' (the ``functional`` form of the metrics training validates with), so a number in
``metrics.json`` and the validation curve is computed one way. Regression reports ``pearson_r``, ``r2``
(= ``pearson_r ** 2``, the squared correlation most expression papers quote), ``r2_score`` (coefficient of
determination, 1 - SS_res/SS_tot, which also penalises bias and scale), ``spearman_rho``, ``mse``, ``mae`` and
``n``. Classification reports ``accuracy``, ``auroc``, ``auprc`` (average precision), ``f1`` and ``n``. Rows
whose target or prediction is not finite are dropped (multi-target tables may have missing values); a metric that
is undefined (constant input, one class) is NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
from scipy import stats

HEADLINE = {"regression": "pearson_r", "classification": "auroc"}
_BOOT_BATCH = 64  # resamples drawn at once (memory: rows x batch indices)
MAX_GROUP_VALUES = 500  # group columns with more distinct values (e.g. gene IDs) are skipped


def _clean(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"targets ({y.shape}) and predictions ({p.shape}) differ in size")
    keep = np.isfinite(y) & np.isfinite(p)
    return y[keep], p[keep]


def _value(name: str, *args: np.ndarray) -> float:
    """torchmetrics' functional metric ``name`` on float64 tensors, as a float; its notes on degenerate input are
    silenced (the callers return NaN for those cases themselves). Imported on first use: torchmetrics takes
    seconds to import, which every command that only names this module (predict, variants) would pay."""
    import torch
    from torchmetrics import functional
    from torchmetrics.functional import classification

    fn = getattr(classification if name.startswith("binary_") else functional, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(*(torch.from_numpy(np.ascontiguousarray(a)) for a in args)))


def _varies(y: np.ndarray, p: np.ndarray) -> bool:
    return len(y) >= 2 and np.ptp(y) > 0 and np.ptp(p) > 0


def _pearson(y: np.ndarray, p: np.ndarray) -> float:
    if not _varies(y, p):
        return float("nan")
    return float(np.clip(_value("pearson_corrcoef", p, y), -1.0, 1.0))


def pearson_r(y, p) -> float:
    """Pearson correlation of the finite pairs (NaN when either side is constant)."""
    y, p = _clean(y, p)
    return _pearson(y, p)


def _two_classes(labels: np.ndarray) -> bool:
    return len(labels) > 0 and 0 < int(labels.sum()) < len(labels)


def auroc(y, prob) -> float:
    """Area under the ROC curve of the finite pairs, ties averaged (NaN with one class only)."""
    y, prob = _clean(y, prob)
    labels = (y >= 0.5).astype(np.int64)
    return _value("binary_auroc", prob, labels) if _two_classes(labels) else float("nan")


def regression_metrics(y, p) -> dict[str, float]:
    """Metrics for one target: 1-D arrays (or ``(N, 1)``) of measured and predicted values."""
    y, p = _clean(y, p)
    n = len(y)
    r = _pearson(y, p)
    nan = float("nan")
    return {
        "pearson_r": r,
        "r2": r * r,  # squared Pearson r
        "r2_score": _value("r2_score", p, y) if n >= 2 and np.ptp(y) > 0 else nan,
        "spearman_rho": _value("spearman_corrcoef", p, y) if _varies(y, p) else nan,
        "mse": _value("mean_squared_error", p, y) if n else nan,
        "mae": _value("mean_absolute_error", p, y) if n else nan,
        "n": n,
    }


def classification_metrics(y, prob, threshold: float = 0.5) -> dict[str, float]:
    """Metrics for one binary target: 0/1 labels and predicted probabilities of class 1."""
    y, prob = _clean(y, prob)
    n = len(y)
    labels = (y >= 0.5).astype(np.int64)
    called = (prob >= threshold).astype(np.int64)  # the calls predict writes (>=), passed as labels
    both = _two_classes(labels)
    nan = float("nan")
    return {
        "accuracy": _value("binary_accuracy", called, labels) if n else nan,
        "auroc": _value("binary_auroc", prob, labels) if both else nan,
        "auprc": _value("binary_average_precision", prob, labels) if both else nan,
        "f1": _value("binary_f1_score", called, labels) if n else nan,
        "n": n,
    }


def _metric_fn(task: str) -> Callable[[np.ndarray, np.ndarray], dict]:
    if task == "regression":
        return regression_metrics
    if task == "classification":
        return classification_metrics
    raise ValueError(f"unknown task {task!r}; use regression or classification")


def _as_2d(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def _mean_dicts(rows: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in rows[0]:
        vals = np.array([r[k] for r in rows], dtype=np.float64)
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return out


def multi_target_metrics(y, p, task: str, target_names: list[str] | None = None) -> dict:
    """Metrics per target and their mean. ``y``/``p`` are ``(N,)`` or ``(N, T)``.

    Returns ``{"mean": {...}, "per_target": {name: {...}}}``; with one target ``mean`` is that target's.
    """
    y2, p2 = _as_2d(y), _as_2d(p)
    if y2.shape != p2.shape:
        raise ValueError(f"targets {y2.shape} and predictions {p2.shape} differ in shape")
    names = list(target_names) if target_names else [f"target_{i}" for i in range(y2.shape[1])]
    fn = _metric_fn(task)
    per = {name: fn(y2[:, j], p2[:, j]) for j, name in enumerate(names)}
    mean = _mean_dicts(list(per.values()))
    # n: sequences scored (with at least one finite target/prediction pair), not summed over targets
    mean["n"] = int((np.isfinite(y2) & np.isfinite(p2)).any(axis=1).sum())
    return {"mean": mean, "per_target": per}


def grouped_metrics(y, p, groups: Mapping[str, np.ndarray], task: str) -> dict[str, dict[str, dict]]:
    """``{column: {value: metrics}}`` (mean over targets) for each group column, e.g. species or subset.

    Boolean columns are memberships (e.g. DREAM's ``subset_snv``): only the ``True`` rows are scored.
    Float columns (e.g. another model's predictions) and columns with more than ``MAX_GROUP_VALUES``
    distinct values are skipped: they are not groupings, or per-value metrics would be noise.
    """
    y2, p2 = _as_2d(y), _as_2d(p)
    out: dict[str, dict[str, dict]] = {}
    for col, raw in groups.items():
        raw = np.asarray(raw)
        if len(raw) != len(y2):
            raise ValueError(f"group column {col!r} has {len(raw)} values for {len(y2)} rows")
        if raw.dtype.kind == "f":
            continue
        values = raw.astype(str)
        if raw.dtype.kind == "b" and not raw.any():
            continue
        uniq = np.array(["True"]) if raw.dtype.kind == "b" else np.unique(values)
        if len(uniq) > MAX_GROUP_VALUES:
            continue
        out[col] = {str(v): multi_target_metrics(y2[values == v], p2[values == v], task)["mean"] for v in uniq}
    return out


def bootstrap_ci(y, p, metric_fn: Callable[[np.ndarray, np.ndarray], float], n_boot: int = 1000, seed: int = 0,
                 alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric_fn(y, p)`` over rows (resampled together, with replacement).

    The resamples are :func:`scipy.stats.bootstrap`'s, seeded by ``seed`` (the same draws as one
    ``rng.integers(0, n, n)`` after another), drawn in batches so memory stays rows x batch. A ``metric_fn`` with a
    ``batched`` attribute (the headlines: :func:`pearson_rows`, :func:`auroc_rows`) scores a whole batch of
    resamples in one numpy pass when every value is finite; otherwise each resample is scored alone. The percentiles are
    taken here over the finite values only: a resample where the metric is undefined (AUROC of one class) is left
    out instead of making the whole interval NaN, as scipy's own interval would.
    """
    y, p = np.asarray(y), np.asarray(p)
    n = len(y)
    if n < 2 or n_boot < 1:
        return float("nan"), float("nan")
    batched = getattr(metric_fn, "batched", None)
    if batched is not None and np.isfinite(y).all() and np.isfinite(p).all():
        def statistic(idx, axis=-1):  # a batch of resamples at once: (n,) or (batch, n) row indices
            return batched(y[idx], p[idx]) if idx.ndim > 1 else batched(y[idx][None], p[idx][None])[0]
    else:
        def statistic(idx, axis=-1):
            return np.array([metric_fn(y[i], p[i]) for i in idx]) if idx.ndim > 1 else metric_fn(y[idx], p[idx])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's notes on a degenerate or NaN distribution: handled below
        res = stats.bootstrap((np.arange(n),), statistic, n_resamples=n_boot, batch=_BOOT_BATCH, vectorized=True,
                              method="percentile", confidence_level=1 - alpha,
                              random_state=np.random.default_rng(seed))
    vals = np.asarray(res.bootstrap_distribution, dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return float("nan"), float("nan")
    return float(np.quantile(vals, alpha / 2)), float(np.quantile(vals, 1 - alpha / 2))


def headline_metric(task: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The headline metric of ``task`` (Pearson r or AUROC), averaged over targets: what the bootstrap interval of
    :func:`evaluate_predictions` is of. It carries ``batched``: whole batches of resamples at once."""
    one = {"regression": pearson_r, "classification": auroc}[task]

    def headline(y: np.ndarray, p: np.ndarray) -> float:
        y2, p2 = _as_2d(y), _as_2d(p)
        vals = np.array([one(y2[:, j], p2[:, j]) for j in range(y2.shape[1])])
        return float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")

    rows = {"regression": pearson_rows, "classification": auroc_rows}[task]
    def batched(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        vals = rows(y, p)  # averaged over targets as headline does (all NaN stays NaN; bootstrap_ci mutes the note)
        return vals if vals.ndim == 1 else np.nanmean(vals, axis=1)

    headline.batched = batched
    return headline


def pearson_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pearson r along axis 1 of finite ``(B, n)`` or ``(B, n, T)`` arrays, in float64: ``(B,)`` or ``(B, T)``;
    NaN where either side is constant (as :func:`pearson_r`). The bootstrap's batched form of the headline."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    yc, pc = y - y.mean(1, keepdims=True), p - p.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (yc * pc).sum(1) / np.sqrt((yc * yc).sum(1) * (pc * pc).sum(1))
    constant = (np.ptp(y, axis=1) == 0) | (np.ptp(p, axis=1) == 0)
    return np.where(constant, np.nan, np.clip(r, -1.0, 1.0))


def auroc_rows(y: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """AUROC along axis 1 of finite ``(B, n)`` or ``(B, n, T)`` arrays (class 1: ``y >= 0.5``; tied scores share
    their mean rank, as :func:`auroc`): the Mann-Whitney form. NaN where a row holds one class only."""
    labels = np.asarray(y) >= 0.5
    ranks = stats.rankdata(np.asarray(prob, dtype=np.float64), axis=1)
    n1 = labels.sum(1)
    n0 = labels.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * labels).sum(1) - n1 * (n1 + 1) / 2) / (n0 * n1)
    return np.where((n1 == 0) | (n0 == 0), np.nan, auc)


def evaluate_predictions(y, p, task: str, groups: Mapping[str, np.ndarray] | None = None, n_boot: int = 1000,
                         target_names: list[str] | None = None, seed: int = 0, alpha: float = 0.05) -> dict:
    """Everything a report needs: overall (mean over targets), per target, per group, CI of the headline.

    ``p`` holds predictions on the scale of ``y`` (regression) or probabilities (classification).
    """
    m = multi_target_metrics(y, p, task, target_names)
    headline = HEADLINE[task]
    lo, hi = bootstrap_ci(_as_2d(y), _as_2d(p), headline_metric(task), n_boot=n_boot, seed=seed, alpha=alpha)
    out = {
        "task": task,
        "headline": headline,
        "overall": m["mean"],
        "ci": {"metric": headline, "lo": lo, "hi": hi, "level": 1 - alpha, "n_boot": n_boot},
    }
    if len(m["per_target"]) > 1:
        out["per_target"] = m["per_target"]
    if groups:
        out["groups"] = grouped_metrics(y, p, groups, task)
    return out
