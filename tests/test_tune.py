"""Hyper-parameter search: space parsing, a real search that finds the learning rate that learns, the best
config written out and reproducible, and a killed search resumed."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest

from seq2expr.config import load_config
from seq2expr.data.synthetic import make_synthetic
from seq2expr.training.tune import parse_param, tune


def test_space_parsing_and_errors():
    assert parse_param("train.lr", "log:1e-4:1e-2").kind == "log"
    p = parse_param("model.params.channels", "cat:[32, 32]|[64]")
    assert p.choices == ([32, 32], [64])
    assert parse_param("train.epochs", "int:2:6").high == 6
    for key, spec, msg in [("data.path", "cat:a|b", "data options are fixed"),
                           ("train.lr", "uniform:0:1", "expected log"),
                           ("train.lr", "log:0:1", "positive for log"),
                           ("train.lr", "float:1:1", "LOW < HIGH"),
                           ("train.batch_size", "cat:64", "at least two"),
                           ("train.lr", "float:a:b", "two numbers")]:
        with pytest.raises(ValueError, match=msg):
            parse_param(key, spec)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    table, _ = make_synthetic(n=500, length=50, seed=1, interaction=None, noise_sd=0.2, position=(1.0, 1.0),
                              p_present=0.5, motifs=[{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0}])
    table.to_csv(d / "data.tsv", sep="\t", index=False)
    return d


def _config(d, out):
    return load_config(None, [
        f"data.path={d / 'data.tsv'}", "data.id_column=id", "data.split.method=random",
        "data.split.valid_fraction=0.2", f"data.cache_dir={d / 'cache'}", "model.name=cnn",
        "model.params={channels: [16], kernel_sizes: 11, pool_sizes: [50], convs_per_block: 1, dropout: 0.0, "
        "hidden: [8], head_dropout: 0.0}", "train.epochs=4", "train.batch_size=32", "train.threads=1",
        "train.precise_bn=0", f"output_dir={out}"])


def test_search_finds_the_learning_rate_that_learns_and_resumes(data, tmp_path):
    cfg = _config(data, tmp_path / "run")
    space = {"train.lr": "cat:1e-6|0.03", "model.params.hidden": "cat:[8]|[4, 4]"}
    summary = tune(cfg, space, trials=4)
    trials = pd.read_csv(tmp_path / "run" / "tune" / "trials.tsv", sep="\t")
    assert len(trials) == 4 and set(trials["state"]) <= {"COMPLETE", "PRUNED"}
    assert summary["best_values"]["train.lr"] == 0.03 and summary["best_value"] > 0.6  # the planted motif learned
    done = trials[trials["state"] == "COMPLETE"]
    assert summary["best_value"] == pytest.approx(done["val_pearson"].max())
    slow = done[done["train.lr"] == 1e-6]["val_pearson"]
    assert len(slow) and (slow < summary["best_value"] - 0.3).all()  # a rate too small to learn is not chosen
    best = load_config(tmp_path / "run" / "tune" / "best.yaml")  # a full, valid run config
    assert best.train.lr == 0.03 and best.model.params["hidden"] == summary["best_values"]["model.params.hidden"]
    assert best.output_dir.endswith("best") and best.data.path == cfg.data.path
    # more trials later: the study is reused, earlier trials kept as they were
    tune(cfg, space, trials=6)
    again = pd.read_csv(tmp_path / "run" / "tune" / "trials.tsv", sep="\t")
    assert len(again) == 6
    pd.testing.assert_frame_equal(again.iloc[:4].drop(columns="seconds"), trials.drop(columns="seconds"))
    assert json.loads((tmp_path / "run" / "tune" / "summary.json").read_text())["n_trials"] == 6


def test_trial_cut_off_by_a_kill_is_run_again(data, tmp_path):
    cfg = _config(data, tmp_path / "run")
    (tmp_path / "run" / "tune").mkdir(parents=True)
    study = optuna.create_study(study_name="seq2expr", direction="maximize",
                                storage=f"sqlite:///{tmp_path / 'run' / 'tune' / 'study.db'}")
    killed = study.ask()  # a trial that started and never reported: the process was killed
    killed.suggest_float("train.lr", 1e-3, 1e-1, log=True)
    lr = killed.params["train.lr"]
    tune(cfg, {"train.lr": "log:1e-3:1e-1"}, trials=1)
    trials = pd.read_csv(tmp_path / "run" / "tune" / "trials.tsv", sep="\t")
    assert trials["state"].tolist() == ["FAIL", "COMPLETE"]
    assert trials["train.lr"].iloc[1] == pytest.approx(lr)  # the interrupted values, trained this time
