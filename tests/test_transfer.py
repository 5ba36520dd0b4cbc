"""Fine-tuning (``train.init``): a child starts exactly where its parent is, keeps or replaces the head, freezes and
unfreezes its trunk when told, resumes exactly after a kill, records its lineage, refuses a parent it cannot use in
one line, runs from every kind of parent (ensembles, imported LegNet and Camformer, Enformer/Borzoi where installed),
and on a small data set learns more from a parent than from scratch."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.config import load_config
from seq2expr.data.synthetic import make_synthetic
from seq2expr.evaluation import evaluate
from seq2expr.inference import load_model, predict, read_config, save_model
from seq2expr.models import build_model, head_names, is_head_tensor, list_models
from seq2expr.training import train
from seq2expr.training.transfer import MemberInit

runner = CliRunner()
FIX = Path(__file__).parent / "data" / "zoo"
MOTIFS = [{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0},
          {"name": "NRG1", "matrix_id": "MA0347.3", "effect": -1.5}]
# a convolution, batch norm, global max-pool and a small dense head: fits 60 bp only (pool 60)
SMALL_CNN = ("model.params={channels: [32], kernel_sizes: 11, pool_sizes: [60], convs_per_block: 1, dropout: 0.0, "
             "hidden: [16], head_dropout: 0.0}")


def _table(path: Path, n: int, seed: int, length: int = 60) -> Path:
    table, _ = make_synthetic(n=n, length=length, seed=seed, motifs=MOTIFS, interaction=None, noise_sd=0.3,
                              position=(1.0, 1.0), p_present=0.5)
    table["active"] = (table["subset"] == "GCN4+").astype(float)
    table["second"] = -table["expression"]
    table.to_csv(path, sep="\t", index=False)
    return path


def _cfg(table: Path, out: Path, *extra: str):
    return load_config(None, [f"data.path={table}", "data.id_column=id", "data.split.method=random",
                              "train.batch_size=64", "train.lr=0.01", "train.threads=1",
                              "train.early_stopping_patience=null", f"output_dir={out}", *extra])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("transfer_data")
    return {"parent": _table(d / "parent.tsv", 1200, 0), "child": _table(d / "child.tsv", 300, 1),
            "test": _table(d / "test.tsv", 600, 2), "short": _table(d / "short.tsv", 200, 3, length=50)}


@pytest.fixture(scope="module")
def parent(data, tmp_path_factory) -> Path:
    """A small cnn trained 4 epochs on 1,200 synthetic promoters (GCN4 up, NRG1 down)."""
    out = tmp_path_factory.mktemp("parent")
    return train(_cfg(data["parent"], out, "model.name=cnn", SMALL_CNN, "train.epochs=4"), progress=False)


class AtStart(L.Callback):
    """The model's weights and eval-mode outputs on ``x`` when training starts (before the first step)."""

    def __init__(self, x: torch.Tensor):
        self.x, self.outputs, self.state = x, [], []

    def on_train_start(self, trainer, pl_module):
        net = pl_module.model
        was = net.training
        with torch.no_grad():
            net.eval()
            self.outputs.append(net(self.x).clone())
            net.train(was)
        self.state.append({k: v.detach().clone() for k, v in net.state_dict().items()})


class Epochs(L.Callback):
    """Per epoch, at its first batch: whether the trunk takes gradients, whether its batch norms are in training mode,
    and the trunk's weights."""

    def __init__(self):
        self.grad, self.bn_training, self.trunk = [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx:
            return
        net = pl_module.model
        heads = head_names(net)
        trunk = {k: p for k, p in net.named_parameters() if not is_head_tensor(k, heads)}
        self.grad.append(all(p.requires_grad for p in trunk.values()))
        self.bn_training.append([m.training for k, m in net.named_modules()
                                 if isinstance(m, torch.nn.BatchNorm1d) and not is_head_tensor(k, heads)])
        self.trunk.append({k: p.detach().clone() for k, p in trunk.items()})


def _x(n: int = 16, length: int = 60) -> torch.Tensor:
    codes = np.random.default_rng(5).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4, dtype=np.float32)[codes]).transpose(1, 2).contiguous()


def test_every_architecture_declares_its_head():
    """What fine-tuning keeps or replaces is declared by each registered architecture, and names real modules."""
    small = {"dual": {"branch_lengths": [55, 55]}}
    for name in list_models():
        if name in ("enformer", "borzoi", "lm_cnn"):  # optional packages / an external language model
            continue
        model = build_model(name, seq_len=110, n_targets=1, **small.get(name, {}))
        heads = head_names(model)
        assert any(is_head_tensor(k, heads) for k in model.state_dict()), name


def test_child_starts_as_its_parent_then_a_new_head_changes_only_the_head(data, parent, tmp_path):
    """head keep: before its first step the child predicts exactly what the parent predicts. head new: at
    initialisation the trunk is the parent's tensor for tensor and every head tensor is new."""
    x = _x()
    parent_net = load_model(parent).model
    with torch.no_grad():
        want = parent_net(x)
    probe = AtStart(x)
    train(_cfg(data["child"], tmp_path / "keep", "train.epochs=1", f"train.init={parent}"), progress=False,
          callbacks=[probe])
    torch.testing.assert_close(probe.outputs[0], want, rtol=0, atol=0)

    probe = AtStart(x)
    child = train(_cfg(data["child"], tmp_path / "new", "train.epochs=1", f"train.init={parent}", "train.head=new"),
                  progress=False, callbacks=[probe])
    heads = head_names(parent_net)
    theirs = parent_net.state_dict()
    for k, v in probe.state[0].items():
        if is_head_tensor(k, heads):
            assert not torch.equal(v, theirs[k]), k
        else:
            assert torch.equal(v, theirs[k]), k
    lineage = read_config(child).lineage
    assert lineage.head == "new" and lineage.target_transform == "refit"


@pytest.fixture(scope="module")
def frozen_run(data, parent, tmp_path_factory) -> tuple[Path, Epochs]:
    """3 epochs with the trunk frozen for the first 2."""
    epochs = Epochs()
    out = tmp_path_factory.mktemp("frozen")
    model = train(_cfg(data["child"], out, "train.epochs=3", f"train.init={parent}", "train.freeze=trunk",
                       "train.unfreeze_after_epochs=2", "train.keep=last"), progress=False, callbacks=[epochs])
    return model, epochs


def test_frozen_trunk_is_bitwise_unchanged_until_the_epoch_named(frozen_run, parent):
    model, epochs = frozen_run
    theirs = load_model(parent).model.state_dict()
    assert epochs.grad == [False, False, True]
    assert epochs.bn_training == [[False], [False], [True]]  # frozen batch norms stay in eval mode
    for k, v in epochs.trunk[2].items():  # after two frozen epochs, the trunk is the parent's to the bit
        assert torch.equal(v, theirs[k]), k
    ours = load_model(model).model.state_dict()
    assert any(not torch.equal(ours[k], theirs[k]) for k in epochs.trunk[0])  # then it learned


def test_a_trunk_frozen_throughout_keeps_every_trunk_tensor(data, parent, tmp_path):
    """Weights, biases and batch-norm statistics of the trunk are the parent's in the saved child; the head learned."""
    model = train(_cfg(data["child"], tmp_path / "f", "train.epochs=2", f"train.init={parent}",
                       "train.freeze=trunk"), progress=False)
    theirs, ours = load_model(parent).model.state_dict(), load_model(model).model.state_dict()
    heads = head_names(load_model(model).model)
    for k in ours:
        assert torch.equal(ours[k], theirs[k]) != is_head_tensor(k, heads), k
    lineage = read_config(model).lineage
    assert lineage.freeze == "trunk" and lineage.unfreeze_after_epochs is None and lineage.frozen_parameters > 0


def test_lineage_in_the_saved_model_models_info_metrics_and_evaluate(frozen_run, parent, data, tmp_path):
    model, _ = frozen_run
    cfg = read_config(model)
    sha = hashlib.sha256((parent / "model.safetensors").read_bytes()).hexdigest()
    lin = cfg.lineage
    assert lin.parent == str(parent) and lin.weights_sha256 == sha and lin.architecture == "cnn"
    assert lin.head == "keep" and lin.freeze == "trunk" and lin.unfreeze_after_epochs == 2
    assert lin.data == str(data["child"]) and lin.trainable_parameters + lin.frozen_parameters > 0
    # never the parent's held-out numbers as its own: no card, its own metrics
    assert cfg.card is None and cfg.metrics["test"] != read_config(parent).metrics["test"]
    metrics = json.loads((model.parent / "metrics.json").read_text())
    assert metrics["model_lineage"]["weights_sha256"] == sha
    assert evaluate(model, data["test"], id_column="id")["model_lineage"]["parent"] == str(parent)
    res = runner.invoke(app, ["models", "info", str(model)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "fine-tuned from" in res.output and sha in res.output and "first 2 epoch(s)" in res.output


def test_a_killed_finetune_resumes_to_the_same_weights(data, parent, tmp_path, frozen_run):
    """Killed in its second (still frozen) epoch, resumed from the first epoch's checkpoint: the trunk stays frozen
    for one more epoch and thaws at the third, as in the uninterrupted run (frozen_run)."""

    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 1:
                raise RuntimeError("simulated kill")

    cfg = _cfg(data["child"], tmp_path / "killed", "train.epochs=3", f"train.init={parent}", "train.freeze=trunk",
               "train.unfreeze_after_epochs=2", "train.keep=last")
    with pytest.raises(RuntimeError, match="simulated kill"):
        train(cfg, progress=False, callbacks=[Kill()])
    epochs = Epochs()
    resumed = train(cfg, progress=False, callbacks=[epochs])
    assert epochs.grad == [False, True]  # epochs 2 and 3
    whole = load_model(frozen_run[0]).model.state_dict()
    for k, v in load_model(resumed).model.state_dict().items():
        torch.testing.assert_close(v, whole[k], rtol=0, atol=0, msg=k)


def test_a_parent_that_does_not_fit_is_one_line(data, parent, tmp_path, tmp_table, one_line_error):
    cfg = tmp_table(f"data: {{path: {data['child']}, id_column: id}}\noutput_dir: {tmp_path / 'out'}\n", "c.yaml")
    # --silent: without the info lines (data encoding) a check made once the data are read follows
    base = ["--silent", "train", str(cfg), "--init", str(parent)]
    one_line_error(runner.invoke(app, [*base, "--set", "model.name=legnet"]), "model section disagrees",
                   "name 'legnet' (the parent's: 'cnn')")
    one_line_error(runner.invoke(app, [*base, "--set", "model.params.channels=[16]"]), "params.channels [16]")
    one_line_error(runner.invoke(app, [*base, "--set", "data.target_columns=[expression, second]", "--set",
                                       "train.head=keep"]), "train.head: keep", "2 regression target(s)")
    short = tmp_table(f"data: {{path: {data['short']}, id_column: id}}\noutput_dir: {tmp_path / 'o2'}\n", "s.yaml")
    one_line_error(runner.invoke(app, ["--silent", "train", str(short), "--init", str(parent)]), "expects 60 nt",
                   "your sequences are 50 nt")
    one_line_error(runner.invoke(app, [*base, "--set", "data.policy.n_value=0.25"]), "n_value")
    one_line_error(runner.invoke(app, ["train", str(cfg), "--set", "train.freeze=trunk"]), "without train.init")
    one_line_error(runner.invoke(app, ["tune", str(cfg), "--init", str(parent), "--param",
                                       "model.params.hidden=cat:8|16"]), "keeps the parent's architecture")
    assert not (tmp_path / "out").exists() and not (tmp_path / "o2").exists()
    # the strict load itself names the tensors that do not fit
    other = build_model("cnn", seq_len=60, channels=[16], kernel_sizes=11, pool_sizes=[60], convs_per_block=1,
                        hidden=[16])
    init = MemberInit(state=load_model(parent).model.state_dict(), parent_heads=("head",), head="keep",
                      freeze="none", unfreeze_after_epochs=None, trunk_lr_factor=1.0, fingerprint={})
    with pytest.raises(ValueError, match=r"of another shape convs\.0\.conv\.weight \(32, 4, 11\) vs \(16, 4, 11\)"):
        init.apply(other, "train.init parent")


def test_classification_from_a_regression_ensemble_member_by_member(data, tmp_path):
    """An ensemble parent: each child member starts from its counterpart (init_members: all), or one member seeds
    every child; a classifier from a regression parent gets a new head and no transform."""
    parent = train(_cfg(data["parent"], tmp_path / "p", "model.name=cnn", SMALL_CNN, "train.epochs=1",
                        "train.ensemble_seeds=[0, 1]"), progress=False)
    members = [m.model.state_dict() for m in load_model(parent).members]
    probe = AtStart(_x())
    child = train(_cfg(data["child"], tmp_path / "c", "train.epochs=1", f"train.init={parent}",
                       "data.target_columns=[active]", "train.task=classification", "train.loss=bce"),
                  progress=False, callbacks=[probe])
    saved = read_config(child)
    assert saved.ensemble_size == 2 and saved.lineage.head == "new" and saved.target_transform is None
    heads = head_names(load_model(parent).model.members[0])
    for start, theirs in zip(probe.state, members, strict=True):
        assert all(torch.equal(v, theirs[k]) for k, v in start.items() if not is_head_tensor(k, heads))
    probe = AtStart(_x())
    train(_cfg(data["child"], tmp_path / "one", "train.epochs=1", f"train.init={parent}", "train.init_members=1",
               "train.ensemble_seeds=[3, 4]"), progress=False, callbacks=[probe])
    assert all(torch.equal(s[k], members[1][k]) for s in probe.state for k in s)


def test_a_length_agnostic_parent_takes_other_lengths(data, tmp_path):
    """LegNet pools globally: its weights fit any length, so 50-nt data fine-tune a 60-nt parent."""
    parent = train(_cfg(data["parent"], tmp_path / "p", "model.name=legnet", "train.epochs=1",
                        "model.params={block_sizes: [16, 16], final_ch: 16}"), progress=False)
    child = train(_cfg(data["short"], tmp_path / "c", "train.epochs=1", f"train.init={parent}"), progress=False)
    assert read_config(child).seq_len == 50 and read_config(child).lineage.head == "keep"


@pytest.mark.parametrize("kind,folder,length", [("legnet-complex", "legnet_complex", 110),
                                                ("camformer-mini", "camformer_mini", 110)])
def test_importer_outputs_are_parents(kind, folder, length, tmp_path):
    """The published LegNet and Camformer, converted by their importers, fine-tune like any saved model: the child
    starts at the converted model's predictions, inherits its input contract (N = 0.25 for LegNet), and trains."""
    weights = FIX / folder / ("model_1.pth" if kind.startswith("legnet") else "model.pt")
    res = runner.invoke(app, ["models", "import", kind, str(weights), "-o", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    table = _table(tmp_path / "t.tsv", 160, 4, length=length)
    x = _x(8, length)
    saved = load_model(tmp_path / "m")
    with torch.no_grad():
        want = saved.model(x)
    probe = AtStart(x)
    child = train(_cfg(table, tmp_path / "c", "train.epochs=1", "train.batch_size=32", f"train.init={tmp_path / 'm'}"),
                  progress=False, callbacks=[probe])
    torch.testing.assert_close(probe.outputs[0], want, rtol=0, atol=0)
    cfg = read_config(child)
    assert cfg.policy.n_value == saved.config.policy.n_value and cfg.lineage.card["name"] == kind
    assert cfg.model.name == saved.config.model.name and cfg.card is None


@pytest.mark.parametrize("arch", ["enformer", "borzoi"])
def test_tracks_parents_get_a_new_head_on_a_frozen_trunk(arch, tmp_path):
    """Enformer / Borzoi (reduced random configurations): new targets get a linear head on each bin's embedding,
    read at the parent's positions (the child keeps them), the trunk frozen by default, bitwise unchanged."""
    pytest.importorskip("enformer_pytorch" if arch == "enformer" else "borzoi_pytorch")
    from seq2expr.config import Positions
    from seq2expr.inference import ModelSpec, SavedModelConfig

    if arch == "enformer":
        length, params = 2048, {"config": {"dim": 48, "depth": 1, "heads": 2, "attn_dim_key": 8, "num_downsamples": 5,
                                           "dim_divisible_by": 8, "output_heads": {"human": 5}, "target_length": 16,
                                           "dropout_rate": 0.0, "attn_dropout": 0.0, "pos_dropout": 0.0}}
    else:
        length, params = 4096, {"config": {"dim": 64, "depth": 1, "heads": 2, "attn_dim_key": 8, "attn_dim_value": 16,
                                           "bins_to_return": 64, "return_center_bins_only": True}}
    torch.manual_seed(0)
    net = build_model(arch, seq_len=length, n_targets=1, **params)
    positions = Positions(bins="centre:3")
    save_model(tmp_path / "parent", net, SavedModelConfig(model=ModelSpec(name=arch, params=params, seq_len=length,
                                                                         positions=positions),
                                                         data={"policy": {"length": length}}))
    rng = np.random.default_rng(0)
    import pandas as pd

    pd.DataFrame({"id": [f"s{i}" for i in range(40)],
                  "sequence": ["".join(rng.choice(list("ACGT"), length)) for _ in range(40)],
                  "a": rng.normal(size=40), "b": rng.normal(size=40)}).to_csv(tmp_path / "t.tsv", sep="\t",
                                                                             index=False)
    child = train(_cfg(tmp_path / "t.tsv", tmp_path / "c", "train.epochs=1", "train.batch_size=16",
                       "data.target_columns=[a, b]", f"train.init={tmp_path / 'parent'}", "train.precise_bn=0"),
                  progress=False)
    cfg = read_config(child)
    assert cfg.lineage.head == "new" and cfg.lineage.freeze == "trunk" and cfg.model.params["embedding_head"]
    assert cfg.model.positions == positions
    theirs, ours = net.state_dict(), load_model(child).model.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert {k for k in ours if k not in theirs} == {"embedding_head.weight", "embedding_head.bias"}


def test_finetuning_beats_scratch_on_a_small_set(data, parent, tmp_path):
    """300 sequences of a task the parent learned on 1,200: fine-tuned, the held-out r is far above a model of the
    same architecture trained from scratch on the same rows, epochs and seed."""
    test = load_model(parent)  # noqa: F841  (the parent loads: its folder is intact)
    tuned = train(_cfg(data["child"], tmp_path / "ft", "train.epochs=3", f"train.init={parent}", "train.lr=0.003"),
                  progress=False)
    scratch = train(_cfg(data["child"], tmp_path / "sc", "model.name=cnn", SMALL_CNN, "train.epochs=3"),
                    progress=False)
    import pandas as pd

    held = pd.read_csv(data["test"], sep="\t")
    y = held["expression"].to_numpy()

    def r(model: Path) -> float:
        return float(np.corrcoef(predict(load_model(model), held["sequence"].tolist())[:, 0], y)[0, 1])

    r_tuned, r_scratch = r(tuned), r(scratch)
    assert r_tuned > 0.6 and r_tuned > r_scratch + 0.15, (r_tuned, r_scratch)
