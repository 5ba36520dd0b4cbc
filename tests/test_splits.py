"""Splits: disjoint and complete, whole groups held out, near-duplicates kept together, leakage measured."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seq2expr.config import SplitConfig
from seq2expr.data.errors import DataError
from seq2expr.data.sequences import encode, reverse_complement_codes
from seq2expr.data.similarity import leakage_report, similarity_clusters
from seq2expr.data.splits import (
    SPLITS,
    check_splits,
    column_split,
    format_split_summary,
    group_kfold,
    group_split,
    ids_split,
    make_fold_splits,
    make_splits,
    random_split,
    similarity_split,
    split_summary,
)


def _assert_partition(split: dict, n: int) -> None:
    check_splits(split, n)
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not np.intersect1d(split[a], split[b]).size


def _planted(n_base: int = 300, length: int = 110, seed: int = 0):
    """Random sequences plus near-copies: SNV, 3 spread mismatches, an 8-bp block swap, a reverse complement.

    Returns codes and the list of (original, copy) pairs.
    """
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 4, size=(n_base, length), dtype=np.uint8)
    copies, pairs = [], []
    for i in range(0, 80, 4):
        snv = base[i].copy()
        snv[length // 2] = (snv[length // 2] + 1) % 4
        three = base[i + 1].copy()
        three[[20, 55, 90]] = (three[[20, 55, 90]] + 2) % 4
        block = base[i + 2].copy()
        block[40:48] = rng.integers(0, 4, 8)
        rc = reverse_complement_codes(base[i + 3])
        for j, c in enumerate((snv, three, block, rc)):
            pairs.append((i + j, n_base + len(copies)))
            copies.append(c)
    return np.concatenate([base, np.stack(copies)]), pairs


def _brute_force_leaks(codes: np.ndarray, a_rows: np.ndarray, b_rows: np.ndarray, m: int) -> int:
    a, b = codes[a_rows], codes[b_rows]
    fwd = (a[:, None, :] != b[None, :, :]).sum(-1)
    rc = (a[:, None, :] != reverse_complement_codes(b)[None, :, :]).sum(-1)
    return int((np.minimum(fwd, rc) <= m).any(axis=1).sum())


def test_random_split_partition_and_seed():
    s = random_split(1000, 0.1, 0.2, seed=3)
    _assert_partition(s, 1000)
    assert (len(s["valid"]), len(s["test"])) == (100, 200)
    assert all(np.array_equal(s[k], random_split(1000, 0.1, 0.2, seed=3)[k]) for k in SPLITS)
    assert not np.array_equal(s["valid"], random_split(1000, 0.1, 0.2, seed=4)["valid"])


def test_group_split_keeps_groups_whole():
    rng = np.random.default_rng(0)
    groups = rng.choice([f"chr{i}" for i in range(1, 17)], size=2000)
    s = group_split(groups, valid_fraction=0.15, test_fraction=0.15, seed=1)
    _assert_partition(s, 2000)
    held = [set(groups[s[k]]) for k in SPLITS]
    assert all(held[i].isdisjoint(held[j]) for i in range(3) for j in range(i + 1, 3))
    assert held[1] and held[2] and 0.05 < len(s["test"]) / 2000 < 0.3
    s = group_split(groups, valid_groups=["chr2"], test_groups=["chr3", "chr4"])
    assert set(groups[s["valid"]]) == {"chr2"} and set(groups[s["test"]]) == {"chr3", "chr4"}
    with pytest.raises(DataError, match="chr99"):
        group_split(groups, test_groups=["chr99"])


def test_group_kfold_each_group_tested_once():
    groups = np.repeat(np.array(["I", "II", "III", "IV", "V", "VI", "VII"]), [50, 80, 30, 200, 60, 90, 40])
    folds = group_kfold(groups, k=3, seed=0)
    tested = np.concatenate([t for _, t in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(groups)))
    for train, test in folds:
        assert set(groups[train]).isdisjoint(groups[test]) and len(train) + len(test) == len(groups)
    with pytest.raises(DataError, match="k="):
        group_kfold(groups, k=8)


def test_ids_and_column_split(tmp_path):
    ids = np.array([f"g{i}" for i in range(20)])
    (tmp_path / "valid.txt").write_text("g1\ng2\n\n# comment\ng3\n")
    (tmp_path / "test.txt").write_text("g10\ng11\n")
    s = ids_split(ids, {"valid": tmp_path / "valid.txt", "test": tmp_path / "test.txt"})
    _assert_partition(s, 20)
    assert s["valid"].tolist() == [1, 2, 3] and s["test"].tolist() == [10, 11]
    (tmp_path / "bad.txt").write_text("g1\ng77\n")
    with pytest.raises(DataError) as err:
        ids_split(ids, {"test": tmp_path / "bad.txt"})
    assert "bad.txt" in str(err.value) and "line 2" in str(err.value) and "'g77'" in str(err.value)
    s = column_split(np.array(["Train", "val", "test", "train", "VALID"]))
    assert s["train"].tolist() == [0, 3] and s["valid"].tolist() == [1, 4] and s["test"].tolist() == [2]
    with pytest.raises(DataError, match="'holdout'"):
        column_split(np.array(["train", "holdout"]))


def test_similarity_clusters_keep_planted_near_duplicates_together():
    codes, pairs = _planted()
    labels = similarity_clusters(codes)
    assert all(labels[a] == labels[b] for a, b in pairs)
    # unrelated random sequences stay apart: every cluster is a planted pair or a singleton
    assert len(np.unique(labels)) == len(codes) - len(pairs)
    s = similarity_split(codes, 0.2, 0.2, seed=0)
    _assert_partition(s, len(codes))
    where = np.empty(len(codes), dtype=object)
    for k in SPLITS:
        where[s[k]] = k
    assert all(where[a] == where[b] for a, b in pairs)
    assert leakage_report(codes, s)["total_near"] == 0


def test_similarity_clusters_long_sequences_by_containment():
    """Gene-family-like: a 2 kb copy with a 1-base deletion (Hamming useless) joins by k-mer containment."""
    rng = np.random.default_rng(5)
    base = rng.integers(0, 4, size=(40, 2000), dtype=np.uint8)
    shifted = np.concatenate([base[0][:700], base[0][701:], [0]]).astype(np.uint8)
    codes = np.concatenate([base, shifted[None]])
    labels = similarity_clusters(codes, max_mismatch_fraction=0.0, min_containment=0.5)
    assert labels[0] == labels[-1] and len(np.unique(labels)) == 40
    strict = similarity_clusters(codes, max_mismatch_fraction=0.0, min_containment=1.01)
    assert len(np.unique(strict)) == 41


def test_constant_adapter_does_not_join_everything():
    """A 200-bp adapter shared by all sequences is no evidence of similarity (k-mer shared by every row)."""
    rng = np.random.default_rng(6)
    adapter = rng.integers(0, 4, 200, dtype=np.uint8)
    codes = np.concatenate([np.tile(adapter, (60, 1)), rng.integers(0, 4, (60, 100), dtype=np.uint8)], axis=1)
    codes[1, 200:] = codes[0, 200:]
    codes[1, 250] = (codes[1, 250] + 1) % 4
    labels = similarity_clusters(codes)
    assert labels[0] == labels[1] and len(np.unique(labels)) == 59


def test_leakage_report_matches_brute_force():
    codes, pairs = _planted(n_base=200)
    s = random_split(len(codes), 0.3, 0.3, seed=2)
    for m in (0, 1, 3):
        rep = leakage_report(codes, s, max_mismatches=m)
        assert rep["exhaustive"]
        for key, stats in rep["pairs"].items():
            first, second = key.split("~")
            assert stats["near"] == _brute_force_leaks(codes, s[first], s[second], m), (key, m)
            for ex in stats["examples"]:
                assert ex["mismatches"] <= m and ex[first] in s[first] and ex[second] in s[second]
    assert leakage_report(codes, s, max_mismatches=3)["total_near"] > 0


def test_make_splits_dispatch(tmp_path):
    codes, pairs = _planted(n_base=200)
    n = len(codes)
    ids = np.array([f"s{i}" for i in range(n)])
    groups = {"chrom": np.array([f"c{i % 7}" for i in range(n)]),
              "split": np.where(np.arange(n) < 30, "test", np.where(np.arange(n) < 60, "valid", "train"))}
    predefined = np.zeros(n, bool)
    predefined[-25:] = True
    for method in ("random", "group", "similarity"):
        cfg = SplitConfig(method=method, group_column="chrom", seed=1)
        s = make_splits(cfg, codes, ids, groups)
        _assert_partition(s, n)
        assert len(s["valid"]) > 0 and len(s["test"]) > 0
        s = make_splits(cfg, codes, ids, groups, predefined_test_mask=predefined)
        _assert_partition(s, n)
        assert np.array_equal(s["test"], np.flatnonzero(predefined))
        assert 0.05 < len(s["valid"]) / (n - 25) < 0.2
    s = make_splits(SplitConfig(method="column", split_column="split"), codes, ids, groups)
    assert s["test"].tolist() == list(range(30)) and s["valid"].tolist() == list(range(30, 60))
    (tmp_path / "v.txt").write_text("s5\ns6\n")
    s = make_splits(SplitConfig(method="ids", ids_files={"valid": str(tmp_path / "v.txt")}), codes, ids, groups,
                    predefined_test_mask=predefined)
    assert s["valid"].tolist() == [5, 6] and len(s["test"]) == 25
    with pytest.raises(DataError, match="group_column"):
        make_splits(SplitConfig(method="group"), codes, ids, groups)


def test_dream_public_leaderboard_leakage(mirror):
    """Real MPRA data: the 9,045 public DREAM sequences hold SNV pairs and motif variants."""
    root = mirror / "dream2022"
    truth = json.loads((root / "public_leaderboard_ids" / "ground.json").read_text())
    rows = np.array(sorted(int(k) for k in truth))
    seqs = pd.read_csv(root / "test_71103_with_camformer_predictions.csv.gz", usecols=["seq"])["seq"].to_numpy()
    codes = encode(seqs[rows].tolist())
    assert codes.shape == (9045, 110)
    rand = leakage_report(codes, random_split(len(codes), 0.1, 0.1, seed=0), max_mismatches=4)
    sim = leakage_report(codes, similarity_split(codes, 0.1, 0.1, seed=0), max_mismatches=4)
    print("DREAM public 9,045: near-copy leaks (<=4 mismatches) random:",
          {k: v["near"] for k, v in rand["pairs"].items()}, "similarity:",
          {k: v["near"] for k, v in sim["pairs"].items()})
    # a random 10% validation split: most validation sequences have a near-copy in training
    assert rand["pairs"]["valid~train"]["near"] > 0.3 * 905
    assert sim["total_near"] <= 0.01 * rand["total_near"]
    # the published SNV pairs (keys "i,j" of test indices) all fall within one cluster
    labels = similarity_clusters(codes)
    local = {int(r): i for i, r in enumerate(rows)}
    snv = json.loads((root / "public_leaderboard_ids" / "SNVs_exp_indices.json").read_text())
    pairs = [tuple(local[int(x)] for x in key.split(",")) for key in snv]
    together = np.mean([labels[a] == labels[b] for a, b in pairs])
    print(f"SNV pairs in one cluster: {together:.4f} of {len(pairs)}")
    assert len(pairs) > 4000 and together > 0.99


@pytest.mark.parametrize("method", ["similarity", "random"])
def test_fold_splits_partition_the_pool_and_keep_near_copies_together(method):
    codes, pairs = _planted()
    n = len(codes)
    test_mask = np.zeros(n, bool)
    test_mask[::10] = True  # predefined test rows stay test in every fold
    cfg = SplitConfig(method=method, folds=4, fold=2, seed=1)
    folds = make_fold_splits(cfg, codes, {}, test_mask)
    assert len(folds) == 4
    valid = np.concatenate([f["valid"] for f in folds])
    assert sorted(valid.tolist()) == np.flatnonzero(~test_mask).tolist()  # each non-test row validates once
    for f in folds:
        _assert_partition(f, n)
        assert f["test"].tolist() == np.flatnonzero(test_mask).tolist()
        assert abs(len(f["valid"]) - (~test_mask).sum() / 4) <= 3  # balanced folds
    assert make_splits(cfg, codes, np.arange(n).astype(str), {}, test_mask)["valid"].tolist() == \
        folds[2]["valid"].tolist()
    if method == "similarity":  # no near-copy crosses folds, so no fold's validation leaks
        fold_of = np.full(n, -1)
        for i, f in enumerate(folds):
            fold_of[f["valid"]] = i
        assert all(fold_of[a] == fold_of[b] for a, b in pairs if not (test_mask[a] or test_mask[b]))
        assert all(leakage_report(codes, {k: f[k] for k in ("train", "valid")})["total_near"] == 0 for f in folds)


def test_fold_splits_by_group_draw_test_groups_first():
    groups = np.repeat(np.array([f"chr{i}" for i in range(10)]), 30)
    codes = np.zeros((len(groups), 20), np.uint8)
    cfg = SplitConfig(method="group", group_column="chromosome", test_groups=["chr3"], folds=3)
    folds = make_fold_splits(cfg, codes, {"chromosome": groups})
    for f in folds:
        assert set(groups[f["test"]]) == {"chr3"}
        assert not set(groups[f["valid"]]) & set(groups[f["train"]])  # whole chromosomes per fold
    assert sorted(np.concatenate([f["valid"] for f in folds]).tolist()) == np.flatnonzero(groups != "chr3").tolist()


def test_fold_config_is_checked():
    with pytest.raises(ValueError, match="at least 2"):
        SplitConfig(folds=1)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        SplitConfig(folds=3, fold=3)
    with pytest.raises(ValueError, match="not 'ids'"):
        SplitConfig(method="ids", folds=3)


def test_test_by_species_validation_by_chromosome():
    """DeepCRE cross-species: test = a whole species, validation = whole chromosomes of the training species."""
    species = np.repeat(np.array(["ath", "osa"]), 120)
    chrom = np.array([f"{s}_chr{i % 5}" for i, s in enumerate(species)])
    groups = {"species": species, "chromosome": chrom}
    codes = np.zeros((len(species), 20), np.uint8)
    ids = np.arange(len(species)).astype(str)
    with pytest.raises(DataError, match=r"no group left for training.*'test': \['osa'\].*valid_group_column"):
        make_splits(SplitConfig(method="group", group_column="species", test_groups=["osa"], valid_groups=["ath"]),
                    codes, ids, groups)
    cfg = SplitConfig(method="group", group_column="species", test_groups=["osa"], valid_group_column="chromosome",
                      valid_fraction=0.2, seed=3)
    s = make_splits(cfg, codes, ids, groups)
    _assert_partition(s, len(species))
    assert set(species[s["test"]]) == {"osa"} and set(species[s["train"]]) == set(species[s["valid"]]) == {"ath"}
    assert len(set(chrom[s["valid"]])) == 1 and not set(chrom[s["valid"]]) & set(chrom[s["train"]])
    s = make_splits(cfg.model_copy(update={"valid_groups": ["ath_chr2"]}), codes, ids, groups)
    assert set(chrom[s["valid"]]) == {"ath_chr2"}
    folds = make_fold_splits(cfg.model_copy(update={"folds": 5}), codes, groups)
    assert sorted(set(chrom[f["valid"]].tolist()).pop() for f in folds) == [f"ath_chr{i}" for i in range(5)]
    assert all(set(species[f["test"]]) == {"osa"} for f in folds)
    with pytest.raises(ValueError, match="valid_group_column"):
        SplitConfig(method="random", valid_group_column="chromosome")


def _three_species(n_per: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    species = np.repeat(np.array(["A", "B", "C"]), n_per)
    codes = rng.integers(0, 4, (len(species), 60)).astype(np.uint8)
    return species, codes, np.arange(len(species)).astype(str)


def test_group_test_validates_inside_the_training_groups():
    """The issue's case: test = species C; validation is valid_fraction of A and B (similarity-aware), not all of B."""
    species, codes, ids = _three_species()
    codes[1] = codes[0]  # a near-copy pair in the training species stays on one side
    cfg = SplitConfig(method="group", group_column="species", test_groups=["C"], valid_fraction=0.1, seed=0)
    s = make_splits(cfg, codes, ids, {"species": species})
    _assert_partition(s, len(species))
    assert set(species[s["test"]]) == {"C"} and (species == "C").sum() == len(s["test"])
    assert set(species[s["valid"]]) == set(species[s["train"]]) == {"A", "B"}
    assert len(s["valid"]) == pytest.approx(60, abs=3)  # 10% of the 600 training-species rows
    assert (0 in s["valid"]) == (1 in s["valid"])
    summary = split_summary(s, {"species": species}, cfg)
    assert summary["warnings"] == [] and summary["by"]["species"]["B"]["train"] > 250
    assert summary["rows"] == {"train": len(s["train"]), "valid": len(s["valid"]), "test": 300}
    lines = format_split_summary(summary)
    assert lines[0] == f"split summary: train {len(s['train'])}, valid {len(s['valid'])}, test 300"
    assert any(line.split()[0] == "species=C" and line.split()[1:] == ["0", "0", "300"] for line in lines)
    # named validation groups are still honoured, and then no warning either
    named = cfg.model_copy(update={"valid_groups": ["B"]})
    s = make_splits(named, codes, ids, {"species": species})
    assert set(species[s["valid"]]) == {"B"} and split_summary(s, {"species": species}, named)["warnings"] == []


def test_split_summary_warns_about_a_whole_group_nobody_named():
    species, codes, ids = _three_species()
    cfg = SplitConfig(method="group", group_column="species", test_fraction=0.3, seed=0)  # test drawn, not named
    s = make_splits(cfg, codes, ids, {"species": species})
    (held,) = set(species[s["test"]])
    (warning,) = split_summary(s, {"species": species}, cfg)["warnings"]
    assert f"test split is the whole of species {held} (300 rows)" in warning and "split.test_groups" in warning
    # the old behaviour (validation = a whole other species), seen through the summary of a hand-made split
    rows = np.arange(len(species))
    old = {"train": rows[species == "A"], "valid": rows[species == "B"], "test": rows[species == "C"]}
    (warning,) = split_summary(old, {"species": species}, cfg.model_copy(update={"test_groups": ["C"]}))["warnings"]
    assert "valid split is the whole of species B" in warning and "valid_fraction" in warning
    # a random split is no whole group; a split fixed by a file is the user's own
    s = make_splits(SplitConfig(method="random"), codes, ids, {"species": species})
    assert split_summary(s, {"species": species}, SplitConfig(method="random"))["warnings"] == []
    assert split_summary(old, {"species": species}, None, fixed=["valid", "test"])["warnings"] == []


def test_numeric_group_values_name_groups(tmp_path):
    """``test_groups: [9]`` (a chromosome number read by YAML as an int) selects the rows whose column holds 9."""
    from seq2expr.config import load_config
    from seq2expr.data.prepare import prepare_data

    rng = np.random.default_rng(0)
    pd.DataFrame({"sequence": ["".join(rng.choice(list("ACGT"), 30)) for _ in range(60)],
                  "expression": rng.normal(size=60), "chrom": np.repeat([1, 2, 9], 20)}
                 ).to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    (tmp_path / "c.yaml").write_text(f"data:\n  path: {tmp_path / 't.tsv'}\n  cache_dir: {tmp_path / 'cache'}\n"
                                     "  split: {method: group, group_column: chrom, test_groups: [9], "
                                     "valid_groups: [2]}\n")
    bundle = prepare_data(load_config(tmp_path / "c.yaml").data)
    chrom = np.asarray(bundle.groups["chrom"]).astype(str)
    assert set(chrom[bundle.splits["test"]]) == {"9"} and set(chrom[bundle.splits["valid"]]) == {"2"}
    assert len(bundle.splits["test"]) == 20
