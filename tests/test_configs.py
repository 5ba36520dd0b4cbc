"""Every shipped config is a valid run config, and the table template trains as written on a real data set
of another species and assay (DeepSTARR enhancers: separate train/validation/test files, two targets)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from seq2expr.config import load_config, shipped_configs
from seq2expr.training import train

CONFIGS = list(shipped_configs().values())


def test_configs_ship_inside_the_package():
    assert {"dream2022", "table", "yeast_genes"} <= set(shipped_configs())
    assert all(p.parent.name == "configs" and p.parent.parent.name == "seq2expr" for p in CONFIGS)
    # a shipped config's name, or its old repository path, loads it
    assert load_config("dream2022") == load_config(shipped_configs()["dream2022"])
    assert load_config("configs/dream2022.yaml").model.name == "legnet"
    with pytest.raises(FileNotFoundError, match="shipped: dream2022"):
        load_config("no_such_config")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg.data.dataset or cfg.data.path


def test_table_template_on_deepstarr_files(mirror, tmp_path):
    root = mirror / "mpra_samples"
    template = next(p for p in CONFIGS if p.stem == "table")
    cfg = load_config(template, [
        f"data.path={root / 'drosophila_sample_train.txt.gz'}",
        f"data.valid_path={root / 'drosophila_sample_val.txt.gz'}",
        f"data.test_path={root / 'drosophila_sample_test.txt.gz'}",
        "data.id_column=null",  # these 1,000-row samples share a few IDs across files
        "model.params={channels: [32, 32], pool_sizes: [4, 4], hidden: [32]}", "train.epochs=2", "train.threads=1",
        "train.precise_bn=0", f"output_dir={tmp_path / 'run'}"])
    # the samples hold the same enhancers in several files: test sequences in the training files are refused, with
    # the count and the files, and leave no output folder; data.dedupe drops them from the training side
    with pytest.raises(ValueError, match=r"sequence\(s\) of .*drosophila_sample_train.* also occur in the test file"):
        train(cfg, progress=False)
    assert not (tmp_path / "run").exists()
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"dedupe": True})})
    train(cfg, progress=False)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["n"]["test"] == 1000 and 1900 <= m["n"]["train"] + m["n"]["valid"] < 2000
    assert set(m["test"]["per_target"]) == {"Dev_log2_enrichment", "Hk_log2_enrichment"}
    assert set(m["test"]["groups"]["seqnames"]) >= {"chrX"}
    # none left identical across test and train; the leakage check still reports near-identical pairs, with IDs
    leak = m["leakage"]["pairs"]["test~train"]
    assert leak["identical"] == 0
    assert all(e["test_id"].startswith("test:") and "train_id" in e for e in leak["examples"])


def _recipes() -> dict[str, str]:
    """The split recipes documented in the table template: ``# recipe NAME: {yaml}``."""
    text = next(p for p in CONFIGS if p.stem == "table").read_text()
    return dict(re.findall(r"^\s*# recipe (\w+):\s+(\{.*\})\s*$", text, flags=re.M))


def test_table_template_documents_every_split_recipe():
    assert set(_recipes()) == {"random", "similarity", "group_test", "group_each", "group_by_two", "column", "ids",
                               "folds"}


@pytest.fixture(scope="module")
def three_species(tmp_path_factory):
    """A promoter table as the issue's user had: id, sequence, enrichment, species (A, B, C), plus a chromosome
    and a split column for the recipes that use them; enrichment counts a planted motif."""
    root = tmp_path_factory.mktemp("species")
    rng = np.random.default_rng(0)
    n = 600
    seqs = ["".join(s) for s in rng.choice(list("ACGT"), size=(n, 60))]
    enrich = rng.normal(0, 0.3, n)
    for i in range(n):
        if rng.random() < 0.5:
            p = int(rng.integers(0, 53))
            seqs[i] = seqs[i][:p] + "TGACTCA" + seqs[i][p + 7:]
            enrich[i] += 1.0
    species = np.repeat(["A", "B", "C"], n // 3)
    pd.DataFrame({"id": [f"p{i}" for i in range(n)], "sequence": seqs, "enrichment": enrich, "species": species,
                  "chromosome": [f"{s}_chr{i % 4}" for i, s in enumerate(species)],
                  "split": rng.choice(["train", "valid", "test"], n, p=[0.8, 0.1, 0.1])}).to_csv(
        root / "promoters.tsv", sep="\t", index=False)
    (root / "valid_ids.txt").write_text("\n".join(f"p{i}" for i in range(0, n, 10)) + "\n")
    (root / "test_ids.txt").write_text("\n".join(f"p{i}" for i in range(5, n, 10)) + "\n")
    return root


@pytest.mark.parametrize("recipe", sorted(_recipes()))
def test_table_template_split_recipes_train(recipe, three_species, tmp_path, monkeypatch):
    """Each documented split recipe trains on a three-species table; the split summary says what went where."""
    monkeypatch.chdir(three_species)  # the ids recipe names its files relative to the working folder
    template = next(p for p in CONFIGS if p.stem == "table")
    cfg = load_config(template, [
        f"data.path={three_species / 'promoters.tsv'}", "data.valid_path=null", "data.test_path=null",
        "data.id_column=id", "data.sequence_column=sequence", "data.target_columns=[enrichment]",
        "data.group_columns=[species]", "data.policy.length=60", f"data.split={_recipes()[recipe]}",
        f"data.cache_dir={tmp_path / 'cache'}", "model.params={channels: [16], pool_sizes: [4], hidden: [16]}",
        "train.epochs=1", "train.threads=1", "train.precise_bn=0", f"output_dir={tmp_path / 'run'}"])
    train(cfg, progress=False)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    summary = m["split_summary"]
    assert summary["rows"] == m["n"] and sum(m["n"].values()) == 600 and m["n"]["valid"] > 0
    by = summary["by"]["species"]
    assert summary["warnings"] == []  # every recipe names what it holds out
    if recipe.startswith("group"):
        assert by["C"] == {"train": 0, "valid": 0, "test": 200}
        assert by["A"]["test"] == by["B"]["test"] == 0
    if recipe == "group_test":  # validation inside both training species, B is trained on
        assert by["A"]["train"] > 150 and by["B"]["train"] > 150 and by["A"]["valid"] > 0 and by["B"]["valid"] > 0
        assert 30 <= m["n"]["valid"] <= 50  # valid_fraction 0.1 of the 400 training-species rows
    if recipe == "group_each":
        assert by["B"] == {"train": 0, "valid": 200, "test": 0} and by["A"]["train"] == 200
    if recipe == "group_by_two":
        chrom = summary["by"]["chromosome"]
        held = [c for c, v in chrom.items() if v["valid"]]
        assert held and all(chrom[c]["valid"] == sum(chrom[c].values()) for c in held)
    if recipe == "ids":
        assert m["n"]["valid"] == 60 and m["n"]["test"] == 60
