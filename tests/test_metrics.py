"""Metrics agree with scipy/scikit-learn, handle edge cases, and reports/plots are written correctly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from seq2expr.evaluation.metrics import (
    auroc,
    auroc_rows,
    bootstrap_ci,
    classification_metrics,
    evaluate_predictions,
    grouped_metrics,
    headline_metric,
    pearson_r,
    pearson_rows,
    regression_metrics,
)
from seq2expr.evaluation.plots import plot_predictions, roc_pr_plot, scatter_plot
from seq2expr.evaluation.report import read_metrics, write_metrics


@pytest.fixture
def reg_data():
    rng = np.random.default_rng(1)
    y = rng.normal(size=400)
    p = 0.6 * y + rng.normal(scale=0.8, size=400) + 0.3
    return y, p


@pytest.fixture
def cls_data():
    rng = np.random.default_rng(2)
    y = (rng.random(500) < 0.4).astype(float)
    prob = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(scale=1.5, size=500))))
    return y, prob


def test_regression_matches_scipy_sklearn(reg_data):
    y, p = reg_data
    m = regression_metrics(y, p)
    assert m["pearson_r"] == pytest.approx(stats.pearsonr(y, p)[0])
    assert m["r2"] == pytest.approx(stats.pearsonr(y, p)[0] ** 2)
    assert m["r2_score"] == pytest.approx(r2_score(y, p))
    assert m["spearman_rho"] == pytest.approx(stats.spearmanr(y, p)[0])
    assert m["mse"] == pytest.approx(mean_squared_error(y, p))
    assert m["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert m["n"] == 400
    # biased/rescaled predictions keep r but lose coefficient of determination
    assert m["r2_score"] < m["r2"]


def test_regression_known_cases():
    y = np.arange(10.0)
    perfect = regression_metrics(y, y)
    assert perfect["pearson_r"] == pytest.approx(1.0) and perfect["r2_score"] == pytest.approx(1.0)
    assert perfect["mse"] == 0.0 and perfect["mae"] == 0.0
    assert regression_metrics(y, -y)["pearson_r"] == pytest.approx(-1.0)
    assert regression_metrics(y, 2 * y + 5)["pearson_r"] == pytest.approx(1.0)
    const = regression_metrics(y, np.ones(10))
    assert np.isnan(const["pearson_r"]) and np.isnan(const["spearman_rho"])
    # non-finite rows are dropped, not propagated
    y2, p2 = np.r_[y, np.nan, 3.0], np.r_[y, 1.0, np.inf]
    m = regression_metrics(y2, p2)
    assert m["n"] == 10 and m["pearson_r"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        regression_metrics(np.ones(3), np.ones(4))


def test_classification_matches_sklearn(cls_data):
    y, prob = cls_data
    m = classification_metrics(y, prob)
    called = (prob >= 0.5).astype(int)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, prob))
    assert m["auprc"] == pytest.approx(average_precision_score(y, prob))
    assert m["accuracy"] == pytest.approx(accuracy_score(y, called))
    assert m["f1"] == pytest.approx(f1_score(y, called))
    assert m["n"] == 500
    assert classification_metrics(y, prob, threshold=0.9)["accuracy"] != m["accuracy"]
    tied = np.round(prob, 1)  # many ties: rank-based AUROC must still agree
    assert classification_metrics(y, tied)["auroc"] == pytest.approx(roc_auc_score(y, tied))


def test_classification_known_cases():
    y = np.array([0, 0, 0, 1, 1, 1.0])
    ranked = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    m = classification_metrics(y, ranked)
    assert m["auroc"] == 1.0 and m["auprc"] == 1.0 and m["accuracy"] == 1.0 and m["f1"] == 1.0
    assert classification_metrics(y, 1 - ranked)["auroc"] == 0.0
    assert np.isnan(classification_metrics(np.ones(5), np.linspace(0, 1, 5))["auroc"])


def test_grouped_metrics_equal_subset_metrics(reg_data):
    y, p = reg_data
    g = np.where(np.arange(400) % 3 == 0, "a", "b")
    out = grouped_metrics(y, p, {"species": g}, "regression")
    assert set(out["species"]) == {"a", "b"}
    for v in ("a", "b"):
        ref = regression_metrics(y[g == v], p[g == v])
        assert out["species"][v]["pearson_r"] == pytest.approx(ref["pearson_r"])
        assert out["species"][v]["n"] == ref["n"]
    with pytest.raises(ValueError):
        grouped_metrics(y, p, {"x": g[:10]}, "regression")


def test_bootstrap_ci(reg_data):
    y, p = reg_data
    r = pearson_r(y, p)
    lo, hi = bootstrap_ci(y, p, pearson_r, n_boot=300, seed=0)
    assert lo < r < hi
    assert (lo, hi) == bootstrap_ci(y, p, pearson_r, n_boot=300, seed=0)
    # a quarter of the data gives a wider interval
    lo4, hi4 = bootstrap_ci(y[:100], p[:100], pearson_r, n_boot=300, seed=0)
    assert hi4 - lo4 > hi - lo


def _loop_ci(y, p, metric_fn, n_boot, seed, alpha=0.05):
    """The hand-written percentile bootstrap scipy's replaced: one seeded resample of rows after another."""
    rng = np.random.default_rng(seed)
    vals = np.array([metric_fn(y[i], p[i]) for i in (rng.integers(0, len(y), len(y)) for _ in range(n_boot))])
    vals = vals[np.isfinite(vals)]
    return float(np.quantile(vals, alpha / 2)), float(np.quantile(vals, 1 - alpha / 2))


def test_bootstrap_ci_is_the_seeded_percentile_bootstrap(reg_data, cls_data):
    """scipy's resamples are the same seeded draws; undefined resamples (one class) are left out, not NaN."""
    y, p = reg_data
    assert bootstrap_ci(y, p, pearson_r, n_boot=200, seed=3) == pytest.approx(_loop_ci(y, p, pearson_r, 200, 3))
    yc, prob = cls_data
    few = np.r_[np.zeros(18), np.ones(2)], prob[:20]  # many resamples hold one class: AUROC undefined
    assert bootstrap_ci(*few, auroc, n_boot=200, seed=1) == pytest.approx(_loop_ci(*few, auroc, 200, 1))
    assert np.isfinite(bootstrap_ci(*few, auroc, n_boot=200, seed=1)).all()


def test_batched_headline_bootstrap_is_the_resample_loop(reg_data):
    """The regression headline scores a batch of resamples in one numpy pass: the same interval as one resample
    after another (1 and 3 targets; a constant target is NaN and left out of the mean, as the loop leaves it);
    with a missing value it falls back to the loop."""
    y, p = reg_data
    rng = np.random.default_rng(5)
    y3 = np.c_[y, y + rng.normal(size=len(y)), np.ones(len(y))]
    p3 = np.c_[p, p + rng.normal(size=len(y)), p]
    headline = headline_metric("regression")
    assert headline.batched is not None
    for yy, pp in ((y[:, None], p[:, None]), (y3, p3)):
        want = _loop_ci(yy, pp, headline, 200, 2)
        assert bootstrap_ci(yy, pp, headline, n_boot=200, seed=2) == pytest.approx(want, abs=1e-12)
    y3[5, 0] = np.nan
    assert bootstrap_ci(y3, p3, headline, n_boot=100, seed=2) == pytest.approx(_loop_ci(y3, p3, headline, 100, 2))
    rows = pearson_rows(np.stack([y, y]), np.stack([p, np.ones_like(p)]))
    assert rows[0] == pytest.approx(pearson_r(y, p)) and np.isnan(rows[1])


def test_batched_auroc_is_torchmetrics_auroc(cls_data):
    """The classification headline in batches (ranks, ties averaged) gives the resample loop's interval, and each
    row's AUROC is :func:`auroc`'s (ties too: scores rounded to one decimal), to the 1e-8 torchmetrics' float32
    curve keeps (the rank form is exact in float64)."""
    yc, prob = cls_data
    tied = np.round(prob, 1)
    headline = headline_metric("classification")
    for pp in (prob, tied):
        want = _loop_ci(yc[:, None], pp[:, None], headline, 200, 4)
        assert bootstrap_ci(yc[:, None], pp[:, None], headline, n_boot=200, seed=4) == pytest.approx(want, abs=1e-7)
        rows = auroc_rows(np.stack([yc, np.zeros_like(yc)]), np.stack([pp, pp]))
        assert rows[0] == pytest.approx(auroc(yc, pp), abs=1e-7) and np.isnan(rows[1])


def test_evaluate_predictions_multi_target_and_groups(reg_data):
    y, p = reg_data
    rng = np.random.default_rng(3)
    y2 = np.column_stack([y, rng.normal(size=400)])
    p2 = np.column_stack([p, y2[:, 1] + rng.normal(scale=0.1, size=400)])
    groups = {"subset": np.where(np.arange(400) < 200, "x", "y")}
    out = evaluate_predictions(y2, p2, "regression", groups=groups, n_boot=200, target_names=["a", "b"])
    per = out["per_target"]
    assert per["a"]["pearson_r"] == pytest.approx(stats.pearsonr(y, p)[0])
    assert out["overall"]["pearson_r"] == pytest.approx((per["a"]["pearson_r"] + per["b"]["pearson_r"]) / 2)
    assert out["ci"]["lo"] < out["overall"]["pearson_r"] < out["ci"]["hi"]
    assert set(out["groups"]["subset"]) == {"x", "y"}
    one = evaluate_predictions(y, p, "regression", n_boot=50)
    assert "per_target" not in one and one["headline"] == "pearson_r"


def test_evaluate_predictions_classification(cls_data):
    y, prob = cls_data
    out = evaluate_predictions(y, prob, "classification", n_boot=100)
    assert out["headline"] == "auroc"
    assert out["ci"]["lo"] < out["overall"]["auroc"] < out["ci"]["hi"]


def test_write_metrics_is_strict_json(tmp_path):
    path = write_metrics(tmp_path / "m" / "metrics.json", {"r": float("nan"), "a": np.float32(0.5),
                                                           "v": np.arange(3), "nested": [{"x": float("inf")}]})

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    loaded = json.loads(path.read_text(), parse_constant=no_constants)
    assert loaded == {"r": None, "a": 0.5, "v": [0, 1, 2], "nested": [{"x": None}]}
    assert read_metrics(path) == loaded
    assert not [f for f in path.parent.iterdir() if f.name.startswith(".")]  # no temp file left


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots(tmp_path, reg_data, cls_data):
    y, p = reg_data
    assert _is_png(scatter_plot(y, p, tmp_path / "small.png", "small"))
    rng = np.random.default_rng(0)
    big = rng.normal(size=5000)
    assert _is_png(scatter_plot(big, big + rng.normal(size=5000), tmp_path / "big.png", "hexbin"))
    yc, prob = cls_data
    assert _is_png(roc_pr_plot(yc, prob, tmp_path / "roc.png", "roc"))
    paths = plot_predictions(np.column_stack([y, y]), np.column_stack([p, p]), "regression", tmp_path, "test",
                             ["a", "b/c"])
    assert [q.name for q in paths] == ["scatter_test_a.png", "scatter_test_b_c.png"]


def test_score_reports_the_original_scale_and_labels_the_model_scale(tmp_path, monkeypatch):
    """Metrics are on the scale of predictions.tsv (measured), the model's z-scored log scale comes labelled,
    every plot axis names its scale, and the overall n counts sequences, not sequences x targets."""
    from seq2expr.data.targets import TargetTransform
    from seq2expr.evaluation import plots
    from seq2expr.evaluation.evaluate import score
    from seq2expr.inference import SavedModelConfig

    rng = np.random.default_rng(0)
    measured = rng.lognormal(2.0, 1.0, size=(300, 2))
    measured[:10, 1] = np.nan  # a missing value of the second target
    tf = TargetTransform("log1p", True).fit(measured[~np.isnan(measured).any(axis=1)])
    y = tf.apply(measured)
    raw = (y + rng.normal(0, 0.5, y.shape)).astype(np.float32)  # model outputs on the model scale
    cfg = SavedModelConfig(model={"name": "cnn", "seq_len": 30, "n_targets": 2}, target_names=["a", "b"],
                           target_transform=tf)
    labels = {}
    real_save = plots.save_figure

    def keep_labels(fig, path):
        ax = fig.axes[0]
        labels[path.name] = (ax.get_xlabel(), ax.get_ylabel())
        return real_save(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep_labels)
    m, _ = score(cfg, raw, y, ids=np.arange(300).astype(str), measured=measured, name="test", out_dir=tmp_path,
                 n_boot=10)
    pred = tf.inverse(raw)
    ok = ~np.isnan(measured[:, 0])
    assert m["scale"] == "original scale"
    assert m["per_target"]["a"]["mse"] == pytest.approx(mean_squared_error(measured[ok, 0], pred[ok, 0]), rel=1e-4)
    assert m["model_scale"]["scale"] == "model scale (log1p, then z-scored with the training rows' mean/std)"
    assert m["model_scale"]["per_target"]["a"]["mse"] == pytest.approx(mean_squared_error(y[:, 0], raw[:, 0]),
                                                                       rel=1e-4)
    assert m["overall"]["mse"] > 5 * m["model_scale"]["overall"]["mse"]  # the two scales really differ here
    assert m["overall"]["n"] == 300 and m["per_target"]["b"]["n"] == 290  # not 590
    table = np.loadtxt(tmp_path / "predictions.tsv", skiprows=1, usecols=(1, 2, 3, 4))
    assert np.allclose(table[:, 1], pred[:, 0], rtol=1e-4)  # predictions.tsv: the scale the metrics are on
    assert labels["scatter_test_a.png"] == ("measured (original scale)", "predicted (original scale)")
    # no transform: no model-scale block, and the plain label
    plain = SavedModelConfig(model={"name": "cnn", "seq_len": 30, "n_targets": 1})
    m1, _ = score(plain, raw[:, :1], y[:, :1], ids=np.arange(300).astype(str), n_boot=0)
    assert "model_scale" not in m1 and m1["scale"] == "original scale"
