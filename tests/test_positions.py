"""Positions: a track model's ``(B, P, T)`` output read as one value per target by the readout (gReLU's
``Aggregate`` role), checked against the closed form of :class:`toys.TrackToy`, through every verb's path (predict,
the CLI's ``--target ...@POSITIONS``, attributions, training) and the saved format's migration of the older
Enformer/Borzoi layout, where the network chose its bins."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from toys import TrackToy, linear_model, onehot, random_onehot, random_seqs

from seq2expr.config import Positions, load_config
from seq2expr.data.errors import DataError
from seq2expr.inference import (
    ModelSpec,
    Readout,
    SavedModel,
    SavedModelConfig,
    load_model,
    migrate_config,
    predict,
    save_model,
)
from seq2expr.inference.positions import along, bin_indices
from seq2expr.models.registry import MODELS

L, BIN, T = 64, 8, 2  # 8 bins of 8 nt, 2 tracks


@pytest.fixture
def track_toy():
    with MODELS.temporary("track_toy", TrackToy):
        yield


def _toy_saved(positions: str | None = "centre:3", rc: bool = False) -> SavedModel:
    torch.manual_seed(0)
    net = TrackToy(L, T, bin=BIN).eval()
    cfg = SavedModelConfig(model=ModelSpec(name="track_toy", params={"bin": BIN}, seq_len=L, n_targets=T,
                                           positions=Positions.parse(positions) if positions else None),
                           train={"rc_average": rc}, data={"policy": {"length": L}}, target_names=["a", "b"])
    return SavedModel(net, cfg)


def _per_bin(net: TrackToy, x: np.ndarray, rc: bool = False) -> np.ndarray:
    """The closed form: ``(N, P, T)`` bin means of ``W x_p + b`` (with ``rc``: of the mean of both strands, the
    reverse strand's output flipped back along the window, which for a one-base kernel is ``W (x_p + comp x_p)/2``)."""
    w, b = net.conv.weight[:, :, 0].detach().numpy(), net.conv.bias.detach().numpy()
    xs = (x + x[:, ::-1]) / 2 if rc else x  # the complement of a one-hot base: channels ACGT -> TGCA
    per_base = np.einsum("nbl,tb->nlt", xs, w) + b
    return per_base.reshape(len(x), L // BIN, BIN, T).mean(2)


def test_bins_text():
    assert bin_indices(Positions.parse("centre:3"), 8) == [3, 4, 5]
    assert bin_indices(Positions.parse("centre:2"), 896) == [448, 449]
    assert bin_indices(Positions.parse("sum:1-3,6"), 8) == [1, 2, 3, 6]
    assert Positions.parse("sum:1-3,6").aggregate == "sum" and Positions.parse("max:all").text() == "max:all"
    assert bin_indices(Positions.parse("all"), 4) == [0, 1, 2, 3]
    for bad in ("centre:0", "3-1", "x", "centre:"):
        with pytest.raises(ValueError, match="positions"):
            Positions.parse(bad)
    with pytest.raises(DataError, match=r"bins 6\.\.9 do not lie in the model's 8 output bins"):
        bin_indices(Positions.parse("6-9"), 8)


def test_predict_reads_the_saved_default_or_the_readouts_positions(track_toy):
    saved = _toy_saved()
    x = random_onehot(6, L, seed=1)
    bins = _per_bin(saved.model, x)
    assert np.abs(predict(saved, x) - bins[:, [3, 4, 5]].mean(1)).max() < 1e-5  # the config's centre:3
    got = predict(saved, x, readout=Readout.parse("b@sum:0-1"))
    assert np.abs(got[:, 0] - bins[:, [0, 1], 1].sum(1)).max() < 1e-5
    got = predict(saved, x, readout=Readout.parse("diff:a,b@max:all"))
    assert np.abs(got[:, 0] - (bins[:, :, 0].max(1) - bins[:, :, 1].max(1))).max() < 1e-5


def test_both_strands_are_read_at_the_same_stretch_of_sequence(track_toy):
    """With strands averaged, the reverse strand's bins are flipped back: bin ``i`` of both strands covers the same
    bases, which the closed form (``W (x + comp x)/2`` in each bin) checks off the window's centre too."""
    saved = _toy_saved("0-1", rc=True)
    x = random_onehot(5, L, seed=2)
    want = _per_bin(saved.model, x, rc=True)[:, [0, 1]].mean(1)
    assert np.abs(predict(saved, x) - want).max() < 1e-5
    unflipped = _per_bin(saved.model, x)[:, [0, 1]].mean(1)
    assert np.abs(want - unflipped).max() > 1e-3  # the strands differ there: the test can tell


def test_attributions_and_ism_follow_the_positions(track_toy):
    """Saliency of a positions readout is the closed form's gradient, ``W_t / (BIN k)`` centred over the bases on
    the chosen bins' bases and 0 elsewhere; ISM of the linear model is ``(W_b - W_ref) / (BIN k)`` there."""
    from seq2expr.interpret.attribute import attribute
    from seq2expr.interpret.ism import ism

    saved = _toy_saved("centre:3")
    x = random_onehot(2, L, seed=3)
    readout = Readout("a", scale="model")
    _, hyp = attribute(saved, x, method="saliency", readout=readout)
    w = saved.model.conv.weight[0, :, 0].detach().numpy() / (BIN * 3)
    inside = np.zeros(L, bool)
    inside[3 * BIN:6 * BIN] = True
    assert np.abs(hyp[:, :, inside] - (w - w.mean())[None, :, None]).max() < 1e-6
    assert np.abs(hyp[:, :, ~inside]).max() == 0
    scores = ism(saved, x, readout=readout)
    want = (w[None, :, None] - np.einsum("nbl,b->nl", x, w)[:, None, :]) * inside
    assert np.abs(scores - want).max() < 1e-5


def test_one_line_when_positions_and_model_do_not_fit(track_toy, tmp_path, one_line_error):
    from typer.testing import CliRunner

    from seq2expr.cli.main import app

    net = TrackToy(L, T, bin=BIN).eval()
    with pytest.raises(DataError, match="the model gives 2 tracks along 8 positions: choose the bins"):
        predict(net, random_onehot(2, L), scale="model")
    with pytest.raises(DataError, match="given for a model with one value per target"):
        predict(linear_model(L), random_onehot(2, L), readout=Readout(scale="model", positions="centre:1"))
    save_model(tmp_path / "m", *(lambda s: (s.model, s.config))(_toy_saved()))
    (tmp_path / "s.tsv").write_text("id\tsequence\n" + "".join(f"s{i}\t{s}\n" for i, s in
                                                              enumerate(random_seqs(3, L))))
    res = CliRunner().invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "s.tsv"), "--target",
                                   "a@centre:99", "-o", str(tmp_path / "p.tsv")])
    one_line_error(res, "positions 'centre:99'", "8 output bins")
    assert not (tmp_path / "p.tsv").exists()
    res = CliRunner().invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "s.tsv"), "--target",
                                   "b@sum:7", "-o", str(tmp_path / "p.tsv")])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    want = _per_bin(load_model(tmp_path / "m").model, onehot(random_seqs(3, L)))
    assert np.abs(got["b"].to_numpy() - want[:, 7, 1]).max() < 1e-5


def test_training_reads_the_models_positions(track_toy, tmp_path):
    """A track model trained through the training layer on a target that lives in the central bins: with
    ``model.positions: centre:3`` it learns it; reading the first two bins instead it cannot (the bins matter),
    and the saved model keeps its positions."""
    rng = np.random.default_rng(0)
    seqs = random_seqs(900, L, seed=4)
    gc = np.array([sum(c in "GC" for c in s[3 * BIN:6 * BIN]) for s in seqs], np.float32)
    pd.DataFrame({"id": [f"g{i}" for i in range(len(seqs))], "sequence": seqs,
                  "y": (gc - 12) / 2.5 + rng.normal(0, 0.2, len(seqs))}).to_csv(tmp_path / "t.tsv", sep="\t",
                                                                                 index=False)
    from seq2expr.training import train

    def run(bins: str) -> tuple[float, dict]:
        out = tmp_path / bins.replace(":", "_")
        cfg = load_config(None, [
            f"data.path={tmp_path / 't.tsv'}", "data.id_column=id", "data.target_columns=[y]",
            "data.split.method=random", "data.split.valid_fraction=0.15", "data.split.test_fraction=0.2",
            f"data.cache_dir={tmp_path / 'enc'}", "model.name=track_toy", f'model.params={{"bin": {BIN}}}',
            f"model.positions.bins={bins}", "train.epochs=4", "train.batch_size=64", "train.lr=0.1",
            "train.threads=1", "train.rc_augment=false", "train.rc_average=false", "train.schedule=constant",
            "train.early_stopping_patience=null", f"output_dir={out}"])
        train(cfg, progress=False)
        r = json.loads((out / "metrics.json").read_text())["test"]["overall"]["pearson_r"] or 0.0
        return r, json.loads((out / "model" / "config.json").read_text())["model"]

    r, spec = run("centre:3")
    assert r > 0.9, r
    assert spec["positions"] == {"bins": "centre:3", "aggregate": "mean"}
    r_wrong, _ = run("0-1")
    assert abs(r_wrong) < 0.3, r_wrong


def test_format_2_track_models_migrate_to_positions():
    """An Enformer/Borzoi config written before positions (format 2: the network chose ``tss_bins`` around the
    centre) migrates to the same bins read by the readout; what cannot be carried over exactly is refused."""
    old = {"format_version": 2, "model": {"name": "enformer", "seq_len": 196608, "n_targets": 1,
                                         "params": {"tracks": [4828], "tss_bins": 5, "aggregate": "sum"}}}
    new = migrate_config(old)
    assert new["model"]["positions"] == {"bins": "centre:5", "aggregate": "sum"}
    assert new["model"]["params"] == {"tracks": [4828]} and old["model"]["params"]["tss_bins"] == 5
    assert migrate_config({**old, "model": {**old["model"], "params": {}}})["model"]["positions"] == \
        {"bins": "centre:3", "aggregate": "mean"}
    assert "positions" not in migrate_config({**old, "model": {"name": "legnet", "seq_len": 80}})["model"]
    with pytest.raises(ValueError, match="tss_index"):
        migrate_config({**old, "model": {**old["model"], "params": {"tss_index": 10}}})
    with pytest.raises(ValueError, match="sum and head no longer commute"):
        migrate_config({**old, "model": {**old["model"], "params": {"aggregate": "sum", "embedding_head": True}}})


def test_old_bins_rule_is_the_centre_rule():
    """The format-2 networks' bins (around ``seq_len // 2``, after a symmetric crop) are ``centre:N`` of the
    output, for the published and the reduced geometries: the migration reads the same bins."""
    for seq_len, n_bins, size in ((196_608, 896, 128), (524_288, 6144, 32), (4096, 16, 128), (4096, 64, 32),
                                  (128, 16, 8), (1024, 16, 32)):
        for k in (1, 2, 3, 5):
            offset = (seq_len - n_bins * size) // 2
            first = (seq_len // 2 - offset) // size - (k - 1) // 2
            assert bin_indices(Positions(bins=f"centre:{k}"), n_bins) == list(range(first, first + k))


def test_along_is_differentiable():
    out = torch.randn(3, 8, 2, requires_grad=True)
    along(out, Positions.parse("sum:2-3")).sum().backward()
    assert out.grad[:, 2:4].eq(1).all() and out.grad[:, :2].eq(0).all() and out.grad[:, 4:].eq(0).all()


def test_grad_cam_is_an_attribution_method_with_the_closed_form(track_toy):
    """``attribute(method="grad_cam")`` on the track toy read at ``centre:3``: the convolution's channel weights
    are its gradient averaged over the window (1/L for the read track, 0 for the other), so each position scores
    ``relu(W_a x_p + b_a) / L`` on every base, and the projection keeps it on the observed one."""
    from seq2expr.interpret.attribute import attribute

    saved = _toy_saved("centre:3")
    x = random_onehot(3, L, seed=6)
    proj, hyp = attribute(saved, x, method="grad_cam", readout=Readout("a", scale="model"))
    w, b = saved.model.conv.weight[0, :, 0].detach().numpy(), float(saved.model.conv.bias[0].detach())
    want = np.maximum(np.einsum("nbl,b->nl", x, w) + b, 0) / L
    assert np.abs(hyp - want[:, None, :]).max() < 1e-6 and np.abs(proj.sum(1) - want).max() < 1e-6
    assert want.max() > 1e-3


def test_an_export_reads_the_positions_in_its_graph(track_toy, tmp_path):
    """The exported graph of a track model is ``predict``'s computation: its bins joined inside the graph (the
    contract says which), the closed form on new sequences, and the golden check passes."""
    from seq2expr.convert.export import exporters, verify_export
    from seq2expr.convert.export.exporting import export_model, read_contract

    saved = _toy_saved("sum:centre:3")
    out = export_model(saved, tmp_path / "e", format="onnx")
    contract = read_contract(out)
    assert contract.output.positions == {"bins": "centre:3", "aggregate": "sum"}
    assert verify_export(out).passed
    x = random_onehot(4, L, seed=8)
    got = exporters()["onnx"].runner(out / contract.file)(x)
    assert np.abs(got - _per_bin(saved.model, x)[:, [3, 4, 5]].sum(1)).max() < 1e-5
