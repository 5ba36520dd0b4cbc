"""Every shipped config is a valid run config, and the table template trains as written on a real data set
of another species and assay (DeepSTARR enhancers: separate train/validation/test files, two targets)."""

from __future__ import annotations

import json

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
    train(cfg, progress=False)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["n"] == {"train": 1000, "valid": 1000, "test": 1000}
    assert set(m["test"]["per_target"]) == {"Dev_log2_enrichment", "Hk_log2_enrichment"}
    assert set(m["test"]["groups"]["seqnames"]) >= {"chrX"}
    # the samples hold the same enhancers in several files: the leakage check finds them, with their IDs
    leak = m["leakage"]["pairs"]["test~train"]
    assert leak["identical"] >= 12 and {"test_id", "train_id"} <= set(leak["examples"][0])
    assert leak["examples"][0]["test_id"].startswith("test:")
