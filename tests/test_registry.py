"""Data set registry: real DREAM 2022 / Vaishnav 2022 loading from the mirror, missing files, checksums."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from seq2expr.data.errors import DataError
from seq2expr.data.registry import MIRROR_ENV, fetch, get_entry, list_datasets, load_dataset, sha256_file

# the real-data mirror: $SEQ2EXPR_DATA_MIRROR, else ../shared/data (as the conftest `mirror` fixture)
MIRROR = Path(os.environ.get("SEQ2EXPR_DATA_MIRROR")
              or Path(__file__).resolve().parents[2] / "shared" / "data").resolve()
needs_mirror = pytest.mark.skipif(not (MIRROR / "dream2022").is_dir(), reason="data mirror absent")


@pytest.fixture
def mirror_env(monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(MIRROR))
    return MIRROR


@pytest.fixture(scope="module")
def dream():
    if not (MIRROR / "dream2022").is_dir():
        pytest.skip("data mirror absent")
    return load_dataset("dream2022", mirror=MIRROR)


def test_registry_lists_entries_with_checksums():
    names = {e.name for e in list_datasets()}
    assert {"dream2022", "dream2022_demo_train", "vaishnav2022"} <= names
    for e in list_datasets():
        for f in e.files:
            assert len(f.sha256) == 64 and f.size > 0 and f.url.startswith("https://")


@needs_mirror
def test_dream2022_records_split_and_subsets(dream):
    assert len(dream) == 71103
    assert dream.ids[0] == "0" and dream.ids[-1] == "71102"
    split = dream.groups["split"]
    assert (split == "train").sum() == 9045 and (split == "test").sum() == 62058
    ground = json.loads((MIRROR / "dream2022/public_leaderboard_ids/ground.json").read_text())
    idx = np.array([int(k) for k in ground])
    assert (split[idx] == "train").all()
    np.testing.assert_allclose(dream.targets[idx, 0], np.array(list(ground.values())), atol=1e-5)
    counts = {k: int(v.sum()) for k, v in dream.groups.items() if k.startswith("subset_")}
    assert counts["subset_high"] == 968 and counts["subset_low"] == 997 and counts["subset_random"] == 6349
    assert counts["subset_yeast"] == 578  # 964 table rows, 578 distinct test indices
    assert counts["subset_challenging"] == 1953
    assert counts["subset_snv"] > 7000 and counts["subset_motif_tiling"] > 2000
    # a sequence can be in several subsets, and membership agrees with the subset tables' sequences
    import pandas as pd

    hi = pd.read_csv(MIRROR / "dream2022/test_subset_ids/high_exp_seqs.csv.gz")
    assert [dream.sequences[i] for i in hi["pos"][:50]] == hi["sequence"][:50].tolist()
    r = np.corrcoef(dream.groups["camformer"], dream.targets[:, 0])[0, 1]
    assert 0.9 < r < 0.99


@needs_mirror
def test_subset_syntax_and_other_entries(mirror_env):
    test = load_dataset("dream2022:test")
    assert len(test) == 62058 and set(test.groups["split"]) == {"test"}
    demo = load_dataset("dream2022_demo_train")
    assert len(demo) == 6370 and demo.targets.shape == (6370, 1)
    assert demo.targets.min() >= 0 and demo.targets.max() <= 17.5
    v = load_dataset("vaishnav2022")
    assert set(v.groups["set"]) == {"Native", "Random", "Drift", "SSWM"}
    assert set(v.groups["medium"]) == {"complex", "defined"}
    assert len(np.unique(v.ids)) == len(v)
    nc = load_dataset("vaishnav2022:native_complex")
    assert len(nc) == 3733 and (nc.groups["set"] == "Native").all()
    rd = load_dataset("vaishnav2022:random_defined")  # the file with its own columns (seq110, ...)
    assert len(rd) == 5289 and all(len(s) == 110 for s in rd.sequences[:100])
    r = np.corrcoef(rd.groups["paper_prediction"], rd.targets[:, 0])[0, 1]
    assert r > 0.8
    with pytest.raises(DataError, match="no subset"):
        load_dataset("vaishnav2022:nope")
    with pytest.raises(DataError, match="unknown data set"):
        get_entry("nope")


def test_missing_mirror_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv("SEQ2EXPR_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        load_dataset("dream2022_demo_train")
    msg = str(err.value)
    assert "demo_train_6369.txt.gz" in msg and MIRROR_ENV in msg and "seq2expr data fetch" in msg


def test_fetch_without_network_says_set_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    import requests

    def offline(*a, **k):
        raise requests.ConnectionError("network unreachable")

    monkeypatch.setattr(requests, "get", offline)
    with pytest.raises(DataError, match=MIRROR_ENV):
        fetch("dream2022_demo_train", cache_dir=tmp_path)
    assert not list(tmp_path.rglob("*.gz"))  # nothing half-written


@needs_mirror
def test_checksum_mismatch_detected(tmp_path, monkeypatch):
    src = MIRROR / "dream2022" / "demo_train_6369.txt.gz"
    bad = tmp_path / "dream2022" / src.name
    bad.parent.mkdir(parents=True)
    data = bytearray(gzip.decompress(src.read_bytes()))
    data[5] = ord("A") if data[5] != ord("A") else ord("C")  # one changed base
    bad.write_bytes(gzip.compress(bytes(data)))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    with pytest.raises(DataError, match="checksum mismatch") as err:
        load_dataset("dream2022_demo_train", mirror=tmp_path)
    assert str(bad) in str(err.value)
    # an intact copy, re-gzipped (different bytes, same content), is accepted through the content checksum
    shutil.copyfile(src, bad)
    os.chmod(bad, 0o644)
    bad.write_bytes(gzip.compress(gzip.decompress(src.read_bytes()), mtime=0))
    assert sha256_file(bad) != sha256_file(src)
    assert len(load_dataset("dream2022_demo_train", mirror=tmp_path)) == 6370


@needs_mirror
def test_fetch_reports_mirror_copy(mirror_env, tmp_path):
    got = fetch("dream2022_demo_train", cache_dir=tmp_path)
    (path, where), = got.values()
    assert where == f"${MIRROR_ENV}" and path.is_file()


def test_no_layer_names_a_data_set_outside_its_module():
    """Data sets are modules of ``seq2expr/data/datasets/`` that register themselves: no other code selects one by
    name (a string literal that is a registered name or ``name:subset``; docstrings and help examples aside)."""
    import ast

    from seq2expr.data.registry import list_datasets

    names = {e.name for e in list_datasets()}
    assert {"dream2022", "vaishnav2022"} <= names
    root = Path(__file__).parents[1] / "seq2expr"
    found = []
    for path in sorted(root.rglob("*.py")):
        if "datasets" in path.relative_to(root).parts:
            continue
        tree = ast.parse(path.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(root)}:{n.lineno} {n.value!r}" for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
                  and n.value.split(":", 1)[0] in names]
    assert not found, found
    # and the scorer travels with its entry
    from seq2expr.data.datasets import dream2022
    from seq2expr.data.registry import get_entry
    from seq2expr.evaluation import scorer_for

    assert get_entry("dream2022").scorer is dream2022.score_ids is scorer_for("dream2022:test")
    assert scorer_for("vaishnav2022") is None


def test_dealmeida2022_sample_from_the_mirror(mirror_env):
    """The DeepSTARR sample: three checked files, two targets (developmental, housekeeping), 249 nt, and
    three subsets of 1,000."""
    from seq2expr.data.registry import load_split

    if not (MIRROR / "mpra_samples").is_dir():
        pytest.skip("data mirror absent")
    entry = get_entry("dealmeida2022_sample")
    assert sorted(entry.subsets) == ["test", "train", "valid"] and all(f.content_sha256 for f in entry.files)
    rec = load_dataset("dealmeida2022_sample")
    assert len(rec) == 3000 and rec.target_names == ["Dev_log2_enrichment", "Hk_log2_enrichment"]
    assert rec.targets.shape == (3000, 2) and np.isfinite(rec.targets).all()
    assert {len(s) for s in rec.sequences} == {249} and set(rec.groups["chrom"]) >= {"chrX"}
    for split in entry.subsets:
        part = load_split(f"dealmeida2022_sample:{split}")
        assert len(part) == 1000 and set(part.groups["split"]) == {split}


def test_agarwal2025_sample_from_the_mirror(mirror_env):
    """The human lentiMPRA sample: three checked files, subsets train/valid/test, and ``data info`` shows it."""
    from typer.testing import CliRunner

    from seq2expr.cli.main import app
    from seq2expr.data.registry import load_split

    if not (MIRROR / "mpra_samples").is_dir():
        pytest.skip("data mirror absent")
    entry = get_entry("agarwal2025_sample")
    assert sorted(entry.subsets) == ["test", "train", "valid"] and all(f.content_sha256 for f in entry.files)
    rec = load_dataset("agarwal2025_sample")
    assert len(rec) == 3000 and rec.target_names == ["mean_value"] and len(np.unique(rec.ids)) == 3000
    assert {len(s) for s in rec.sequences} == {230}
    assert all(s.startswith(entry.construct[0]) and s.endswith(entry.construct[1]) for s in rec.sequences)
    for split in entry.subsets:
        part = load_split(f"agarwal2025_sample:{split}")
        assert len(part) == 1000 and set(part.groups["split"]) == {split} and part.dataset == "agarwal2025_sample"
    res = CliRunner().invoke(app, ["data", "info", "agarwal2025_sample"])
    assert res.exit_code == 0, res.output
    assert "Agarwal" in res.output and "records: 3000" in res.output and "test, train, valid" in res.output
