"""Export: every exportable architecture's ONNX graph and torch.export program give what ``predict`` gives (1e-5,
float32) with the whole contract (strand average, ensemble mean, inverse transform, sigmoid); ``models test``
passes on a fresh export and fails with one line when a weight is altered; the docs' numpy encoder is seq2expr's
encoding; the onnxruntime engine gives ``predict``'s numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.config import Positions, SequencePolicy
from seq2expr.convert.export import exportable_architectures, exporters, formats, verify_export
from seq2expr.convert.export.exporting import export_model, read_contract
from seq2expr.data.errors import DataError
from seq2expr.data.sequences import encode, one_hot
from seq2expr.download import sha256_file
from seq2expr.inference import ModelSpec, Readout, SavedModel, SavedModelConfig, load_model, predict, save_model
from seq2expr.inference.contract import contract_module, export_program, onnx_model
from seq2expr.inference.engine import ENGINES, TOLERANCE, onnxruntime_session, run_session
from seq2expr.models import EnsembleAverage, build_model, get_model_class, list_models

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
L = 110
# every registered architecture at its example size; enformer/borzoi (no example: published genome-scale models) at
# reduced configurations, where installed
TINY = {name: get_model_class(name).example["params"] for name in list_models() if get_model_class(name).example}
TINY |= {
    # the features export must carry: the dual model's spacer between two unequal segments, Camformer's purine channel
    "dual": dict(channels=[16, 16], kernel_sizes=7, pool_sizes=[2, 2], branch_lengths=[50, 40], spacer=20,
                 hidden=[16]),
    "camformer": dict(out_channels=[16, 16], kernels=[5, 5], pool_kernels=[1, 1], pool_strides=[1, 1],
                      linear_output=[8], purine_channel=True),
    "enformer": dict(config=dict(dim=48, depth=1, heads=2, attn_dim_key=8, num_downsamples=3, dim_divisible_by=8,
                                 target_length=16, output_heads=dict(human=6)), tracks=[0, 4]),
    "borzoi": dict(config=dict(dim=48, depth=1, heads=2, attn_dim_key=8, attn_dim_value=16, bins_to_return=16,
                               return_center_bins_only=True), tracks=[1, 3]),
}
BIG = {"enformer", "borzoi"}  # one network, not an ensemble: their fixed-width parts are large even when reduced
LENGTH = {"enformer": 128, "borzoi": 1024}
ONE_TARGET = {n for n in list_models() if (get_model_class(n).example or {}).get("n_targets") == 1}
NEEDS = {"enformer": "enformer_pytorch", "borzoi": "borzoi_pytorch"}
POSITIONS = {"enformer": Positions(bins="centre:3"), "borzoi": Positions(bins="centre:3", aggregate="sum")}


def _randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random batch-norm statistics and k-mer tables, so folding and every buffer matter."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
        if hasattr(m, "table") and torch.is_tensor(m.table):
            m.table.copy_(torch.randn(m.table.shape, generator=g))
    return net.eval()


def tiny_saved(name: str, *, members: int = 2, task: str = "regression", rc: bool = True) -> SavedModel:
    """A saved model in memory: an ensemble of ``members`` (0: one network), strands averaged, a log1p +
    z-score target transform (regression) or a classifier."""
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    n = 1 if name in ONE_TARGET or task == "classification" else 2
    length = LENGTH.get(name, L)
    torch.manual_seed(0)
    nets = [_randomised(build_model(name, seq_len=length, n_targets=n, **TINY[name]), i)
            for i in range(max(1, members))]
    transform = {"kind": "log1p", "standardize": True, "mean": [1.5, 0.5][:n], "std": [0.8, 1.3][:n]}
    cfg = SavedModelConfig(model=ModelSpec(name=name, params=TINY[name], seq_len=length, n_targets=n,
                                           positions=POSITIONS.get(name)),
                           train={"task": task, "rc_average": rc}, data={"policy": {"length": length}},
                           target_transform=transform if task == "regression" else None, ensemble_size=members)
    return SavedModel(EnsembleAverage(nets).eval() if members else nets[0], cfg)


def _codes(n: int, length: int, seed: int = 1) -> np.ndarray:
    """Random codes with N (4) at about 5% of positions."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    codes[rng.random(codes.shape) < 0.05] = 4
    return codes


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    return float((np.abs(got - want) / np.maximum(1.0, np.abs(want))).max())


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_architecture_exports_the_whole_contract(name):
    """ONNX (through ONNX Runtime) and the torch.export program both equal predict on a 2-member, strand-averaging
    ensemble with a transformed target, N included (Enformer and Borzoi: one network). Enformer's gamma positional
    features (computed unless the published TensorFlow gammas are used) need lgamma, which ONNX lacks: its ONNX
    export is refused in one line naming it, its torch export is exact."""
    saved = tiny_saved(name, members=0 if name in BIG else 2)
    codes = _codes(8 if name in BIG else 48, saved.config.seq_len)
    want = predict(saved, codes, precision="32")
    program = export_program(contract_module(saved), saved.config.seq_len)
    x = one_hot(codes, saved.policy.n_value)
    with torch.no_grad():
        from_torch = program.module()(x).numpy()
    assert from_torch.shape == want.shape and _rel(from_torch, want) <= TOLERANCE["32"]
    if name == "enformer":
        with pytest.raises(ValueError, match="lgamma") as err:
            onnx_model(program)
        assert "\n" not in str(err.value)
    else:
        from_onnx = run_session(onnxruntime_session(onnx_model(program).SerializeToString()), x)
        assert from_onnx.shape == want.shape and _rel(from_onnx, want) <= TOLERANCE["32"]
    # the contract is not the bare network: the inverse transform and the strand average are in the graph
    bare = predict(saved, codes, readout=Readout(strands="forward", scale="model"), precision="32")
    assert _rel(bare, want) > 1e-2


def test_coverage_table_names_every_architecture_and_is_tested():
    from seq2expr.convert.export.coverage import ARCHITECTURES

    assert set(ARCHITECTURES) <= set(list_models())
    rows = {name: status for name, status, _ in exportable_architectures()}
    assert set(rows) == set(list_models()) and "unchecked" not in rows.values()
    assert {n for n, s in rows.items() if s != "no"} == set(TINY)  # each exportable one has a test above
    res = runner.invoke(app, ["models", "list", "--exportable"])
    assert res.exit_code == 0 and all(n in res.output for n in rows) and "seq2expr[human]" in res.output


def test_formats_are_discovered_from_the_package():
    """The registry finds one module per format (to_*.py) without a hand-kept list."""
    folder = REPO / "seq2expr" / "convert" / "export"
    modules = sorted(p.stem for p in folder.glob("to_*.py"))
    assert len(modules) == len(exporters()) == 2 and formats() == ["onnx", "torch"]
    assert sorted(type(e).__module__.rsplit(".", 1)[1] for e in exporters().values()) == modules


def test_an_architecture_that_needs_more_than_its_weights_is_refused_in_one_line():
    """lm_cnn in mode 'lm' (its language model left out: the refusal reads only the architecture and its mode),
    alone and as an ensemble member, in export and in the engine."""
    from seq2expr.models.lm_cnn import LMCNN

    net = LMCNN.__new__(LMCNN)
    torch.nn.Module.__init__(net)
    net.mode = "lm"
    net.conv = torch.nn.Conv1d(4, 1, 3)  # a weight, so the model has a device
    for model in (net, EnsembleAverage([net])):
        with pytest.raises(DataError, match="external DNA language model") as err:
            contract_module(model.eval())
        assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="not exportable"):
        predict(net, _codes(4, L), engine="onnxruntime")


class _Unsupported(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.zeta(x.sum(1) + 2.0, torch.tensor(3.0)).mean(1, keepdim=True)


def test_an_op_onnx_cannot_express_fails_with_one_line_naming_it():
    program = export_program(_Unsupported().eval(), 20)
    with pytest.raises(ValueError) as err:
        onnx_model(program)
    msg = str(err.value)
    assert "\n" not in msg and "zeta" in msg, msg


# ---------------------------------------------------------------------------------- the command, on zoo models


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """``models export zoo:dream2022-cnn`` (strand-averaging, z-scored target) in both formats."""
    root = tmp_path_factory.mktemp("exported")
    for fmt in ("onnx", "torch"):
        res = runner.invoke(app, ["models", "export", "zoo:dream2022-cnn", "-o", str(root / fmt), "--format", fmt])
        assert res.exit_code == 0, res.output + repr(res.exception)
    return root


@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_models_test_passes_fresh_and_fails_on_an_altered_weight(exported, fmt, tmp_path):
    res = runner.invoke(app, ["models", "test", str(exported / fmt)])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("pass: largest difference") and "tolerance 1e-05" in res.output
    copy = tmp_path / fmt
    subprocess.run(["cp", "-r", str(exported / fmt), str(copy)], check=True)
    _alter_a_weight(copy / ("model.onnx" if fmt == "onnx" else "model.pt2"))
    res = runner.invoke(app, ["models", "test", str(copy)])
    assert res.exit_code == 1, res.output
    line = res.stdout.strip()
    assert len(line.splitlines()) == 1 and line.startswith("FAIL: largest difference"), res.output
    value = float(re.search(r"largest difference (\S+)", line).group(1))
    assert value > 1e-3  # a real change, reported with its size
    assert "is not the exported file" in res.stderr


def _alter_a_weight(path: Path) -> None:
    """Add 0.5 to one element of the graph's largest weight tensor, in place."""
    if path.suffix == ".onnx":
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(path))
        init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
        arr = numpy_helper.to_array(init).copy()
        arr.flat[0] += 0.5
        init.CopyFrom(numpy_helper.from_array(arr, init.name))
        onnx.save(model, str(path))
        return
    program = torch.export.load(str(path))
    name = max(program.state_dict, key=lambda k: program.state_dict[k].numel())
    with torch.no_grad():
        program.state_dict[name].view(-1)[0] += 0.5
    torch.export.save(program, str(path))


def test_export_folder_contract_and_golden_vectors(exported):
    contract = read_contract(exported / "onnx")
    saved = load_model("zoo:dream2022-cnn")
    assert contract.input.length == 110 and contract.input.alphabet == "ACGT" and contract.input.n_value == 0.0
    assert contract.input.flanks == ("TGCATTTTTTTCACATC", "GGTTACGGCTGTT")
    assert contract.output.strands.startswith("averaged") and contract.output.inverse_transform["standardize"]
    assert [t.name for t in contract.output.targets] == ["expression"]
    assert contract.lineage.card.name == "dream2022-cnn"
    assert contract.lineage.weights_sha256 == sha256_file(saved.path / "model.safetensors")
    assert contract.lineage.files["model.onnx"] == sha256_file(exported / "onnx" / "model.onnx")
    golden = np.load(exported / "onnx" / "golden.npz")
    table = (exported / "onnx" / "golden.tsv").read_text().splitlines()
    seqs = [row.split("\t")[1] for row in table[1:]]
    assert len(seqs) == 64 and all(s.startswith("TGCATTTTTTTCACATC") and s.endswith("GGTTACGGCTGTT") for s in seqs)
    assert any("N" in s for s in seqs)
    np.testing.assert_array_equal(golden["onehot"], one_hot(encode(seqs), 0.0).numpy())
    assert _rel(golden["expected"], predict(saved, seqs, precision="32")) == 0.0
    assert golden["expected"].std() > 0.05  # outputs differ between sequences: the comparison can fail
    # the same sequences give the same golden file in another export: deterministic
    assert (exported / "torch" / "golden.tsv").read_text() == (exported / "onnx" / "golden.tsv").read_text()


def test_exported_files_run_without_seq2expr(exported):
    """model.onnx with onnxruntime alone and model.pt2 with torch alone, in a process that cannot import seq2expr."""
    script = f"""
import sys, numpy as np
sys.modules["seq2expr"] = None  # any import of seq2expr now fails
g = np.load({str(exported / "onnx" / "golden.npz")!r})
import onnxruntime as ort
s = ort.InferenceSession({str(exported / "onnx" / "model.onnx")!r}, providers=["CPUExecutionProvider"])
a = s.run(None, {{"onehot": g["onehot"]}})[0]
import torch
b = torch.export.load({str(exported / "torch" / "model.pt2")!r}).module()(torch.from_numpy(g["onehot"])).detach()
print(float(np.abs(a - g["expected"]).max()), float(np.abs(b.numpy() - g["expected"]).max()))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert max(map(float, out.split())) < 1e-5, out


@pytest.mark.parametrize("model,fmt", [("zoo:dream2022-legnet", "onnx"), ("zoo:yeast-high-low", "onnx"),
                                       ("zoo:yeast-log-tpm", "torch")])
def test_trained_models_export_exactly(model, fmt, tmp_path):
    """The DREAM LegNet ensemble (5 members, strands averaged), a classifier (probabilities) and a log-TPM
    regression (z-scored target): each export passes its golden test, and its graph gives predict's numbers on
    other sequences too."""
    out = export_model(model, tmp_path / "e", format=fmt)
    result = verify_export(out)
    assert result.passed and not result.changed, result.line
    saved = load_model(model)
    contract = read_contract(out)
    assert contract.output.ensemble_size == (saved.config.ensemble_size or 1)
    if saved.config.task == "classification":
        assert contract.output.targets[0].units == "probability" or "probab" in contract.output.targets[0].scale
    codes = _codes(16, saved.config.seq_len, seed=7)
    run = exporters()[fmt].runner(out / contract.file)
    got = run(one_hot(codes, saved.policy.n_value).numpy())
    want = predict(saved, codes, precision="32")
    assert _rel(got, want) <= TOLERANCE["32"]
    if saved.config.task == "classification":
        assert ((got > 0) & (got < 1)).all()  # probabilities, not logits


def test_scale_model_exports_the_network_scale(tmp_path):
    saved = tiny_saved("cnn", members=0, task="classification")
    out = export_model(saved, tmp_path / "e", scale="model")
    contract = read_contract(out)
    assert contract.output.scale == "model" and contract.output.targets[0].scale == "logit"
    codes = _codes(20, L)
    got = exporters()["onnx"].runner(out / "model.onnx")(one_hot(codes).numpy())
    assert _rel(got, predict(saved, codes, scale="model", precision="32")) <= TOLERANCE["32"]
    probabilities = predict(saved, codes, precision="32")  # what the default export gives: the sigmoid of these
    assert _rel(1 / (1 + np.exp(-got)), probabilities) <= TOLERANCE["32"] and _rel(got, probabilities) > 1e-2


def test_dual_contract_names_both_segments(tmp_path):
    out = export_model(tiny_saved("dual", members=0), tmp_path / "e", format="torch")
    segments = read_contract(out).input.segments
    assert [(s.name, s.start, s.length) for s in segments] == [("segment_1", 0, 50), ("spacer", 50, 20),
                                                               ("segment_2", 70, 40)]
    seqs = (out / "golden.tsv").read_text().splitlines()[1:]
    assert all(row.split("\t")[1][50:70] == "N" * 20 for row in seqs)


def test_export_refuses_bad_requests_in_one_line(tmp_path, one_line_error, exported):
    res = runner.invoke(app, ["models", "export", "zoo:dream2022-cnn", "-o", str(tmp_path / "x"), "--format", "tf"])
    one_line_error(res, "--format", "onnx, torch")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    res = runner.invoke(app, ["models", "export", "zoo:dream2022-cnn", "-o", str(tmp_path / "mine")])
    one_line_error(res, "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    res = runner.invoke(app, ["models", "export", "zoo:dream2022-cnn", "-o", str(exported / "onnx")])
    one_line_error(res, "--force")
    res = runner.invoke(app, ["models", "test", str(tmp_path / "mine")])
    one_line_error(res, "contract.json")
    for fmt, file in (("onnx", "model.onnx"), ("torch", "model.pt2")):  # a truncated copy: one line naming it
        subprocess.run(["cp", "-r", str(exported / fmt), str(tmp_path / f"cut_{fmt}")], check=True)
        path = tmp_path / f"cut_{fmt}" / file
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        res = runner.invoke(app, ["models", "test", str(tmp_path / f"cut_{fmt}")])
        one_line_error(res, file, "cannot run it")


def test_a_graph_that_would_not_reproduce_predict_is_not_written(tmp_path, monkeypatch):
    """The export checks its own file against predict before the folder appears."""
    import seq2expr.convert.export.exporting as exporting

    monkeypatch.setattr(exporting, "predict", lambda *a, **k: predict(*a, **k) + 0.01)
    with pytest.raises(ValueError, match="does not reproduce predict: largest difference"):
        export_model(tiny_saved("cnn", members=0), tmp_path / "e")
    assert not (tmp_path / "e").exists() and not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------ the encoder


def _docs_encoder():
    """The plain-numpy reference encoder of docs/tutorials/export.md, executed as the page shows it."""
    page = (REPO / "docs" / "tutorials" / "export.md").read_text()
    block = next(b for b in re.findall(r"^```python\n(.*?)^```$", page, re.S | re.M) if "def encode(" in b)
    code = block.split("# --- end of the encoder")[0]
    assert not re.search(r"^\s*(import|from)\s+seq2expr", code, re.M)
    namespace: dict = {}
    exec(code, namespace)
    return namespace["encode"]


@pytest.mark.parametrize("policy", [
    SequencePolicy(length=12),
    SequencePolicy(length=12, pad="left", truncate="left", n_value=0.25),
    SequencePolicy(length=12, pad="centre", truncate="centre", iupac="n"),
])
def test_docs_encoder_is_seq2expr_encoding(policy):
    encoder = _docs_encoder()
    seqs = ["ACGTACGTACGT", "acgtNNacgtaa", "ACG", "ACGTACGTACGTACGTAC", "nnnnACGTTGCAtgcaG", "T"]
    if policy.iupac == "n":
        seqs.append("ACGRYSWKMBDHVa")
    contract = {"input": {"length": 12, "alphabet": "ACGT", "n_value": policy.n_value, "iupac": policy.iupac,
                          "fit_length": policy.length, "pad": policy.pad, "truncate": policy.truncate}}
    want = one_hot(encode(seqs, policy), policy.n_value).numpy()
    np.testing.assert_array_equal(encoder(seqs, contract), want)
    for bad in (["ACGTR"] if policy.iupac == "reject" else []) + [["ACG-T"]]:
        bad = bad if isinstance(bad, list) else [bad]
        with pytest.raises(DataError):
            encode(bad, policy)
        with pytest.raises(ValueError, match="invalid character"):
            encoder(bad, contract)


def test_docs_encoder_refuses_another_length_without_a_fit():
    encoder = _docs_encoder()
    contract = {"input": {"length": 8, "alphabet": "ACGT", "n_value": 0.0, "iupac": "reject", "fit_length": None,
                          "pad": "right", "truncate": "right"}}
    assert encoder(["ACGTACGT"], contract).shape == (1, 4, 8)
    with pytest.raises(ValueError, match="8"):
        encoder(["ACGTACGTA"], contract)


# ----------------------------------------------------------------------------------------- the engine


def test_engine_choices_agree():
    from seq2expr.cli.common import ENGINES as CLI_ENGINES

    assert CLI_ENGINES == ENGINES == ("torch", "onnxruntime")


def test_onnxruntime_engine_gives_predicts_numbers_for_any_readout():
    saved = tiny_saved("legnet", members=2)
    codes = _codes(70, L)
    for readout in (None, Readout(targets=1), Readout(targets=(0, 1), transform="diff", strands="forward"),
                    Readout(scale="model", strands="average")):
        want = predict(saved, codes, readout=readout, precision="32", batch_size=32)
        got = predict(saved, codes, readout=readout, engine="onnxruntime", batch_size=32)
        assert got.shape == want.shape and got.dtype == np.float32
        assert _rel(got, want) <= TOLERANCE["32"]
    with pytest.raises(ValueError, match="float32"):
        predict(saved, codes, engine="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="engine must be one of"):
        predict(saved, codes, engine="tvm")


def test_onnxruntime_engine_follows_changed_weights():
    """The engine's graph is rebuilt when a weight changes (never the numbers of old weights)."""
    net = _randomised(build_model("cnn", seq_len=L, **TINY["cnn"]), 0)
    codes = _codes(8, L)
    first = predict(net, codes, engine="onnxruntime")
    with torch.no_grad():
        net.head[-1].bias.add_(1.0)
    assert _rel(predict(net, codes, engine="onnxruntime"), first + 1.0) <= TOLERANCE["32"]


def test_predict_cli_engine(tmp_path):
    saved = tiny_saved("cnn", members=0)
    save_model(tmp_path / "m", saved.model, saved.config)
    rng = np.random.default_rng(0)
    rows = ["id\tsequence"] + [f"s{i}\t{''.join(rng.choice(list('ACGT'), L))}" for i in range(30)]
    (tmp_path / "in.tsv").write_text("\n".join(rows) + "\n")
    outs = {}
    for engine in ENGINES:
        out = tmp_path / f"{engine}.tsv"
        res = runner.invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "in.tsv"), "-o", str(out),
                                  "--engine", engine])
        assert res.exit_code == 0, res.output + repr(res.exception)
        outs[engine] = np.loadtxt(out, delimiter="\t", skiprows=1, usecols=(1, 2))
    assert outs["torch"].shape == (30, 2)
    assert _rel(outs["onnxruntime"], outs["torch"]) <= 2e-5  # the tables hold 6 significant digits (%.6g)
    res = runner.invoke(app, ["interpret", str(tmp_path / "m"), str(tmp_path / "in.tsv"), "-o", str(tmp_path / "r"),
                              "--engine", "onnxruntime"])  # deeplift_shap needs gradients: refused before any work
    assert res.exit_code == 2 and "--method ism" in res.output and not (tmp_path / "r").exists()


def test_ism_design_and_variant_scoring_through_onnxruntime(tmp_path):
    """ISM's batched mutants, design's scorer and sequence-pair variant scoring give the torch engine's numbers."""
    import pandas as pd

    from seq2expr.design import Objective, design
    from seq2expr.design.objective import Scorer
    from seq2expr.interpret.ism import ism
    from seq2expr.variants import score_pairs

    saved = tiny_saved("cnn", members=2)
    codes = _codes(3, L)
    readout = Readout(targets=0)
    want = ism(saved, codes, readout=readout, precision="32")
    got = ism(saved, codes, readout=readout, engine="onnxruntime")
    scale = max(1.0, float(np.abs(predict(saved, codes, readout=readout)).max()))  # effects: differences of these
    assert np.abs(want).max() > 1e-3 and np.abs(got - want).max() <= 2 * TOLERANCE["32"] * scale
    from seq2expr.interpret.attribute import attribute

    _, hyp = attribute(saved, codes, method="ism", readout=readout, engine="onnxruntime")  # the interpret path
    assert np.abs(hyp - (want - want.mean(1, keepdims=True))).max() <= 2 * TOLERANCE["32"] * scale
    with pytest.raises(ValueError, match="forward passes only"):
        attribute(saved, codes, method="saliency", engine="onnxruntime")

    objective = Objective.parse("max", 1)
    torch_scores = Scorer([saved], objective, precision="32")(_codes(40, L))
    onnx_scores = Scorer([saved], objective, engine="onnxruntime")(_codes(40, L))
    assert _rel(onnx_scores, torch_scores) <= TOLERANCE["32"]
    result = design(saved, "random", objective, n=2, rounds=1, oracle="none", engine="onnxruntime")
    assert result.summary["n"] == 2

    rng = np.random.default_rng(3)
    ref = ["".join(rng.choice(list("ACGT"), L)) for _ in range(12)]
    alt = [s[:50] + ("A" if s[50] != "A" else "C") + s[51:] for s in ref]
    pairs = pd.DataFrame({"id": [f"p{i}" for i in range(12)], "ref_sequence": ref, "alt_sequence": alt})
    a = score_pairs(saved, pairs, precision="32")
    b = score_pairs(saved, pairs, engine="onnxruntime")
    scale = max(1.0, float(np.abs(a.filter(like="ref_").to_numpy()).max()))
    for col in a.columns[1:]:  # effects are differences of two outputs: their error is relative to the outputs
        assert np.abs(b[col].to_numpy() - a[col].to_numpy()).max() <= 2 * TOLERANCE["32"] * scale, col
