"""The inference layer: saved-model format (typed, and the pre-typed layout loading unchanged), the one predict
function on every input form and scale, the device rule, and clear errors for broken model folders."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seq2expr.data.dataset import Rows
from seq2expr.data.errors import DataError
from seq2expr.data.sequences import encode, one_hot, reverse_complement_onehot
from seq2expr.files import FileError
from seq2expr.inference import (
    SavedModel,
    SavedModelConfig,
    load_model,
    predict,
    predict_file,
    read_config,
    resolve_device,
    save_model,
)
from seq2expr.models import EnsembleAverage, build_model

LEGACY = Path(__file__).parent / "data" / "legacy_models"
PACKAGE = Path(__file__).resolve().parents[1] / "seq2expr"
PARAMS = {"channels": [8], "kernel_sizes": 5, "pool_sizes": [30], "convs_per_block": 1, "dropout": 0.0,
          "hidden": [4], "head_dropout": 0.0}


@pytest.mark.parametrize("name", ["single", "ensemble"])
def test_folders_in_the_pre_typed_layout_load_and_predict_as_before(name):
    """Model folders written before the typed config (policy/task/rc_average at the top level) load unchanged and
    give the predictions the earlier code gave (recorded with it in expected.json)."""
    folder = LEGACY / name
    raw = json.loads((folder / "config.json").read_text())
    assert {"policy", "task", "rc_average"} <= set(raw)  # really the old layout
    saved = load_model(folder)
    cfg = saved.config
    assert cfg.task == raw["task"] and cfg.rc_average == raw["rc_average"] and cfg.policy.to_dict() == raw["policy"]
    assert cfg.target_transform.kind == "log1p" and cfg.target_names == raw["target_names"]
    assert isinstance(saved.model, EnsembleAverage) == (name == "ensemble")
    expected = json.loads((folder / "expected.json").read_text())
    pred = predict(saved, expected["sequences"])
    np.testing.assert_allclose(pred[:, 0], expected["predictions"], rtol=1e-6, atol=1e-6)


def test_saved_config_is_typed_and_written_once(tmp_path):
    torch.manual_seed(0)
    model = build_model("cnn", seq_len=30, n_targets=2, **PARAMS)
    cfg = SavedModelConfig(model={"name": "cnn", "params": PARAMS, "seq_len": 30, "n_targets": 2},
                           data={"policy": {"length": 30, "pad": "left"}}, train={"rc_average": False},
                           target_names=["a", "b"])
    save_model(tmp_path / "m", model, cfg)
    raw = json.loads((tmp_path / "m" / "config.json").read_text())
    assert not {"policy", "task", "rc_average"} & set(raw)
    assert raw["data"]["policy"]["pad"] == "left" and raw["train"]["rc_average"] is False
    again = read_config(tmp_path / "m")
    assert again.policy.length == 30 and not again.rc_average and again.target_names == ["a", "b"]
    # defaults: unnamed outputs get one naming rule, wherever they are read
    assert SavedModelConfig(model={"name": "cnn", "seq_len": 30, "n_targets": 2}).target_names == \
        ["prediction_0", "prediction_1"]
    with pytest.raises(ValueError, match="3 target names"):
        SavedModelConfig(model={"name": "cnn", "seq_len": 30, "n_targets": 2}, target_names=["a", "b", "c"])


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> SavedModel:
    """A regression model with a log1p + z-score transform and reverse-complement averaging."""
    torch.manual_seed(1)
    model = build_model("cnn", seq_len=30, **PARAMS)
    with torch.no_grad():  # move batch-norm statistics off their defaults
        model.train()(torch.rand(8, 4, 30))
    folder = tmp_path_factory.mktemp("inference") / "m"
    save_model(folder, model.eval(), {"model": {"name": "cnn", "params": PARAMS, "seq_len": 30},
                                      "target_names": ["expression"], "train": {"rc_average": True},
                                      "target_transform": {"kind": "log1p", "standardize": True, "mean": [1.5],
                                                           "std": [0.5]}})
    return load_model(folder)


def _seqs(n: int, length: int = 30, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join("ACGT"[i] for i in row) for row in rng.integers(0, 4, (n, length))]


def test_predict_on_every_input_form_and_scale(saved):
    seqs = _seqs(40)
    codes = encode(seqs)
    x = one_hot(codes)
    with torch.no_grad():  # the definition: strand average of the network's output, then the inverse transform
        raw = ((saved.model(x) + saved.model(reverse_complement_onehot(x))) / 2).numpy()
    original = np.expm1(raw * 0.5 + 1.5)
    np.testing.assert_allclose(predict(saved, seqs), original, rtol=1e-5)
    np.testing.assert_allclose(predict(saved, codes), original, rtol=1e-5)
    np.testing.assert_allclose(predict(saved, x.numpy(), batch_size=7), original, rtol=1e-5)
    np.testing.assert_allclose(predict(saved, seqs[0])[0], original[0], rtol=1e-5)
    np.testing.assert_allclose(predict(saved, seqs, scale="model"), raw, rtol=1e-5, atol=1e-6)
    fwd = predict(saved, seqs, scale="model", rc_average=False)
    with torch.no_grad():
        np.testing.assert_allclose(fwd, saved.model(x).numpy(), rtol=1e-5, atol=1e-6)
    # a bare module: raw outputs, one strand unless asked; it has no transform to invert
    np.testing.assert_allclose(predict(saved.model, codes), fwd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict(saved.model, codes, rc_average=True), raw, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="bare nn.Module"):
        predict(saved.model, codes, scale="original")
    with pytest.raises(ValueError, match="scale must be"):
        predict(saved, codes, scale="log")
    assert predict(saved, codes[:0]).shape == (0, 1)


def test_predict_reads_a_memmap_split_a_batch_at_a_time(saved, tmp_path):
    codes = encode(_seqs(300, seed=2))
    path = tmp_path / "codes.npy"
    np.save(path, codes)
    mm = np.load(path, mmap_mode="r")
    rows = np.array([5, 250, 17, 3, 299, 120])
    np.testing.assert_allclose(predict(saved, Rows(mm, rows), batch_size=4), predict(saved, codes[rows]), rtol=1e-6)


def test_classification_outputs_probabilities(tmp_path):
    torch.manual_seed(2)
    model = build_model("cnn", seq_len=30, **PARAMS).eval()
    save_model(tmp_path / "c", model, {"model": {"name": "cnn", "params": PARAMS, "seq_len": 30},
                                       "train": {"task": "classification", "loss": "bce"}})
    clf = load_model(tmp_path / "c")
    codes = encode(_seqs(20, seed=3))
    logits = predict(clf, codes, scale="model")
    prob = predict(clf, codes)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-logits)), rtol=1e-5)
    assert ((prob > 0) & (prob < 1)).all()


def test_device_rule():
    model = torch.nn.Linear(2, 2)
    assert resolve_device(None, model) == torch.device("cpu")  # the model's own device
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu", model) == torch.device("cpu")


def test_predict_file_streams_in_chunks_and_matches_predict(saved, tmp_path):
    seqs = _seqs(55, seed=4)
    (tmp_path / "in.fa").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    n = predict_file(saved, tmp_path / "in.fa", tmp_path / "out.tsv", chunk_size=16)
    out = np.loadtxt(tmp_path / "out.tsv", skiprows=1, usecols=1)
    assert n == 55 and (tmp_path / "out.tsv").read_text().startswith("id\texpression\n")
    np.testing.assert_allclose(out, predict(saved, seqs)[:, 0], rtol=1e-5)
    with pytest.raises(DataError, match="long.fa: record s0: sequences are 31 bp but the model takes 30 bp"):
        (tmp_path / "long.fa").write_text(">s0\n" + seqs[0] + "A\n")
        predict_file(saved, tmp_path / "long.fa", tmp_path / "long.tsv")
    assert not (tmp_path / "long.tsv").exists()


def test_broken_model_folders_name_the_file(saved, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(saved.path, folder)
    (folder / "config.json").write_text("{'model': }")
    with pytest.raises(FileError, match=r"m/config.json: not valid JSON"):
        load_model(folder)
    cfg = json.loads((saved.path / "config.json").read_text())
    cfg["model"]["params"]["channels"] = [16]  # does not fit the stored weights
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DataError, match=r"model.safetensors: weights do not fit the architecture"):
        load_model(folder)
    cfg["model"].pop("seq_len")
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DataError, match=r"config.json: model.seq_len: Field required"):
        load_model(folder)
    with pytest.raises(FileNotFoundError, match="config.json: missing"):
        load_model(tmp_path / "nowhere")


def test_one_predict_definition():
    """Every layer predicts through seq2expr.inference: no other module defines a `predict` function."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "inference":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "predict":
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, found


def test_cpu_passes_are_sized_by_the_largest_activation():
    """On a CPU, forward passes take as many rows as keep the largest activation within CPU_PASS_BYTES (a power
    of two, at most CPU_FORWARD_ROWS). Oracle: LegNet's largest map is its first block's expanded one,
    4 x 128 channels x L float32 values per row. Longer sequences get fewer rows; the result equals one pass; a
    model in training mode is not run to measure and gets CPU_FORWARD_ROWS."""
    from seq2expr.inference import CPU_FORWARD_ROWS, CPU_PASS_BYTES, cpu_forward_rows, forward_in_parts

    torch.manual_seed(0)
    net = build_model("legnet", seq_len=110, n_targets=1).eval()
    for L in (110, 440, 880):
        per_row = 4 * 128 * L * 4
        expected = min(CPU_FORWARD_ROWS, 2 ** int(np.floor(np.log2(CPU_PASS_BYTES / per_row))))
        assert cpu_forward_rows(net, torch.zeros(3, 4, L)) == expected, L
    assert cpu_forward_rows(net, torch.zeros(3, 4, 880)) < cpu_forward_rows(net, torch.zeros(3, 4, 110))
    x = one_hot(encode(["".join(np.random.default_rng(2).choice(list("ACGT"), 880)) for _ in range(19)]), 0.0)
    assert len(x) > cpu_forward_rows(net, x)
    with torch.no_grad():
        np.testing.assert_allclose(forward_in_parts(net, x).numpy(), net(x).numpy(), rtol=1e-4, atol=1e-5)
    assert cpu_forward_rows(net.train(), x) == CPU_FORWARD_ROWS


def test_predict_folds_batch_norm_and_follows_weight_changes():
    """predict folds batch norm into the convolutions (cached per model): the same numbers as the unfolded model in
    eval mode, in passes of at most CPU_FORWARD_ROWS rows, and a weight change (an optimiser step, a state dict
    load) is seen by the next call rather than served from the cached copy."""
    from seq2expr.inference import CPU_FORWARD_ROWS, folded

    torch.manual_seed(0)
    net = build_model("legnet", seq_len=40, n_targets=1, block_sizes=[16, 8, 8], resize_factor=2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = one_hot(encode(["".join(np.random.default_rng(1).choice(list("ACGT"), 40)) for _ in range(3)]
                       * (CPU_FORWARD_ROWS + 5)), 0.0)
    net.train()
    for _ in range(3):  # give batch norm non-trivial running statistics and the weights an update
        opt.zero_grad()
        net(x[:64]).pow(2).mean().backward()
        opt.step()
    with torch.no_grad():
        direct = net.eval()(x).numpy()
    got = predict(net, x, scale="model", batch_size=len(x))
    assert len(x) > CPU_FORWARD_ROWS
    np.testing.assert_allclose(got, direct, rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded(net).modules())
    assert folded(net) is folded(net)  # cached while the weights are unchanged
    net.train()
    opt.zero_grad()
    net(x[:64]).pow(2).mean().backward()
    opt.step()
    with torch.no_grad():
        after = net.eval()(x).numpy()
    assert np.abs(after - direct).max() > 1e-3
    np.testing.assert_allclose(predict(net, x, scale="model"), after, rtol=1e-4, atol=1e-5)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict({k: torch.zeros_like(v) if k.endswith("weight") else v for k, v in state.items()})
    with torch.no_grad():
        zeroed = net.eval()(x).numpy()
    np.testing.assert_allclose(predict(net, x, scale="model"), zeroed, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def padded(saved, tmp_path_factory) -> SavedModel:
    """The ``saved`` model with a policy that pads/truncates to its 30 nt."""
    folder = tmp_path_factory.mktemp("padded") / "m"
    save_model(folder, saved.model, {**saved.config.model_dump(), "data": {"policy": {"length": 30}}})
    return load_model(folder)


def test_wrong_lengths_are_counted_in_one_warning_or_refused(padded, tmp_path, caplog):
    seqs = _seqs(3, 30) + _seqs(2, 12, seed=1) + _seqs(1, 40, seed=2)
    with caplog.at_level("WARNING", logger="seq2expr"):
        y = predict(padded, seqs)
    notes = [r.getMessage() for r in caplog.records if "nt as the model takes" in r.getMessage()]
    assert len(y) == 6 and len(notes) == 1, notes
    assert notes[0].startswith("3 sequences are not 30 nt") and "12 nt x2, 40 nt" in notes[0]
    with pytest.raises(DataError, match=r"3 sequences are not 30 nt .*refused \(strict length\)"):
        predict(padded, seqs, strict_length=True)
    caplog.clear()
    with caplog.at_level("WARNING", logger="seq2expr"):
        predict(padded, _seqs(4, 30))  # the right length: nothing to say
    assert not [r for r in caplog.records if "nt as the model takes" in r.getMessage()]
    # a file: one warning for the whole input however many chunks; --strict-length refuses with one line
    from typer.testing import CliRunner

    from seq2expr.cli.main import app

    (tmp_path / "in.tsv").write_text("id\tsequence\n" + "".join(f"s{i}\t{s}\n" for i, s in enumerate(seqs)))
    caplog.clear()
    with caplog.at_level("WARNING", logger="seq2expr"):
        predict_file(padded, tmp_path / "in.tsv", tmp_path / "out.tsv", chunk_size=2)
    notes = [r.getMessage() for r in caplog.records if "nt as the model takes" in r.getMessage()]
    assert len(notes) == 1 and notes[0].startswith("3 sequences are not 30 nt"), notes
    res = CliRunner().invoke(app, ["predict", str(padded.path), str(tmp_path / "in.tsv"), "-o",
                                   str(tmp_path / "strict.tsv"), "--strict-length"])
    assert res.exit_code == 2 and "refused (strict length)" in res.output and not (tmp_path / "strict.tsv").exists()


def test_predict_takes_a_dataframe_and_names_what_it_cannot_take(saved):
    import pandas as pd

    seqs = _seqs(5)
    np.testing.assert_allclose(predict(saved, pd.DataFrame({"id": list("abcde"), "sequence": seqs})),
                               predict(saved, seqs), atol=1e-6)
    with pytest.raises(DataError, match="no sequence column 'sequence'"):
        predict(saved, pd.DataFrame({"seq": seqs}))
    with pytest.raises(TypeError, match="for a file use predict_file"):
        predict(saved, Path("table.tsv"))
