"""The same config gives the same run on any CPU, busy or idle: precision ``auto`` follows what the hardware runs
natively (forced here both ways), a wall-clock budget that cuts a run says so, no training decision reads the clock,
and a SIGTERM/SIGINT ends a command with 143/130 and one line (the resume test is in ``test_faults.py``)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from seq2expr import hardware
from seq2expr.cli.main import app
from seq2expr.config import load_config
from seq2expr.data.synthetic import make_synthetic
from seq2expr.inference import device as device_rules
from seq2expr.inference import load_model, predict, resolve_precision, training_precision
from seq2expr.training import train

MOTIFS = [{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0}]
SMALL_CNN = ("model.params={channels: [16], kernel_sizes: 11, pool_sizes: [50], convs_per_block: 1, dropout: 0.0, "
             "hidden: [8], head_dropout: 0.0}")
runner = CliRunner()


def _cpu(native: bool, isa: tuple[str, ...]) -> hardware.CpuInfo:
    return hardware.CpuInfo(model="test CPU", vendor="Intel", family=6, model_number=1, cores=2, mhz=2000.0,
                            isa=isa, kernels="AVX-512" if "AVX-512" in isa else "AVX2", native_bf16=native,
                            fp32_flop_per_cycle=64 if "AVX-512" in isa else 32, bf16_flop_per_cycle=128 * native)


@pytest.fixture
def cpu_without_bf16(monkeypatch):
    """An AVX2-only CPU as the detection sees it: no override, capability monkeypatched, messages said afresh."""
    monkeypatch.delenv(hardware.NATIVE_BF16_ENV, raising=False)
    monkeypatch.setattr(hardware, "cpu_info", lambda: _cpu(False, ("AVX2",)))
    monkeypatch.setattr(device_rules, "_said", set())
    monkeypatch.setattr(device_rules, "_pending", {})


@pytest.fixture
def cpu_with_bf16(monkeypatch):
    monkeypatch.delenv(hardware.NATIVE_BF16_ENV, raising=False)
    monkeypatch.setattr(hardware, "cpu_info", lambda: _cpu(True, ("AVX2", "AVX-512", "AVX512-BF16")))
    monkeypatch.setattr(device_rules, "_said", set())
    monkeypatch.setattr(device_rules, "_pending", {})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("data")
    table, _ = make_synthetic(n=600, length=50, seed=0, motifs=MOTIFS, interaction=None, noise_sd=0.3,
                              position=(1.0, 1.0), p_present=0.5)
    table.to_csv(d / "data.tsv", sep="\t", index=False)
    return d


def make_cfg(data_dir: Path, out: Path, *extra: str):
    return load_config(None, [
        f"data.path={data_dir / 'data.tsv'}", "data.id_column=id", "data.split.method=random",
        "data.split.valid_fraction=0.2", "data.split.test_fraction=0.2", f"data.cache_dir={data_dir / 'cache'}",
        "model.name=cnn", SMALL_CNN, "train.epochs=3", "train.batch_size=60", "train.lr=0.01", "train.threads=1",
        "train.early_stopping_patience=null", "train.precise_bn=0", f"output_dir={out}", *extra])


# --- precision auto -------------------------------------------------------------------------------------------------

def test_auto_follows_native_bf16(cpu_without_bf16, monkeypatch):
    assert resolve_precision("auto", "cpu") == "32" and resolve_precision(None, "cpu") == "32"
    assert training_precision("auto", "cpu") == "32" and training_precision("auto", "auto") in ("32", "bf16-mixed")
    assert resolve_precision("32", "cpu") == "32"
    monkeypatch.setattr(hardware, "cpu_info", lambda: _cpu(True, ("AVX2", "AVX-512", "AVX512-BF16")))
    assert hardware.native_bf16("cpu")
    assert resolve_precision("auto", "cpu") == "bf16" and training_precision("auto", "cpu") == "bf16-mixed"
    monkeypatch.setenv(hardware.NATIVE_BF16_ENV, "0")  # the documented override wins over the detection
    assert resolve_precision("auto", "cpu") == "32"


def test_the_libraries_isa_limit_counts(monkeypatch):
    """A CPU with AVX512-BF16 whose libraries are limited to AVX2 kernels (how the AVX2 case is measured on such
    a CPU) has no native bf16, and its peak is the AVX2 one."""
    monkeypatch.setattr(hardware, "_limits", lambda: ("ONEDNN_MAX_CPU_ISA=AVX2",))
    hardware.cpu_info.cache_clear()
    try:
        info = hardware.cpu_info()
        assert not info.native_bf16 and info.bf16_flop_per_cycle == 0
        assert info.fp32_flop_per_cycle <= 32 and info.kernels != "AVX-512"
        assert "limited by ONEDNN_MAX_CPU_ISA=AVX2" in info.describe()
        assert info.peak_flops(1) == pytest.approx(info.mhz * 1e6 * info.fp32_flop_per_cycle)
    finally:
        hardware.cpu_info.cache_clear()


def test_explicit_bf16_without_native_support_warns_once_and_runs(cpu_without_bf16, data_dir, tmp_path, caplog):
    model = load_model(train(make_cfg(data_dir, tmp_path / "run", "train.epochs=1"), progress=False))
    seqs = pd.read_csv(data_dir / "data.tsv", sep="\t")["sequence"].head(40).tolist()
    with caplog.at_level(logging.WARNING, logger="seq2expr"):
        a = predict(model, seqs, precision="bf16")
        b = predict(model, seqs, precision="bf16")
    said = [r.getMessage() for r in caplog.records if "emulated" in r.getMessage()]
    assert len(said) == 1 and "test CPU" in said[0] and "slower" in said[0], said
    np.testing.assert_array_equal(a, b)
    assert np.corrcoef(a[:, 0], predict(model, seqs, precision="32")[:, 0])[0, 1] > 0.99


def test_auto_trains_and_predicts_in_fp32_without_native_bf16(cpu_without_bf16, data_dir, tmp_path):
    """``train.precision`` defaults to auto; on a CPU without native bf16 the run trains and evaluates in float32,
    and says so in metrics.json, finished.json and the saved model's config (train.precision and the fit record)."""
    cfg = make_cfg(data_dir, tmp_path / "run")
    assert cfg.train.precision == "auto"
    model_dir = train(cfg, progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["precision"] == {"requested": "auto", "resolved": "32"}
    assert "test CPU" in metrics["machine"] and metrics["truncated"] is False
    assert metrics["fit"][0]["precision"] == "32"
    finished = json.loads((tmp_path / "run" / "checkpoints" / "finished.json").read_text())
    assert finished["precision"] == "32" and finished["truncated"] is False
    assert finished["steps"] == 3 * 6  # 360 training rows in batches of 60, 3 epochs
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["train"]["precision"] == "32" and saved["fit"]["precision"] == "32"
    model = load_model(model_dir)
    seqs = pd.read_csv(data_dir / "data.tsv", sep="\t")["sequence"].head(50).tolist()
    np.testing.assert_array_equal(predict(model, seqs), predict(model, seqs, precision="32"))
    # the evaluate command says at which precision it predicted
    res = runner.invoke(app, ["evaluate", str(model_dir), str(data_dir / "data.tsv"), "--id-column", "id",
                              "--n-boot", "10", "-o", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["precision"] == "32"
    assert "precision: 32" in res.output and "TRUNCATED" not in res.output


def test_auto_trains_in_bf16_where_native(cpu_with_bf16, data_dir, tmp_path):
    model_dir = train(make_cfg(data_dir, tmp_path / "run", "train.epochs=1"), progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["precision"] == {"requested": "auto", "resolved": "bf16-mixed"}
    assert json.loads((model_dir / "config.json").read_text())["fit"]["precision"] == "bf16-mixed"


# --- wall-clock budgets ---------------------------------------------------------------------------------------------

class _Minutes(L.Callback):
    """A fake clock for Lightning's Timer: one minute passes with every training step (no real time at all)."""

    def __init__(self, clock: dict):
        self.clock = clock

    def on_train_batch_end(self, *args) -> None:
        self.clock["t"] += 60.0


@pytest.fixture
def fake_clock(monkeypatch) -> dict:
    import lightning.pytorch.callbacks.timer as timer_module

    clock = {"t": 0.0}
    monkeypatch.setattr(timer_module.time, "monotonic", lambda: clock["t"])
    return clock


def test_a_time_limit_cut_marks_the_run_truncated(data_dir, tmp_path, fake_clock):
    """max_time_minutes=9 with one fake minute per step cuts the run at step 9 of 18 (epoch 2 of 3): the model is
    saved, marked truncated in finished.json, metrics.json and its config, and evaluate says so."""
    out = tmp_path / "run"
    model_dir = train(make_cfg(data_dir, out, "train.max_time_minutes=9"), progress=False,
                      callbacks=[_Minutes(fake_clock)])
    finished = json.loads((out / "checkpoints" / "finished.json").read_text())
    assert finished["truncated"] is True and finished["steps"] == 9 and finished["epochs_planned"] == 3
    assert finished["truncated_at"] == {"epoch": 2, "step": 9, "epochs_done": 1, "max_time_minutes": 9.0}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["truncated"] is True and "TRUNCATED" in metrics["model_truncated"]
    note = load_model(model_dir).config.fit.truncation_note()
    assert note == "TRUNCATED by train.max_time_minutes: seed_0 stopped in epoch 2 of 3 (step 9)"
    res = runner.invoke(app, ["evaluate", str(model_dir), str(data_dir / "data.tsv"), "--id-column", "id",
                              "--n-boot", "10"])
    assert res.exit_code == 0 and "TRUNCATED by train.max_time_minutes" in res.output, res.output


def test_a_cut_before_one_epoch_is_an_error_with_nothing_saved(data_dir, tmp_path, fake_clock):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"max_time_minutes=4 stopped training after 4 of the first epoch's 6 steps"):
        train(make_cfg(data_dir, out, "train.max_time_minutes=4"), progress=False, callbacks=[_Minutes(fake_clock)])
    assert not (out / "model").exists() and not (out / "metrics.json").exists()
    assert not (out / "checkpoints" / "finished.json").exists()


def test_no_shipped_config_has_a_wall_clock_budget():
    from seq2expr.config import shipped_configs

    for name, path in shipped_configs().items():
        assert load_config(path).train.max_time_minutes is None, name
        assert "max_time" not in path.read_text(), name


def test_training_does_not_read_the_clock(data_dir, tmp_path, monkeypatch):
    """The same config and seed give the same weights when every clock runs a hundred hours per reading: no
    decision in training (epochs, steps, early stopping, checkpoints) depends on the time or the load."""
    first = train(make_cfg(data_dir, tmp_path / "a"), progress=False)
    ticks = {"n": 0}

    def racing() -> float:
        ticks["n"] += 1
        return 3.6e5 * ticks["n"]

    for name in ("time", "monotonic", "perf_counter"):
        monkeypatch.setattr(time, name, racing)
    second = train(make_cfg(data_dir, tmp_path / "b"), progress=False)
    monkeypatch.undo()
    assert ticks["n"] > 0  # the clock was read, and did not matter
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


# --- SIGTERM / SIGINT outside training -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """An untrained 50-bp CNN, a table of 400 sequences, a 3-kb genome and a VCF of 200 SNVs on it."""
    from seq2expr.inference import ModelSpec, SavedModelConfig, save_model
    from seq2expr.models import build_model

    d = tmp_path_factory.mktemp("inputs")
    params = {"channels": [8], "kernel_sizes": 11, "pool_sizes": [50], "convs_per_block": 1, "hidden": [8]}
    torch.manual_seed(0)
    save_model(d / "model", build_model("cnn", seq_len=50, n_targets=1, **params),
               SavedModelConfig(model=ModelSpec(name="cnn", params=params, seq_len=50, n_targets=1)))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 50)) for _ in range(400)]
    pd.DataFrame({"id": [f"s{i}" for i in range(400)], "sequence": seqs}).to_csv(d / "t.tsv", sep="\t", index=False)
    genome = "".join(rng.choice(list("ACGT"), 3000))
    (d / "g.fa").write_text(">chrI\n" + genome + "\n")
    pos = np.sort(rng.choice(np.arange(100, 2900), 200, replace=False))
    rows = "".join(f"chrI\t{p}\tv{k}\t{genome[p - 1]}\t{'ACGT'[('ACGT'.index(genome[p - 1]) + 1) % 4]}\t.\t.\t.\n"
                   for k, p in enumerate(pos))
    (d / "v.vcf").write_text("##fileformat=VCFv4.2\n##contig=<ID=chrI,length=3000>\n"
                             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + rows)
    return d


def _signalled(command: list[str], args: list[str], fault: str) -> tuple[int, str]:
    """``seq2expr --silent ARGS`` in a process of its own (``command``: the suite's ``seq2expr_command``) that sends
    itself the signal ``fault`` names; its exit status and stderr."""
    import os
    import subprocess

    env = {**os.environ, "SEQ2EXPR_FAULT": fault, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([*command, "--silent", *args], capture_output=True, text=True, env=env, timeout=300)
    return res.returncode, res.stderr


@pytest.mark.parametrize("sig,code", [("TERM", 143), ("INT", 130)])
def test_a_signal_ends_predict_and_variants_with_its_status_and_nothing_written(inputs, seq2expr_command, tmp_path,
                                                                               sig, code):
    """SIGTERM/SIGINT with part of the output written: exit 143/130 (not 0), one line, no output and no
    temporary left beside it; the same command then runs to the end (once: after SIGTERM)."""
    out = tmp_path / "p.tsv"
    predict_args = ["predict", str(inputs / "model"), str(inputs / "t.tsv"), "-o", str(out), "--chunk-size", "100"]
    variants_args = ["variants", str(inputs / "model"), str(inputs / "v.vcf"), "--genome", str(inputs / "g.fa"),
                     "-o", str(tmp_path / "vo"), "--mode", "centred", "--chunk-size", "50", "--background", "100",
                     "--attributions", "none"]
    for args, output in ((predict_args, out), (variants_args, tmp_path / "vo")):
        status, err = _signalled(seq2expr_command, args, f"chunk:2:{sig}")
        lines = err.strip().splitlines()
        assert status == code, err
        assert len(lines) == 1 and lines[0] == f"interrupted (SIG{sig}); nothing was written; run the same command " \
                                               "again", err
        assert not output.exists() and list(tmp_path.glob(".*")) == [], list(tmp_path.iterdir())
        if sig == "TERM":
            status, err = _signalled(seq2expr_command, args, "")
            assert status == 0 and output.exists(), err
    if sig == "TERM":
        assert len(pd.read_csv(out, sep="\t")) == 400
