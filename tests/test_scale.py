"""Speed and scale: Lightning precision and DDP options, inference precision, sharded prediction and its merge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.torch import load_file

from seq2expr.config import load_config
from seq2expr.data.synthetic import make_synthetic
from seq2expr.inference import load_model, predict
from seq2expr.training import train

MOTIFS = [{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0},
          {"name": "NRG1", "matrix_id": "MA0347.3", "effect": -1.5}]
SMALL_CNN = {"channels": [32], "kernel_sizes": 11, "pool_sizes": [60], "convs_per_block": 1, "dropout": 0.0,
             "hidden": [16], "head_dropout": 0.0}


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """1,200 random 60-bp promoters; GCN4 raises expression, NRG1 lowers it (sampled JASPAR sites)."""
    d = tmp_path_factory.mktemp("planted")
    table, _ = make_synthetic(n=1200, length=60, seed=0, motifs=MOTIFS, interaction=None, noise_sd=0.3,
                              position=(1.0, 1.0), p_present=0.5)
    table.to_csv(d / "data.tsv", sep="\t", index=False)
    return d


def run_config(data: Path, out: Path, **train_extra) -> dict:
    return {"data": {"path": str(data / "data.tsv"), "id_column": "id", "cache_dir": str(data / "cache"),
                     "split": {"method": "random", "valid_fraction": 0.15, "test_fraction": 0.15}},
            "model": {"name": "cnn", "params": SMALL_CNN},
            "train": {"epochs": 5, "batch_size": 64, "lr": 0.01, "threads": 1, "early_stopping_patience": None,
                      **train_extra},
            "output_dir": str(out)}


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "seq2expr", *args], capture_output=True, text=True, env=env,
                          timeout=600, **kw)


def test_ddp_two_processes_on_cpu_train_one_model(planted, tmp_path):
    """2-process DDP (gloo): the processes share each epoch's batches, rank 0 alone writes one model that learned
    the planted motifs and loads in a fresh process."""
    out = tmp_path / "ddp"
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(yaml.safe_dump(run_config(planted, out, accelerator="cpu", devices=2, strategy="ddp")))
    res = cli("train", str(cfg), "--quiet")
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["overall"]["pearson_r"] > 0.7, metrics["test"]["overall"]
    assert sorted(p.name for p in (out / "checkpoints").glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]
    assert [p.parent.name for p in out.rglob("model.safetensors")] == ["model"]
    # half the batches per process: an epoch is ceil(ceil(840 / 64) / 2) = 7 optimiser steps
    rows = pd.read_csv(out / "logs" / "metrics.csv")
    assert rows["step"].dropna().max() == 5 * 7 - 1
    seqs = pd.read_csv(planted / "data.tsv", sep="\t")["sequence"].tolist()[:50]
    here = predict(load_model(out / "model"), seqs)
    (tmp_path / "in.tsv").write_text("id\tsequence\n" + "".join(f"s{i}\t{s}\n" for i, s in enumerate(seqs)))
    res = cli("predict", str(out / "model"), str(tmp_path / "in.tsv"), "-o", str(tmp_path / "p.tsv"))
    assert res.returncode == 0, res.stderr[-3000:]
    fresh = pd.read_csv(tmp_path / "p.tsv", sep="\t")["expression"].to_numpy()
    np.testing.assert_allclose(fresh, here[:, 0], rtol=1e-5, atol=1e-5)


def test_bf16_mixed_training_learns_and_saves_fp32(planted, tmp_path):
    cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in run_config(planted, tmp_path).items()]
                      + ["train.precision=bf16"])
    assert cfg.train.precision == "bf16-mixed"
    model_dir = train(cfg, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["overall"]["pearson_r"] > 0.7
    assert {str(t.dtype) for t in load_file(model_dir / "model.safetensors").values()} <= {"torch.float32",
                                                                                          "torch.int64"}


@pytest.fixture(scope="module")
def small_model(planted, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small")
    cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in run_config(planted, out).items()]
                      + ["train.epochs=3"])
    return train(cfg, progress=False)


def test_sharded_predictions_merged_equal_one_run(small_model, planted, tmp_path):
    """--shard K/N over a table read in chunks that straddle the shard boundaries; merged in any order, the parts are
    the single run's file byte for byte (row-number IDs included)."""
    from typer.testing import CliRunner

    from seq2expr.cli.main import app

    runner = CliRunner()
    seqs = pd.read_csv(planted / "data.tsv", sep="\t")["sequence"].head(1001)
    pd.DataFrame({"sequence": seqs}).to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    base = ["predict", str(small_model), str(tmp_path / "in.tsv"), "--chunk-size", "97", "--batch-size", "50"]
    assert runner.invoke(app, [*base, "-o", str(tmp_path / "one.tsv")]).exit_code == 0
    for k in range(3):
        res = runner.invoke(app, [*base, "-o", str(tmp_path / f"part{k}.tsv"), "--shard", f"{k}/3"])
        assert res.exit_code == 0, res.output
    sizes = [len(pd.read_csv(tmp_path / f"part{k}.tsv", sep="\t")) for k in range(3)]
    assert sizes == [300, 350, 351]  # bounds rounded to whole batches of 50
    parts = [str(tmp_path / f"part{k}.tsv") for k in (2, 0, 1)]
    res = runner.invoke(app, ["merge", str(tmp_path / "merged.tsv"), *parts])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "merged.tsv").read_bytes() == (tmp_path / "one.tsv").read_bytes()
    # --devices 2: two processes (CPUs here), each a shard, merged
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "dev.tsv"), "--devices", "2"])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(pd.read_csv(tmp_path / "dev.tsv", sep="\t")["expression"],
                               pd.read_csv(tmp_path / "one.tsv", sep="\t")["expression"], rtol=1e-6, atol=1e-7)
    assert not list(tmp_path.glob(".dev.tsv.parts*"))
    # a missing shard: one line naming it, exit 2, nothing written
    res = runner.invoke(app, ["merge", str(tmp_path / "bad.tsv"), *parts[:2]])
    assert res.exit_code == 2 and "missing [1]" in res.output and not (tmp_path / "bad.tsv").exists()
    assert runner.invoke(app, [*base, "-o", str(tmp_path / "x.tsv"), "--shard", "3/3"]).exit_code == 2


def test_inference_precision(small_model, planted):
    seqs = pd.read_csv(planted / "data.tsv", sep="\t")["sequence"].head(300).tolist()
    model = load_model(small_model)
    fp32 = predict(model, seqs)
    np.testing.assert_array_equal(predict(model, seqs, precision="32"), fp32)
    bf16 = predict(model, seqs, precision="bf16")
    assert bf16.dtype == np.float32
    assert np.abs(bf16 - fp32).max() < 0.05 * np.abs(fp32).max() and np.corrcoef(bf16[:, 0], fp32[:, 0])[0, 1] > 0.999
    with pytest.raises(ValueError, match="precision"):
        predict(model, seqs, precision="8")


def test_ism_exact_fp32_and_bf16(small_model, planted):
    from seq2expr.interpret.ism import ism, ism_naive

    seqs = pd.read_csv(planted / "data.tsv", sep="\t")["sequence"].head(3).tolist()
    model = load_model(small_model)
    exact = ism(model, seqs)
    np.testing.assert_allclose(exact, ism_naive(model, seqs), atol=1e-5)
    half = ism(model, seqs, precision="bf16")
    assert np.abs(half - exact).max() < 0.05 * np.abs(exact).max()
    assert np.corrcoef(half.ravel(), exact.ravel())[0, 1] > 0.99
