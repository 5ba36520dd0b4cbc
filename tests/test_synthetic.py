"""The embedded synthetic data set: reproducible, motifs really planted, expression follows the declared model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seq2expr.data.errors import DataError
from seq2expr.data.sequences import encode
from seq2expr.data.synthetic import (
    DEFAULT_MOTIFS,
    MotifSpec,
    load_pwms,
    log_odds,
    make_synthetic,
    read_truth,
    truth_features,
    write_synthetic,
)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n=3000, length=150, seed=7)


def test_reproducible_from_seed(data):
    table, truth = data
    again, truth2 = make_synthetic(n=3000, length=150, seed=7)
    pd.testing.assert_frame_equal(table, again)
    assert truth == truth2
    other, _ = make_synthetic(n=3000, length=150, seed=8)
    assert (other["sequence"] != table["sequence"]).mean() > 0.99


def test_table_shape_and_columns(data):
    table, truth = data
    assert list(table.columns) == ["id", "sequence", "expression", "subset"]
    assert table["id"].is_unique and len(table) == 3000
    assert set(table["sequence"].str.len()) == {150}
    assert set(table["subset"]) == {"TATA", "TATA-less"}
    codes = encode(list(table["sequence"]))
    gc = np.isin(codes, [1, 2]).mean()
    assert 0.38 < gc < 0.46  # background 0.4, motifs shift it a little
    assert {m["matrix_id"] for m in truth["motifs"]} == {m.matrix_id for m in DEFAULT_MOTIFS}
    # subset follows the TATA (TBP) sites recorded in the truth
    tata_ids = {i for i, m in zip(truth["sites"]["id"], truth["sites"]["motif"], strict=True) if m == "TBP"}
    assert set(table.loc[table["subset"] == "TATA", "id"]) == tata_ids


def test_planted_sites_are_at_recorded_positions(data):
    table, truth = data
    pwms = {k: np.asarray(v) for k, v in truth["pwms"].items()}
    seqs = dict(zip(table["id"], table["sequence"], strict=True))
    s = pd.DataFrame(truth["sites"])
    assert len(s) > 3000  # about 0.35 * 7 motifs per sequence
    # the substring at the recorded place is the recorded site
    assert all(seqs[r.id][r.start : r.end] == r.site for r in s.itertuples())
    assert set(s["strand"]) == {"+", "-"}
    rng = np.random.default_rng(0)
    for name, pwm in pwms.items():
        sub = s[s["motif"] == name]
        lo = log_odds(pwm, 0.4)
        w = len(pwm)
        codes = encode(list(sub["site"]))
        fwd = lo[np.arange(w), codes].sum(1)
        rev = lo[::-1, ::-1][np.arange(w), codes].sum(1)
        recorded = np.where(sub["strand"] == "+", fwd, rev)
        np.testing.assert_allclose(recorded, sub["score"], atol=2e-3)
        # planted sites score far above random windows of the same sequences (best strand)
        rows = rng.choice(len(table), 300)
        starts = rng.integers(0, 150 - w, 300)
        bg = encode([table["sequence"].iloc[r][st : st + w] for r, st in zip(rows, starts, strict=True)])
        bg_score = np.maximum(lo[np.arange(w), bg].sum(1), lo[::-1, ::-1][np.arange(w), bg].sum(1))
        assert np.median(recorded) > np.quantile(bg_score, 0.99), name
        assert (recorded > np.quantile(bg_score, 0.95)).mean() > 0.85, name
        # sampled from the matrix, not the consensus only: on the motif's strand, each column's base
        # frequencies follow the matrix (the score floor shifts them a little towards the consensus), so
        # sites vary wherever the matrix does. (A count of distinct sites is no test: a matrix with a
        # conserved core, like REB1's, has few likely sites.)
        oriented = np.where(sub["strand"].to_numpy()[:, None] == "+", codes, 3 - codes[:, ::-1])
        freq = np.stack([(oriented == b).mean(0) for b in range(4)], axis=1)  # (w, 4)
        assert (0.5 * np.abs(freq - pwm).sum(1)).max() < 0.15, name
        consensus = pwm.argmax(1)
        assert (oriented == consensus).all(1).mean() < 0.5, name
        assert sub["site"].nunique() >= 20, name
    # no two sites of one sequence overlap
    for _, g in s.groupby("id"):
        g = g.sort_values("start")
        assert (g["start"].to_numpy()[1:] >= g["end"].to_numpy()[:-1]).all()


def test_expression_follows_declared_model(data):
    table, truth = data
    x, cols = truth_features(table["id"].to_numpy(), truth)
    X = np.column_stack([np.ones(len(x)), x])
    coef, *_ = np.linalg.lstsq(X, table["expression"].to_numpy(), rcond=None)
    want = [truth["params"]["baseline"]] + [m["effect"] for m in truth["motifs"]] + [truth["interaction"]["effect"]]
    assert cols[-1] == "RAP1xREB1"
    np.testing.assert_allclose(coef, want, atol=0.15)
    resid = table["expression"].to_numpy() - X @ coef
    assert abs(resid.std() - truth["noise_sd"]) < 0.05
    # the noise-free signal is the model without noise
    np.testing.assert_allclose(X @ np.asarray(want), truth["signal"], atol=1e-4)
    # position effect: the same motif near the 3' end contributes more than near the 5' end
    s = pd.DataFrame(truth["sites"])
    rap = s[s["motif"] == "RAP1"]
    assert rap.loc[rap["start"] > 100, "contribution"].mean() > rap.loc[rap["start"] < 40, "contribution"].mean()


def test_write_and_read_round_trip(tmp_path, data):
    paths = write_synthetic(tmp_path / "syn", n=3000, length=150, seed=7)
    assert {p.name for p in (tmp_path / "syn").iterdir()} == {"data.tsv", "truth.json", "motifs.meme"}
    table = pd.read_csv(paths["data"], sep="\t")
    pd.testing.assert_frame_equal(table, data[0], check_exact=False, atol=1e-9)
    assert read_truth(paths["truth"]) == data[1]
    from memelite.io import read_meme

    meme = read_meme(str(paths["motifs"]))
    assert set(meme) == {f"{m.matrix_id} {m.name}" for m in DEFAULT_MOTIFS}
    rap = meme["MA0359.3 RAP1"]  # (4, w)
    np.testing.assert_allclose(rap.T, data[1]["pwms"]["RAP1"], atol=1e-5)
    assert "".join("ACGT"[i] for i in rap.argmax(0)) == "ATGTATGGGTGT"


def test_custom_motifs_and_no_interaction():
    table, truth = make_synthetic(n=200, length=80, seed=1, interaction=None,
                                  motifs=[{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 1.0},
                                          MotifSpec("NRG1", "MA0347.3", -1.0)])
    assert truth["interaction"] is None and set(table["subset"]) <= {"GCN4+", "GCN4-"}
    x, cols = truth_features(table["id"].to_numpy(), truth)
    assert cols == ["GCN4", "NRG1"] and x.shape == (200, 2)


def test_bad_input_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="n must be"):
        make_synthetic(n=0)
    with pytest.raises(ValueError, match="gc"):
        make_synthetic(n=10, gc=1.5)
    with pytest.raises(ValueError, match="too short"):
        make_synthetic(n=10, length=30)
    with pytest.raises(ValueError, match="interaction motif"):
        make_synthetic(n=10, interaction={"a": "RAP1", "b": "XYZ1", "effect": 1.0})
    with pytest.raises(ValueError, match="unique"):
        make_synthetic(n=10, motifs=[MotifSpec("A", "MA0303.3", 1), MotifSpec("A", "MA0347.3", 1)])
    with pytest.raises(DataError, match="MA9999.9"):
        load_pwms([MotifSpec("NOPE", "MA9999.9", 1.0)])
    with pytest.raises(DataError, match="JASPAR1999"):
        load_pwms(DEFAULT_MOTIFS, release="JASPAR1999")
    bad = tmp_path / "truth.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="truth.json"):
        read_truth(bad)


def test_truth_lists_every_site_a_scanner_would_call(data):
    """Background hits scoring like a planted site were redrawn: every window at or above a motif's floor
    is a recorded site or overlaps recorded sites by at least half its width (a shifted read of one)."""
    table, truth = data
    assert truth["background"]["unscrubbed_sequences"] == 0
    codes = encode(list(table["sequence"]))
    n, length = codes.shape
    planted = np.zeros((n, length), dtype=bool)
    row = {k: i for i, k in enumerate(table["id"])}
    s = truth["sites"]
    for sid, a, b in zip(s["id"], s["start"], s["end"], strict=True):
        planted[row[sid], a:b] = True
    gc = truth["params"]["gc"]
    for name, pwm in truth["pwms"].items():
        lo = log_odds(np.asarray(pwm), gc)
        w = len(lo)
        floor = truth["params"]["min_score"] * lo.max(1).sum()
        win = np.lib.stride_tricks.sliding_window_view(codes, w, axis=1)  # (n, L - w + 1, w)
        fwd = lo[np.arange(w), win].sum(-1)
        rev = lo[::-1, ::-1][np.arange(w), win].sum(-1)
        hit = np.maximum(fwd, rev) >= floor - 1e-9
        overlap = np.lib.stride_tricks.sliding_window_view(planted, w, axis=1).sum(-1)
        assert hit.any(), name
        assert not (hit & (2 * overlap < w)).any(), name
