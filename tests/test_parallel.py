"""Ensemble members and tune trials spread over processes: `train --shard K/N` and `--member-devices` give the
ensemble of one run bit for bit, the ensemble is assembled once, and tune workers share one study (the requested
number of trials in all, a live worker's running trial never run again)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from seq2expr.atomic import hold_lock
from seq2expr.cli.main import app
from seq2expr.config import dump_config, load_config
from seq2expr.data.synthetic import make_synthetic
from seq2expr.outputs import MARKER
from seq2expr.training import train
from seq2expr.training.tune import ASK_LOCK, WORKERS, tune

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
PARAMS = {"channels": [8], "kernel_sizes": 9, "pool_sizes": [40], "convs_per_block": 1, "dropout": 0.0,
          "hidden": [8], "head_dropout": 0.2}  # dropout: the RNG state each member starts from matters


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("members")
    table, _ = make_synthetic(n=300, length=40, seed=3, interaction=None, noise_sd=0.2, position=(1.0, 1.0),
                              p_present=0.5, motifs=[{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0}])
    table.to_csv(d / "data.tsv", sep="\t", index=False)
    return d


def _config(d: Path, out: Path, **train) -> Path:
    """A cross-validation ensemble of two members (folds 0 and 1)."""
    cfg = {"data": {"path": str(d / "data.tsv"), "id_column": "id", "cache_dir": str(d / "cache"),
                    "split": {"method": "random", "test_fraction": 0.2, "folds": 2}},
           "model": {"name": "cnn", "params": PARAMS},
           "train": {"epochs": 2, "batch_size": 32, "lr": 0.01, "threads": 1, "precise_bn": 0,
                     "ensemble_folds": [0, 1], **train},
           "output_dir": str(out)}
    path = d / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def one_run(data) -> Path:
    """The reference: both members trained one after the other in one process."""
    out = data / "one"
    train(load_config(_config(data, out)), progress=False)
    return out


def _same_model(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model" / "model.safetensors"), load_file(b / "model" / "model.safetensors")
    assert wa.keys() == wb.keys() and len(wa)
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=0, atol=0, msg=k)


def test_train_shards_assemble_the_same_ensemble_once(data, one_run, tmp_path):
    out = tmp_path / "sharded"
    cfg = _config(data, out)
    res = runner.invoke(app, ["train", str(cfg), "--shard", "0/2", "--quiet"])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())  # the console wraps lines
    assert "shard 0/2: 1 of 2 members finished; no model yet" in said, said
    assert (out / "fold_0" / "checkpoints" / "finished.json").is_file()
    assert not (out / "fold_1").exists()  # shard 0/2 trains member 0 only
    assert not (out / "model").exists() and not (out / "metrics.json").exists()
    assert (out / "config.yaml").is_file()
    res = runner.invoke(app, ["train", str(cfg), "--shard", "1/2", "--quiet"])  # the last shard assembles
    assert res.exit_code == 0, res.output
    assert (out / "model").is_dir() and "test" in res.output  # the metrics table of the assembled ensemble
    _same_model(one_run, out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [f["fold"] for f in metrics["fit"]] == [0, 1] and metrics["valid_is_out_of_fold"]
    # the same metrics as the single run
    reference = json.loads((one_run / "metrics.json").read_text())
    assert metrics["test"]["overall"] == reference["test"]["overall"]
    assert metrics["members_digest"] == reference["members_digest"]
    # a shard run again (a requeued array task) finds the ensemble assembled: nothing retrained or rewritten
    stamps = {p: p.stat().st_mtime_ns for p in [out / "metrics.json", out / "model" / "model.safetensors",
                                                out / "fold_0" / "checkpoints" / "finished.json"]}
    res = runner.invoke(app, ["train", str(cfg), "--shard", "0/2", "--quiet"])
    assert res.exit_code == 0, res.output
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert [p.name for p in out.rglob(".*")] == [MARKER]  # no lock or temporary left (the output's marker only)


def test_member_devices_train_the_same_ensemble(data, one_run, tmp_path):
    """--member-devices cpu,cpu: two spawned processes (one thread each), one member each, assembled here."""
    out = tmp_path / "devices"
    res = runner.invoke(app, ["train", str(_config(data, out)), "--member-devices", "cpu,cpu", "--quiet"])
    assert res.exit_code == 0, (res.output, res.exception)
    _same_model(one_run, out)
    for f in (0, 1):
        assert (out / f"fold_{f}" / "checkpoints" / "finished.json").is_file()
    assert not list(out.rglob(".seq2expr.lock"))  # every member's lock and the folder's released


@pytest.mark.parametrize("args, problem", [
    (["--shard", "3/2"], "--shard 3/2: K must be in 0..N-1"),
    (["--shard", "x"], "--shard takes K/N"),
    (["--shard", "0/2", "--set", "train.ensemble_folds=null"], "this config trains one model"),
    (["--shard", "0/2", "--member-devices", "cpu,cpu"], "not both"),
])
def test_bad_shard_is_one_line_and_writes_nothing(data, tmp_path, args, problem):
    out = tmp_path / "bad"
    res = runner.invoke(app, ["train", str(_config(data, out)), *args, "--quiet"])
    err = res.stderr.strip()
    assert res.exit_code == 2, (res.output, res.exception)
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and problem in err, err
    assert not out.exists()


# --- tune workers -------------------------------------------------------------------------------------------------

def _tune_config(d: Path, out: Path) -> Path:
    cfg = load_config(None, [
        f"data.path={d / 'data.tsv'}", "data.id_column=id", "data.split.method=random",
        "data.split.valid_fraction=0.2", f"data.cache_dir={d / 'cache'}", "model.name=cnn",
        "model.params={channels: [8], kernel_sizes: 9, pool_sizes: [40], convs_per_block: 1, dropout: 0.0, "
        "hidden: [8], head_dropout: 0.0}", "train.epochs=2", "train.batch_size=32", "train.threads=1",
        "train.precise_bn=0", "tune.prune=false", f"output_dir={out}"])
    path = d / f"{out.name}.yaml"
    path.write_text(dump_config(cfg))
    return path


SPACE = ["--param", "train.lr=log:1e-3:1e-1"]


def test_a_live_workers_running_trial_is_neither_requeued_nor_exceeded(data, tmp_path):
    """A trial RUNNING under a worker whose lock is held (alive) counts towards --trials and is left alone; once
    the lock is free (the worker died) the next search fails it and runs its values again."""
    out = tmp_path / "run"
    cfg = load_config(_tune_config(data, out))
    (out / "tune").mkdir(parents=True)
    study = optuna.create_study(study_name="seq2expr", direction="maximize",
                                storage=f"sqlite:///{out / 'tune' / 'study.db'}")
    running = study.ask()
    running.suggest_float("train.lr", 1e-3, 1e-1, log=True)
    running.set_user_attr("worker", "elsewhere")
    with hold_lock(out / "tune" / WORKERS / "elsewhere.lock"):  # that worker is alive
        summary = tune(cfg, {"train.lr": "log:1e-3:1e-1"}, trials=2)
        assert summary["states"] == {"RUNNING": 1, "COMPLETE": 1}  # 2 in all: the live one counted, not re-run
    summary = tune(cfg, {"train.lr": "log:1e-3:1e-1"}, trials=2)  # its worker is gone now
    trials = pd.read_csv(out / "tune" / "trials.tsv", sep="\t")
    assert trials["state"].tolist() == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials["train.lr"].iloc[2] == pytest.approx(running.params["train.lr"])


def _wait_for_waiters(path: Path, n: int, procs: list[subprocess.Popen]) -> None:
    """Until ``n`` processes wait for the lock on ``path`` (Linux: /proc/locks lists them); elsewhere a pause."""
    locks = Path("/proc/locks")
    if not locks.is_file():
        time.sleep(20)
        return
    st = os.stat(path)
    inode = f":{st.st_ino} "
    while sum("->" in line and inode in line for line in locks.read_text().splitlines()) < n:
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
        time.sleep(0.2)


@pytest.mark.slow
def test_tune_workers_share_one_study(data, tmp_path):
    """Three workers at once on one study, --trials 4: a `tune --devices cpu,cpu` (two spawned workers) and a
    separate `tune`; exactly 4 trials run in all, none failed (none requeued from a live worker)."""
    out = tmp_path / "shared"
    cfg = _tune_config(data, out)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "seq2expr", "--silent", "tune", str(cfg), "--trials", "4", *SPACE]
    ask = out / "tune" / ASK_LOCK
    with hold_lock(ask):  # the workers wait here, so that they take their trials at the same time
        procs = [subprocess.Popen([*cmd, "--devices", "cpu,cpu"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True),
                 subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
        _wait_for_waiters(ask, 3, procs)
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    trials = pd.read_csv(out / "tune" / "trials.tsv", sep="\t")
    assert trials["state"].tolist() == ["COMPLETE"] * 4, trials
    study = optuna.load_study(study_name="seq2expr", storage=f"sqlite:///{out / 'tune' / 'study.db'}")
    assert all(t.user_attrs.get("worker") for t in study.trials)
    assert list((out / "tune" / WORKERS).iterdir()) == []  # every worker's lock removed at its end
