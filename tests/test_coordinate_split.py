"""Genomic tiles: the coordinates split keeps overlapping tiles together; the leakage check counts overlaps."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.config import DataConfig, SplitConfig
from seq2expr.data.coordinates import coordinate_clusters, coordinate_columns, overlap_report, read_tiles
from seq2expr.data.errors import DataError
from seq2expr.data.prepare import prepare_data
from seq2expr.data.splits import coordinate_split, make_fold_splits
from seq2expr.training.assemble import check_leakage


def _tiles(n_single: int = 240, n_clusters: int = 40, length: int = 200, seed: int = 0) -> pd.DataFrame:
    """Isolated tiles (> 14 kb apart on a chromosome) and clusters of 2-4 tiles shifted by 40-150 bp (overlaps)."""
    rng = np.random.default_rng(seed)
    rows, pos = [], 1_000
    for i in range(n_single + n_clusters):
        chrom = f"chr{i % 3 + 1}"
        for j in range(int(rng.integers(2, 5)) if i >= n_single else 1):
            rows.append((chrom, pos + j * int(rng.integers(40, 150)), i))
        pos += 5_000
    df = pd.DataFrame(rows, columns=["chromosome", "begin", "cluster"])
    df["stop"] = df["begin"] + length
    df["sequence"] = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(len(df))]
    df["y"] = rng.normal(size=len(df))
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _groups(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: df[c].astype(str).to_numpy() for c in ("chromosome", "begin", "stop")}


def _brute_overlaps(df: pd.DataFrame, split: dict) -> int:
    """Test rows sharing a base with a train/valid row, by comparing every pair (the oracle)."""
    ref = df.iloc[np.concatenate([split["train"], split["valid"]])]
    n = 0
    for _, t in df.iloc[split["test"]].iterrows():
        same = ref["chromosome"] == t["chromosome"]
        n += bool((same & (ref["begin"] < t["stop"]) & (ref["stop"] > t["begin"])).any())
    return n


def test_coordinate_columns_spellings():
    assert coordinate_columns(["seqnames", "Start", "END", "x"]) == ("seqnames", "Start", "END")
    assert coordinate_columns(["chr", "begin", "stop"]) == ("chr", "begin", "stop")
    assert coordinate_columns(["chrom", "start"]) is None


def test_coordinate_split_keeps_overlapping_tiles_together():
    df = _tiles()
    split = coordinate_split(_groups(df), 0.1, 0.2, seed=3)
    role = np.empty(len(df), dtype=object)
    for k, rows in split.items():
        role[rows] = k
    assert (df.assign(role=role).groupby("cluster")["role"].nunique() == 1).all()
    assert _brute_overlaps(df, split) == 0
    rep = overlap_report(read_tiles(_groups(df)), split)
    assert rep["test_overlapping"] == 0 and rep["valid_overlapping"] == 0
    n = len(df)
    assert abs(len(split["test"]) - 0.2 * n) <= 0.05 * n and abs(len(split["valid"]) - 0.1 * n) <= 0.05 * n
    # min_gap joins tiles closer than it: units are 14.3-14.8 kb apart on a chromosome
    tiles = read_tiles(_groups(df))
    assert len(np.unique(coordinate_clusters(tiles, min_gap=14_000))) == 280
    assert len(np.unique(coordinate_clusters(tiles, min_gap=15_000))) == 3
    with pytest.raises(ValueError, match="min_gap works with split.method=coordinates"):
        SplitConfig(method="similarity", min_gap=100)
    folds = make_fold_splits(SplitConfig(method="coordinates", folds=3), np.zeros((n, 60), np.uint8), _groups(df))
    assert all(_brute_overlaps(df, f) == 0 for f in folds)


def test_leakage_check_counts_planted_overlaps(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """A similarity split of unrelated sequences on overlapping tiles: the check counts the overlaps (was 0)."""
    df = _tiles()
    df.drop(columns="cluster").to_csv(tmp_path / "tiles.tsv", sep="\t", index=False)
    cfg = DataConfig(path=str(tmp_path / "tiles.tsv"), target_columns=["y"], cache_dir=str(tmp_path / "c"),
                     split=SplitConfig(method="similarity", test_fraction=0.3, seed=1))
    bundle = prepare_data(cfg)
    assert "begin" not in bundle.groups  # coordinates read for the check, not made group columns
    with caplog.at_level(logging.WARNING):
        rep = check_leakage(bundle)
    planted = _brute_overlaps(df, bundle.splits)
    assert planted > 0 and rep["total_near"] == 0
    cov = rep["coordinates"]
    assert cov["test_overlapping"] == planted and 0 < cov["test_overlap_bp"][0] <= cov["test_overlap_bp"][1] < 200
    assert sum("overlap a train/valid row" in r.getMessage() for r in caplog.records) == 1


def test_coordinates_without_columns_is_one_clear_error(tmp_path: Path, one_line_error, monkeypatch):
    """``split.method: coordinates`` on a table without start/end: one error naming the file and what is missing."""
    path = tmp_path / "plain.tsv"
    pd.DataFrame({"chr": ["chr1", "chr2"], "sequence": ["ACGT", "ACGA"], "y": [1.0, 2.0]}).to_csv(
        path, sep="\t", index=False)
    cfg = DataConfig(path=str(path), target_columns=["y"], split=SplitConfig(method="coordinates"))
    with pytest.raises(DataError) as err:
        prepare_data(cfg)
    msg = str(err.value)
    assert str(path) in msg and "start/begin" in msg and "end/stop" in msg and "chrom/" not in msg
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"data": cfg.model_dump(include={"path", "target_columns"})
                                                     | {"split": {"method": "coordinates"}}, "output_dir": "run"}))
    one_line_error(CliRunner().invoke(app, ["train", "c.yaml"]), str(path), "start/begin, end/stop")
    assert not (tmp_path / "run").exists()


def test_starr_seq_sample_similarity_split_overlaps(mirror: Path, tmp_path: Path):
    """The Drosophila STARR-seq sample (1-based inclusive tiles): the similarity split leaks overlapping tiles into
    test; the coordinates split leaves none."""
    d = mirror / "mpra_samples"
    table = pd.concat([pd.read_csv(d / f"drosophila_sample_{s}.txt.gz", sep="\t") for s in ("train", "val", "test")])
    table.to_csv(tmp_path / "starr.tsv", sep="\t", index=False)
    found = {}
    for method in ("similarity", "coordinates"):
        cfg = DataConfig(path=str(tmp_path / "starr.tsv"), sequence_column="Sequence",
                         target_columns=["Dev_log2_enrichment"], cache_dir=str(tmp_path / "c"),
                         split=SplitConfig(method=method))
        bundle = prepare_data(cfg)
        assert bundle.tiles.closed and bundle.tiles.columns == ("seqnames", "start", "end")
        found[method] = check_leakage(SimpleNamespace(codes=bundle.codes, splits=bundle.splits, ids=bundle.ids,
                                                      tiles=bundle.tiles))["coordinates"]["test_overlapping"]
    assert found["similarity"] > 0 and found["coordinates"] == 0
