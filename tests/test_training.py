"""Training for real on small synthetic promoters: learning, control, classification, reproducibility,
resume after a kill, and a saved model that predicts identically in a fresh process without Lightning."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

import seq2expr
from seq2expr.config import load_config
from seq2expr.data.sequences import encode, reverse_complement_codes
from seq2expr.data.synthetic import make_synthetic
from seq2expr.inference import load_model, predict, predict_file
from seq2expr.training import train
from seq2expr.training.member import checkpoint_weights, lightning_progress_bar
from seq2expr.training.module import SeqModule, make_loss

REPO = Path(__file__).resolve().parents[1]
MOTIFS = [{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0},
          {"name": "NRG1", "matrix_id": "MA0347.3", "effect": -1.5}]
# one convolution + global max-pool: the right shape for "is the motif anywhere", learns in a few epochs
SMALL_CNN = ("model.params={channels: [32], kernel_sizes: 11, pool_sizes: [60], convs_per_block: 1, dropout: 0.0, "
             "hidden: [16], head_dropout: 0.0}")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """1,200 random 60-bp promoters; GCN4 raises expression, NRG1 lowers it (sampled JASPAR sites)."""
    d = tmp_path_factory.mktemp("data")
    table, _ = make_synthetic(n=1200, length=60, seed=0, motifs=MOTIFS, interaction=None, noise_sd=0.3,
                              position=(1.0, 1.0), p_present=0.5)
    rng = np.random.default_rng(0)
    table["active"] = (table["subset"] == "GCN4+").astype(float)
    flip = rng.random(len(table)) < 0.05  # some label noise
    table.loc[flip, "active"] = 1.0 - table.loc[flip, "active"]
    table["shuffled"] = rng.permutation(table["expression"].to_numpy())
    table.to_csv(d / "data.tsv", sep="\t", index=False)
    return d


def make_cfg(data_dir: Path, out: Path, *extra: str):
    return load_config(None, [
        f"data.path={data_dir / 'data.tsv'}", "data.id_column=id", "data.group_columns=[subset]",
        "data.split.method=random", "data.split.valid_fraction=0.15", "data.split.test_fraction=0.15",
        f"data.cache_dir={data_dir / 'cache'}", "model.name=cnn", SMALL_CNN, "train.epochs=5",
        "train.batch_size=64", "train.lr=0.01", "train.threads=1", "train.early_stopping_patience=null",
        f"output_dir={out}", *extra])


@pytest.fixture(scope="module")
def regression_run(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reg")
    train(make_cfg(data_dir, out), progress=False)
    return out


def test_regression_learns_and_writes_outputs(regression_run, data_dir):
    out = regression_run
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    assert test["overall"]["pearson_r"] > 0.7, test["overall"]
    assert test["ci"]["lo"] < test["overall"]["pearson_r"] < test["ci"]["hi"]
    assert set(test["groups"]["subset"]) == {"GCN4+", "GCN4-"}
    for name in ("config.yaml", "scatter_test.png", "scatter_valid.png", "predictions_test.tsv",
                 "checkpoints/last.ckpt", "logs/metrics.csv", "model/model.safetensors", "model/config.json"):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "model" / "config.json").read_text())
    assert cfg["model"]["name"] == "cnn" and cfg["model"]["seq_len"] == 60 and cfg["model"]["n_targets"] == 1
    assert cfg["train"]["task"] == "regression" and cfg["target_names"] == ["expression"] and cfg["train"]["rc_average"]
    assert not {"task", "rc_average", "policy"} & set(cfg)  # each setting written once: in train / data
    assert cfg["metrics"]["test"]["pearson_r"] == pytest.approx(test["overall"]["pearson_r"])
    # the predictions table is on the measured scale and agrees with the metrics
    pred = pd.read_csv(out / "predictions_test.tsv", sep="\t")
    assert list(pred.columns) == ["id", "target", "prediction"] and len(pred) == test["overall"]["n"]
    truth = pd.read_csv(data_dir / "data.tsv", sep="\t").set_index("id").loc[pred["id"], "expression"]
    np.testing.assert_allclose(pred["target"], truth, rtol=1e-5, atol=1e-5)
    assert np.corrcoef(pred["target"], pred["prediction"])[0, 1] == pytest.approx(test["overall"]["pearson_r"],
                                                                                  abs=1e-3)


def _log_rows(log: Path) -> list[dict[str, str]]:
    with open(log) as fh:
        return list(csv.DictReader(fh))


def test_best_checkpoint_is_exported_and_log_is_csv(regression_run):
    """The exported weights are those of the epoch with the best validation Pearson r, not the last epoch."""
    out = regression_run
    rows = [r for r in _log_rows(out / "logs" / "metrics.csv") if r.get("val_pearson")]
    assert {"train_loss", "val_loss", "val_pearson", "val_spearman", "epoch"} <= set(rows[0])
    val = np.array([float(r["val_pearson"]) for r in rows])
    assert [int(r["epoch"]) for r in rows] == list(range(5))
    fit = json.loads((out / "metrics.json").read_text())["fit"][0]
    assert fit["monitor"] == "val_pearson" and fit["best_score"] == pytest.approx(val.max(), abs=1e-6)
    best = torch.load(out / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert best["epoch"] == int(np.argmax(val))
    exported = load_model(out / "model").model.state_dict()
    for k, v in checkpoint_weights(out / "checkpoints" / "best.ckpt").items():
        if k.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked"):
            continue  # batch-norm statistics are recomputed for the best weights (precise BN, tested below)
        torch.testing.assert_close(exported[k], v, rtol=0, atol=0)


def test_keep_last_exports_the_last_epoch(data_dir, tmp_path):
    """``train.keep=last`` exports the last epoch's weights and reports the last epoch's validation score;
    ``best`` (the default) the best epoch's. On shuffled targets the validation score wanders, so the two differ."""
    runs = {}
    for keep in ("best", "last"):
        out = tmp_path / keep
        train(make_cfg(data_dir, out, "data.target_columns=[shuffled]", f"train.keep={keep}"), progress=False)
        val = [float(r["val_pearson"]) for r in _log_rows(out / "logs" / "metrics.csv") if r.get("val_pearson")]
        runs[keep] = (out, val, json.loads((out / "metrics.json").read_text())["fit"][0])
    (best_out, val, best_fit), (last_out, val_last, last_fit) = runs["best"], runs["last"]
    assert val == pytest.approx(val_last, abs=1e-6)  # the same seeded training
    assert int(np.argmax(val)) != len(val) - 1  # this seed's best epoch is not the last one
    assert best_fit["best_checkpoint"] == "best.ckpt" and best_fit["best_score"] == pytest.approx(max(val), abs=1e-6)
    assert last_fit["best_checkpoint"] == "last.ckpt" and last_fit["best_score"] == pytest.approx(val[-1], abs=1e-6)
    last = checkpoint_weights(last_out / "checkpoints" / "last.ckpt")
    weights = [k for k in last if k.rsplit(".", 1)[-1] not in ("running_mean", "running_var", "num_batches_tracked")]
    exported, other = _weights(last_out / "model"), _weights(best_out / "model")
    for k in weights:
        torch.testing.assert_close(exported[k], last[k], rtol=0, atol=0)
    assert any(not torch.equal(exported[k], other[k]) for k in weights)


def test_shuffled_labels_do_not_learn(regression_run, data_dir, tmp_path):
    """Control: the same pipeline on permuted targets predicts nothing, so the real score is real."""
    train(make_cfg(data_dir, tmp_path, "data.target_columns=[shuffled]"), progress=False)
    control = json.loads((tmp_path / "metrics.json").read_text())["test"]["overall"]["pearson_r"] or 0.0
    real = json.loads((regression_run / "metrics.json").read_text())["test"]["overall"]["pearson_r"]
    assert abs(control) < 0.3 and real > control + 0.4


def test_cross_validation_ensemble(data_dir, tmp_path):
    """train.ensemble_folds: one member per fold, out-of-fold validation, all non-test rows learned from."""
    cfg = make_cfg(data_dir, tmp_path, "data.split.method=similarity", "data.split.folds=3",
                   "data.target.standardize=true", "train.ensemble_folds=[0, 1, 2]", "train.epochs=4")
    model_dir = train(cfg, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [f["fold"] for f in metrics["fit"]] == [0, 1, 2] and metrics["valid_is_out_of_fold"]
    assert metrics["n"]["valid"] + metrics["n"]["test"] == 1200  # every non-test row scored out of fold
    assert metrics["valid"]["overall"]["pearson_r"] > 0.6 and metrics["test"]["overall"]["pearson_r"] > 0.7
    assert metrics["leakage"]["pairs"]["valid~train"]["near"] == 0
    seeds = [json.loads((tmp_path / f"fold_{f}" / "checkpoints" / "run.json").read_text())["seed"] for f in range(3)]
    assert seeds == [0, 1, 2]
    saved = load_model(model_dir)
    assert saved.config.ensemble_size == 3
    with pytest.raises(ValueError, match="needs data.split.folds"):
        make_cfg(data_dir, tmp_path, "train.ensemble_folds=[0, 1]")


def test_classification_bce(data_dir, tmp_path):
    cfg = make_cfg(data_dir, tmp_path, "data.target_columns=[active]", "train.task=classification",
                   "train.loss=bce", "train.epochs=4")
    model_dir = train(cfg, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["test"]
    assert metrics["headline"] == "auroc" and metrics["overall"]["auroc"] > 0.8, metrics["overall"]
    assert (tmp_path / "roc_pr_test.png").is_file()
    fit = json.loads((tmp_path / "metrics.json").read_text())["fit"][0]
    assert fit["monitor"] == "val_auroc"
    assert {"accuracy", "auroc", "auprc", "f1"} <= set(metrics["overall"])
    saved = load_model(model_dir)
    prob = predict(saved, ["TGACTCAT" * 7 + "ACGT", "AAGGGTCC" * 7 + "ACGT"])
    assert ((prob >= 0) & (prob <= 1)).all() and prob[0, 0] > prob[1, 0]


def test_same_seed_same_model(data_dir, tmp_path):
    preds = []
    for run in ("a", "b"):
        train(make_cfg(data_dir, tmp_path / run, "train.epochs=2", "train.schedule=cosine"), progress=False)
        preds.append(pd.read_csv(tmp_path / run / "predictions_test.tsv", sep="\t")["prediction"].to_numpy())
        w = load_model(tmp_path / run / "model").model.state_dict()
        preds.append(np.concatenate([v.float().numpy().ravel() for v in w.values()]))
    np.testing.assert_array_equal(preds[0], preds[2])
    np.testing.assert_array_equal(preds[1], preds[3])


class Kill(L.Callback):
    """Simulates a crash in the middle of epoch ``epoch`` (after ``batch`` optimiser steps of it)."""

    def __init__(self, epoch: int, batch: int = 5):
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise RuntimeError("simulated kill")


def _val_epochs(log: Path) -> list[int]:
    return [int(r["epoch"]) for r in _log_rows(log) if r.get("val_loss")]


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_model(model_dir).model.state_dict()


def test_resume_after_kill(data_dir, tmp_path):
    """A run killed mid-epoch resumes from its last checkpoint and ends exactly as an uninterrupted run."""
    extra = ("train.epochs=4", "model.params.head_dropout=0.3")  # dropout: the RNG state must be restored too
    cfg = make_cfg(data_dir, tmp_path / "killed", *extra)
    with pytest.raises(RuntimeError, match="simulated kill"):
        train(cfg, progress=False, callbacks=[Kill(epoch=2)])
    run = tmp_path / "killed"
    assert (run / "checkpoints" / "last.ckpt").is_file() and not (run / "model").exists()
    assert _val_epochs(run / "logs" / "metrics.csv") == [0, 1]
    train(cfg, progress=False)  # resumes: epoch 2 from its start, then epoch 3
    assert _val_epochs(run / "logs" / "metrics.csv") == [0, 1, 2, 3]
    fit = json.loads((run / "metrics.json").read_text())["fit"][0]
    assert fit["resumed_from"] == "last.ckpt" and fit["epochs_trained"] == 4
    train(make_cfg(data_dir, tmp_path / "whole", *extra), progress=False)
    whole, resumed = _weights(tmp_path / "whole" / "model"), _weights(run / "model")
    for k in whole:
        torch.testing.assert_close(resumed[k], whole[k], rtol=0, atol=0, msg=k)
    # once finished, a rerun loads the finished model instead of training again
    train(cfg, progress=False)
    assert _val_epochs(run / "logs" / "metrics.csv") == [0, 1, 2, 3]
    # checkpoints written with other settings are not silently resumed
    with pytest.raises(ValueError, match="other settings .*train.lr: 0.01 -> 0.001"):
        train(make_cfg(data_dir, run, *extra, "train.lr=0.001"), progress=False)


class Probe(L.Callback):
    """Records what training did: optimiser, learning rate per step, gradient norm after clipping, batches."""

    def __init__(self):
        self.optimizers, self.lrs, self.grad_norms, self.codes = set(), [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        opt = trainer.optimizers[0]
        self.optimizers.add((type(opt).__name__, opt.param_groups[0]["weight_decay"]))
        self.lrs.append(opt.param_groups[0]["lr"])
        self.codes.append(batch[0].argmax(1).numpy().astype(np.uint8))  # one-hot back to codes

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        norms = [p.grad.norm() for p in pl_module.parameters() if p.grad is not None]
        self.grad_norms.append(float(torch.linalg.vector_norm(torch.stack(norms))))


@pytest.mark.parametrize("schedule,loss,clip,rc", [("onecycle", "huber", 1e-3, True), ("cosine", "l1", None, False)])
def test_optimiser_schedule_clipping_losses_and_rc_augment(data_dir, tmp_path, schedule, loss, clip, rc):
    probe = Probe()
    cfg = make_cfg(data_dir, tmp_path, "train.epochs=3", f"train.schedule={schedule}", f"train.loss={loss}",
                   f"train.grad_clip={'null' if clip is None else clip}", f"train.rc_augment={str(rc).lower()}")
    train(cfg, progress=False, callbacks=[probe])
    assert probe.optimizers == {("AdamW", 0.01)}
    lrs, lr = np.array(probe.lrs), 0.01
    if schedule == "onecycle":  # warm up from lr/25 to lr over the first 30% of steps, then anneal
        assert lrs[0] == pytest.approx(lr / 25) and lrs.max() == pytest.approx(lr, rel=0.02)
        assert 0.2 < np.argmax(lrs) / len(lrs) < 0.4 and lrs[-1] < lrs[0]
    else:
        assert lrs[0] == pytest.approx(lr) and (np.diff(lrs) <= 1e-12).all() and lrs[-1] < 0.02 * lr
    norms = np.array(probe.grad_norms)
    if clip is not None:
        assert norms.max() <= clip * 1.001
    else:
        assert norms.max() > 100 * 1e-3  # the same training unclipped has far larger gradients
    # reverse-complement augmentation: a random half of the rows are reverse-complemented training sequences
    seqs = pd.read_csv(data_dir / "data.tsv", sep="\t")["sequence"].tolist()
    codes = encode(seqs)
    fwd = {r.tobytes() for r in codes}
    rev = {r.tobytes() for r in reverse_complement_codes(codes)}
    rows = np.concatenate(probe.codes)
    is_fwd = np.array([r.tobytes() in fwd for r in rows])
    is_rev = np.array([r.tobytes() in rev for r in rows])
    assert (is_fwd | is_rev).all()
    if rc:
        assert 0.4 < is_rev.mean() < 0.6
    else:
        assert is_fwd.all()
    # both robust losses learn the planted motifs
    assert json.loads((tmp_path / "metrics.json").read_text())["valid"]["overall"]["pearson_r"] > 0.6


def test_early_stopping_on_validation_pearson(data_dir, tmp_path):
    """With lr=0 validation Pearson r never improves: training stops after ``patience`` more epochs."""
    cfg = make_cfg(data_dir, tmp_path, "train.epochs=10", "train.lr=0.0", "train.schedule=constant",
                   "train.early_stopping_patience=2")
    train(cfg, progress=False)
    assert _val_epochs(tmp_path / "logs" / "metrics.csv") == [0, 1, 2]
    assert json.loads((tmp_path / "metrics.json").read_text())["fit"][0]["epochs_trained"] == 3


def test_losses_and_missing_targets():
    assert isinstance(make_loss("regression", "huber"), torch.nn.HuberLoss)
    assert isinstance(make_loss("regression", "l1"), torch.nn.L1Loss)
    assert isinstance(make_loss("classification", "bce"), torch.nn.BCEWithLogitsLoss)
    with pytest.raises(ValueError):
        make_loss("classification", "mse")
    with pytest.raises(ValueError):
        make_loss("regression", "bce")
    module = SeqModule(torch.nn.Identity(), n_targets=2, loss="l1")
    out = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    y = torch.tensor([[2.0, float("nan")], [3.0, 1.0]])  # a missing value in a multi-task table is skipped
    assert float(module.masked_loss(out, y)) == pytest.approx((1.0 + 0.0 + 3.0) / 3)


def test_progress_bar_is_rich_in_a_terminal(monkeypatch):
    from lightning.pytorch.callbacks import RichProgressBar

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert isinstance(lightning_progress_bar(), RichProgressBar)


def test_multi_task_with_standardised_targets(data_dir, tmp_path):
    """Two target columns: one model with two outputs, per-target metrics, predictions back on the raw scale."""
    cfg = make_cfg(data_dir, tmp_path, "data.target_columns=[expression, active]", "data.target.standardize=true")
    model_dir = train(cfg, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["test"]
    per = metrics["per_target"]
    assert per["expression"]["pearson_r"] > 0.6 and per["active"]["pearson_r"] > 0.6, per
    saved_cfg = json.loads((model_dir / "config.json").read_text())
    assert saved_cfg["model"]["n_targets"] == 2 and saved_cfg["target_names"] == ["expression", "active"]
    tt = saved_cfg["target_transform"]
    assert tt["standardize"] and len(tt["mean"]) == 2 and len(tt["std"]) == 2
    assert saved_cfg["library_version"] == seq2expr.__version__ and len(saved_cfg["data_hash"]) >= 16
    assert saved_cfg["data"]["target_columns"] == ["expression", "active"] and saved_cfg["data"]["policy"]
    pred = pd.read_csv(tmp_path / "predictions_test.tsv", sep="\t")
    assert list(pred.columns) == ["id", "expression_target", "expression_prediction", "active_target",
                                  "active_prediction"]
    for name in ("expression", "active"):  # inverse transform applied: same location and scale as measured
        t, p = pred[f"{name}_target"], pred[f"{name}_prediction"]
        assert abs(p.mean() - t.mean()) < 0.3 * t.std() and 0.4 < p.std() / t.std() < 1.5
        # the metrics are on that scale too (the z-scored one is reported beside them, labelled)
        assert per[name]["mse"] == pytest.approx(float(((t - p) ** 2).mean()), rel=1e-3)
        assert per[name]["mae"] == pytest.approx(float((t - p).abs().mean()), rel=1e-3)
    assert metrics["scale"] == "original scale" and "z-scored" in metrics["model_scale"]["scale"]
    assert set(metrics["model_scale"]["per_target"]) == {"expression", "active"}
    assert metrics["overall"]["n"] == len(pred)  # sequences, not sequences x targets
    n = predict_file(model_dir, data_dir / "data.tsv", tmp_path / "p.tsv", id_column="id")
    assert n == 1200 and list(pd.read_csv(tmp_path / "p.tsv", sep="\t").columns) == ["id", "expression", "active"]


def test_saved_model_predicts_identically_without_lightning(regression_run, data_dir, tmp_path):
    table = pd.read_csv(data_dir / "data.tsv", sep="\t").set_index("id")
    expected = pd.read_csv(regression_run / "predictions_test.tsv", sep="\t")
    seqs = table.loc[expected["id"], "sequence"].tolist()
    saved = load_model(regression_run / "model")
    in_process = predict(saved, seqs)[:, 0]
    np.testing.assert_allclose(in_process, expected["prediction"], rtol=1e-4, atol=1e-5)
    (tmp_path / "seqs.json").write_text(json.dumps(seqs))
    script = (
        "import json, pickle, sys\n"
        "import torch\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('unpickling while loading a saved model')\n"
        "pickle.load = pickle.loads = torch.load = refuse\n"
        "pickle.Unpickler = refuse\n"
        "from seq2expr.inference import load_model, predict\n"
        "import seq2expr.evaluation.report, seq2expr.evaluation.metrics\n"
        f"seqs = json.load(open({str(tmp_path / 'seqs.json')!r}))\n"
        f"p = predict(load_model({str(regression_run / 'model')!r}), seqs, precision='32')[:, 0]\n"
        "assert 'lightning' not in sys.modules and 'pytorch_lightning' not in sys.modules\n"
        "print(json.dumps(p.tolist()))\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert res.returncode == 0, res.stderr
    np.testing.assert_allclose(json.loads(res.stdout.strip().splitlines()[-1]), in_process, rtol=1e-6, atol=1e-6)


def test_predict_file_streams_in_chunks(regression_run, data_dir, tmp_path):
    table = pd.read_csv(data_dir / "data.tsv", sep="\t").iloc[:101]
    table[["id", "sequence"]].to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    n = predict_file(regression_run / "model", tmp_path / "in.tsv", tmp_path / "out.tsv", chunk_size=17,
                     batch_size=8, id_column="id")
    out = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    assert n == 101 and list(out.columns) == ["id", "expression"] and out["id"].tolist() == table["id"].tolist()
    ref = predict(load_model(regression_run / "model"), table["sequence"].tolist())[:, 0]
    np.testing.assert_allclose(out["expression"], ref, rtol=1e-5, atol=1e-5)


def test_predict_restores_mode_and_averages_strands(regression_run):
    model = load_model(regression_run / "model").model.train()
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (10, 60)).astype(np.uint8)
    both = predict(model, codes, batch_size=4, rc_average=True)
    assert model.training  # mode restored
    fwd = predict(model, codes, rc_average=False)
    rev = predict(model, (3 - codes)[:, ::-1].copy(), rc_average=False)
    np.testing.assert_allclose(both, (fwd + rev) / 2, rtol=1e-5, atol=1e-6)
    # codes and their one-hot give the same answer
    onehot = np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1)
    np.testing.assert_allclose(predict(model, onehot, rc_average=True), both, rtol=1e-6, atol=1e-6)


def test_recalibrate_batchnorm_gives_population_statistics():
    """Precise BN: running stats become the population mean/var of the data; dropout off, modes restored."""
    from seq2expr.training.precise_bn import recalibrate_batchnorm

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(4, 6, 5)
    model = torch.nn.Sequential(conv, torch.nn.BatchNorm1d(6), torch.nn.Dropout(0.5), torch.nn.Flatten(),
                                torch.nn.LazyLinear(1))
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (300, 30)), 4).permute(0, 2, 1).float()
    model(x[:2])  # materialise the lazy layer
    bn = model[1]
    bn.running_mean.fill_(5.0)
    bn.running_var.fill_(9.0)
    model.train()
    assert recalibrate_batchnorm(model, x.split(50), reverse_complement=True) == 1
    with torch.no_grad():
        h = conv(torch.cat([x, x.flip(-2, -1)]))  # both strands
    np.testing.assert_allclose(bn.running_mean.numpy(), h.mean((0, 2)).numpy(), atol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), h.var((0, 2)).numpy(), rtol=2e-2)  # mean of batch variances
    assert model.training and bn.momentum == 0.1
    assert recalibrate_batchnorm(torch.nn.Linear(2, 2), [torch.zeros(1, 2)]) == 0  # no batch norm: nothing run


def test_precise_bn_is_part_of_training_and_optional(data_dir, tmp_path):
    """The exported model carries recomputed statistics (seeded subset); precise_bn=0 keeps the running average."""
    outs = {}
    for n in (0, 200):
        cfg = make_cfg(data_dir, tmp_path / f"pbn{n}", "train.epochs=2", f"train.precise_bn={n}")
        model_dir = train(cfg, resume=False, progress=False)
        metrics = json.loads((model_dir.parent / "metrics.json").read_text())
        assert metrics["fit"][0]["precise_bn_sequences"] == (200 if n else 0)
        outs[n] = {k: v for k, v in load_model(model_dir).model.state_dict().items() if "running_mean" in k}
    assert outs[0] and any(not torch.allclose(outs[0][k], outs[200][k]) for k in outs[0])
