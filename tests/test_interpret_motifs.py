"""Motif databases, MEME I/O, Tomtom matching and FIMO scanning against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from seq2expr.data.errors import DataError
from seq2expr.data.io.motifs import read_meme, write_meme
from seq2expr.interpret.motifs import consensus, jaspar_motifs, match_motifs, scan


@pytest.fixture(scope="module")
def fungi():
    return jaspar_motifs(taxon="fungi")


def _key(db, tf):
    return next(k for k in db if k.split()[-1].upper() == tf)


def test_jaspar_offline_fungi(fungi):
    assert len(fungi) > 100
    for tf in ("REB1", "RAP1", "ABF1", "GCN4", "MCM1"):
        pwm = fungi[_key(fungi, tf)]
        assert pwm.shape[0] == 4 and np.allclose(pwm.sum(0), 1)
    assert "TTACCCG" in consensus(fungi[_key(fungi, "REB1")])
    with pytest.raises(ValueError, match="taxon"):
        jaspar_motifs(taxon="martians")


@pytest.mark.parametrize("taxon, tf", [("plants", "ARF5"), ("vertebrates", "CTCF"), ("insects", "TRL")])
def test_jaspar_taxon_choice(fungi, taxon, tf):
    db = jaspar_motifs(taxon=taxon)
    names = {k.split(None, 1)[-1].upper() for k in db}
    assert len(db) > 20 and not set(db) & set(fungi)  # a different collection, not the fungal one
    assert any(tf in n for n in names)


def test_meme_round_trip_and_errors(tmp_path, fungi):
    sub = {k: fungi[k] for k in list(fungi)[:5]}
    path = write_meme(sub, tmp_path / "m.meme")
    back = read_meme(path)
    assert list(back) == list(sub)
    for k in sub:
        np.testing.assert_allclose(back[k], sub[k], atol=1e-5)
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nnothing here\n")
    with pytest.raises(DataError, match="bad.meme"):
        read_meme(bad)


def test_tomtom_finds_truncated_and_reverse_complement(fungi):
    reb1, gcn4 = _key(fungi, "REB1"), _key(fungi, "GCN4")
    queries = {"reb1_core": fungi[reb1][:, 1:-1], "gcn4_rc": fungi[gcn4][::-1, ::-1].copy()}
    df = match_motifs(queries, fungi, n_top=3)
    top = df[df["rank"] == 1].set_index("pattern")
    assert top.loc["reb1_core", "tf"] == "REB1" and top.loc["reb1_core", "orientation"] == "+"
    gcn4_hits = df[(df.pattern == "gcn4_rc") & (df.tf.str.upper() == "GCN4")]
    assert len(gcn4_hits) == 1 and gcn4_hits["orientation"].iloc[0] == "-"
    assert top.loc["gcn4_rc", "q_value"] < 0.05
    # q: Benjamini-Hochberg over each pattern's comparisons with the whole database (scipy's)
    every = match_motifs(queries, fungi, n_top=len(fungi))
    for _, rows in every.groupby("pattern"):
        p = rows["p_value"].to_numpy()
        bh = np.minimum.accumulate((p * len(fungi) / np.arange(1, len(p) + 1))[::-1])[::-1].clip(max=1)
        np.testing.assert_allclose(rows["q_value"].to_numpy(), bh, rtol=1e-12)


def test_scan_finds_planted_site(fungi):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 4, (6, 80))
    reb1 = _key(fungi, "REB1")
    site = fungi[reb1].argmax(0)
    idx[2, 30:30 + len(site)] = site
    x = np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy()
    hits = scan(x, {reb1: fungi[reb1]}, threshold=1e-4, ids=[f"s{i}" for i in range(6)])
    on_target = hits[(hits.seq_index == 2) & (hits.start == 30)]
    assert len(on_target) >= 1 and on_target["p_value"].min() < 1e-5
    assert set(hits.columns) >= {"motif", "tf", "sequence", "start", "end", "strand", "p_value"}


def test_tomtom_leaves_torch_thread_count_alone(fungi):
    """numba (Tomtom, FIMO, TF-MoDISco) shares OpenMP with torch: without care it reset 1 thread to 2 mid-demo."""
    import torch

    from seq2expr.interpret.motifs import match_motifs, scan

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        some = dict(list(fungi.items())[:3])
        match_motifs(some, fungi, n_top=1)
        assert torch.get_num_threads() == 1
        scan(np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (5, 60))].transpose(0, 2, 1), some)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
