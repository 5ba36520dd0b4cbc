"""DREAM 2022 challenge score: pair metrics, weighting, SNV pair rebuilding, published Camformer predictions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from seq2expr.data.datasets.dream2022 import (
    WEIGHTS,
    challenge_scores,
    dream_eval_sets,
    pair_metrics,
    restrict,
    snv_pairs_from_sequences,
)

# the real-data mirror: $SEQ2EXPR_DATA_MIRROR, else ../shared/data (as the conftest `mirror` fixture)
MIRROR = Path(os.environ.get("SEQ2EXPR_DATA_MIRROR")
              or Path(__file__).resolve().parents[2] / "shared" / "data").resolve()


def test_pair_metric_scores_differences_not_levels():
    rng = np.random.default_rng(0)
    true = rng.normal(size=200)
    pairs = np.stack([np.arange(0, 200, 2), np.arange(1, 200, 2)], 1)
    # right levels per pair but the within-pair difference reversed: per-sequence r is high, pair r negative
    pred = true.copy()
    pred[pairs[:, 0]], pred[pairs[:, 1]] = true[pairs[:, 1]], true[pairs[:, 0]]
    pred += 5 * np.repeat(rng.normal(size=100), 2)  # pair-shared offsets do not affect differences
    m = pair_metrics(pred, true, pairs)
    assert m["pearson_r"] == pytest.approx(-1.0, abs=1e-9) and m["pearson_r2"] == pytest.approx(1.0)
    assert m["spearman"] == pytest.approx(-1.0) and m["n"] == 100
    good = pair_metrics(true + np.repeat(rng.normal(size=100), 2), true, pairs)
    assert good["pearson_r"] == pytest.approx(1.0)


def test_weighted_score_and_restriction():
    rng = np.random.default_rng(1)
    n = 600
    true = rng.normal(size=n)
    pred = true + rng.normal(scale=0.5, size=n)
    subs = {k: rng.choice(n, 100, replace=False) for k in ("high", "low", "yeast", "random", "challenging")}
    pairs = {k: rng.choice(n, (80, 2)) for k in ("snv", "motif_perturbation", "motif_tiling")}
    s = challenge_scores(pred, true, subs, pairs)
    per = s["subsets"]
    manual = sum(w * per[k]["pearson_r2"] for k, w in WEIGHTS.items()) / 4.65
    assert s["score_pearson"] == pytest.approx(manual)
    assert sum(WEIGHTS.values()) == pytest.approx(4.65)
    assert per["all"]["n"] == n and 0.6 < per["all"]["pearson_r2"] < 0.9
    perfect = challenge_scores(true, true, subs, pairs)
    assert perfect["score_pearson"] == pytest.approx(1.0) and perfect["score_spearman"] == pytest.approx(1.0)
    keep = np.zeros(n, bool)
    keep[: n // 2] = True
    sub2, pr2 = restrict(subs, pairs, keep, "both")
    assert all((v < n // 2).all() for v in sub2.values())
    assert all((v < n // 2).all() for v in pr2.values())
    _, pr_any = restrict(subs, pairs, keep, "any")
    assert all(len(pr_any[k]) >= len(pr2[k]) for k in pairs)
    # dict input: missing predictions are NaN and left out of "all"
    d = challenge_scores({i: float(pred[i]) for i in range(n // 2)}, true, {}, {})
    assert d["subsets"]["all"]["n"] == n // 2


def test_snv_pairs_rebuilt_from_sequences():
    rng = np.random.default_rng(2)
    base = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(20)]
    seqs = list(base)
    expected = set()
    for i in range(10):  # one single-base variant of each of the first 10
        s = list(base[i])
        s[7 + i] = "A" if s[7 + i] != "A" else "C"
        seqs.append("".join(s))
        expected.add((i, len(seqs) - 1))
    two = list(base[12])
    two[3] = "A" if two[3] != "A" else "C"
    two[20] = "A" if two[20] != "A" else "C"
    seqs.append("".join(two))  # two substitutions: not an SNV pair
    got = set(map(tuple, snv_pairs_from_sequences(seqs).tolist()))
    assert got == expected
    first = sorted(expected)[0]
    assert first not in set(map(tuple, snv_pairs_from_sequences(seqs, exclude=np.array([first])).tolist()))


@pytest.mark.skipif(not (MIRROR / "dream2022").is_dir(), reason="data mirror absent")
def test_published_camformer_predictions_score_like_the_paper():
    from seq2expr.data.datasets.dream2022 import dream_subset_members
    from seq2expr.data.registry import get_entry, load_dataset, resolve_files

    rec = load_dataset("dream2022", mirror=MIRROR)
    published = dream_subset_members(resolve_files(get_entry("dream2022"), mirror=MIRROR))[1]
    subs, pairs = dream_eval_sets(rec, reconstruct_snv=False, pairs=published)
    true = rec.targets[:, 0]
    private = rec.groups["split"] == "test"
    s = challenge_scores(rec.groups["camformer"], true, subs, pairs, keep=private)
    per = s["subsets"]
    # published private leaderboard (Camformers row): all r^2 0.913, random 0.938, challenging 0.886
    assert per["all"]["pearson_r2"] == pytest.approx(0.913, abs=0.02)
    assert per["random"]["pearson_r2"] == pytest.approx(0.938, abs=0.02)
    assert per["challenging"]["pearson_r2"] == pytest.approx(0.886, abs=0.03)
    assert per["all"]["n"] == 62058
    assert 0.6 < s["score_pearson"] < 0.9 and 0.7 < s["score_spearman"] < 0.95
    mini = challenge_scores(rec.groups["camformer_mini"], true, subs, pairs, keep=private)
    assert mini["subsets"]["all"]["pearson_r2"] < per["all"]["pearson_r2"]  # the paper's ordering
    shuffled = challenge_scores(np.random.default_rng(0).permutation(rec.groups["camformer"]), true, subs, pairs,
                                keep=private)
    assert shuffled["score_pearson"] < 0.05
