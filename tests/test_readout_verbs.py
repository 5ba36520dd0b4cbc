"""The readout in ``predict_file``, ``evaluate``, training's evaluation and design's difference objective: one
readout, one target-name resolver, the same numbers as :func:`~seq2expr.inference.predict`'s columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.data.errors import DataError
from seq2expr.data.records import Records
from seq2expr.data.targets import TargetTransform
from seq2expr.inference import ModelSpec, Readout, SavedModelConfig, load_model, predict, predict_file, save_model
from seq2expr.models import build_model

L = 12
BASES = np.array(list("ACGT"))
NAMES = ["a", "b", "c"]


def _linear(n_targets: int) -> torch.nn.Module:
    net = build_model("linear", seq_len=L, n_targets=n_targets)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(np.random.default_rng(0).normal(size=(n_targets, 4, L)), dtype=torch.float32))
        net.conv.bias.fill_(0.5)
    return net.eval()


@pytest.fixture
def model(tmp_path):
    """A linear model of three targets, strands averaged as trained, its targets z-scored per column (so a target's
    column on the original scale needs its own mean and std: a column taken out of place would show)."""
    transform = TargetTransform(kind="none", standardize=True, mean=[1.0, -2.0, 3.0], std=[2.0, 0.5, 4.0])
    cfg = SavedModelConfig(model=ModelSpec(name="linear", seq_len=L, n_targets=3), train={"rc_average": True},
                           target_names=NAMES, target_transform=transform)
    return load_model(save_model(tmp_path / "model", _linear(3), cfg))


def _table(tmp_path, model, n: int = 40, drop: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str]:
    """Sequences with measured targets: the model's predictions plus noise (a known, imperfect r)."""
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(BASES, L)) for _ in range(n)]
    measured = predict(model, seqs, precision="32") + rng.normal(0, 3, (n, 3))
    table = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "sequence": seqs, **dict(zip(NAMES, measured.T,
                                                                                          strict=True))})
    path = tmp_path / "data.tsv"
    table.drop(columns=list(drop)).to_csv(path, sep="\t", index=False)
    return table, str(path)


def test_predict_file_with_a_readout_is_predicts_column(model, tmp_path):
    table, path = _table(tmp_path, model)
    seqs = table["sequence"].tolist()
    every = predict(model, seqs, precision="32")
    predict_file(model.path, path, tmp_path / "b.tsv", readout="b", precision="32")
    out = pd.read_csv(tmp_path / "b.tsv", sep="\t")
    assert list(out.columns) == ["id", "b"]
    np.testing.assert_allclose(out["b"], every[:, 1], rtol=1e-5, atol=1e-5)

    predict_file(model.path, path, tmp_path / "d.tsv", readout=Readout(targets=("c", "a"), transform="diff"),
                 precision="32")
    out = pd.read_csv(tmp_path / "d.tsv", sep="\t")
    assert list(out.columns) == ["id", "c-a"]
    np.testing.assert_allclose(out["c-a"], every[:, 2] - every[:, 0], rtol=1e-5, atol=1e-5)

    # the older spelling maps onto the readout's scale: the same numbers as a readout saying it
    predict_file(model.path, path, tmp_path / "m.tsv", scale="model", precision="32")
    predict_file(model.path, path, tmp_path / "r.tsv", readout="a,b,c", scale="model", precision="32")
    old, new = (pd.read_csv(tmp_path / f, sep="\t") for f in ("m.tsv", "r.tsv"))
    assert list(old.columns) == ["id", *NAMES]
    np.testing.assert_allclose(old[NAMES], predict(model, seqs, readout=Readout(scale="model"), precision="32"),
                               rtol=1e-5, atol=1e-5)
    pd.testing.assert_frame_equal(old, new)
    with pytest.raises(ValueError, match="not as rc_average/scale beside it"):
        predict_file(model.path, path, tmp_path / "x.tsv", readout=Readout(), scale="model")
    with pytest.raises(DataError, match=r"^target 'nope' is not among the model's targets \['a', 'b', 'c'\]$"):
        predict_file(model.path, path, tmp_path / "x.tsv", readout="nope")
    assert not (tmp_path / "x.tsv").exists()


def _r(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def test_evaluate_with_a_target_scores_only_its_column(model, tmp_path):
    from seq2expr.evaluation import evaluate

    table, path = _table(tmp_path, model, drop=("a", "c"))  # the table holds only the target scored
    pred = predict(model, table["sequence"].tolist(), precision="32")[:, 1]
    report = evaluate(model.path, path, readout="b", out_dir=tmp_path / "ev", n_boot=0, precision="32")
    assert report["target_names"] == ["b"]
    m = report["eval"]
    assert "per_target" not in m
    assert m["overall"]["pearson_r"] == pytest.approx(_r(table["b"], pred), abs=1e-5)
    # on the model's scale, b's own mean and std: r is unchanged, the error is scaled by b's std (0.5)
    assert m["model_scale"]["overall"]["pearson_r"] == pytest.approx(_r(table["b"], pred), abs=1e-5)
    assert m["model_scale"]["overall"]["mae"] == pytest.approx(np.abs(table["b"] - pred).mean() / 0.5, rel=1e-4)
    written = pd.read_csv(tmp_path / "ev" / "predictions.tsv", sep="\t")
    assert list(written.columns) == ["id", "target", "prediction"]
    np.testing.assert_allclose(written["prediction"], pred, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(written["target"], table["b"], rtol=1e-5)

    two = evaluate(model.path, table, readout=Readout(targets=("c", "a")), n_boot=0, precision="32")
    every = predict(model, table["sequence"].tolist(), precision="32")
    assert two["target_names"] == ["c", "a"]
    assert two["eval"]["per_target"]["c"]["pearson_r"] == pytest.approx(_r(table["c"], every[:, 2]), abs=1e-5)
    assert two["eval"]["per_target"]["a"]["pearson_r"] == pytest.approx(_r(table["a"], every[:, 0]), abs=1e-5)
    whole = evaluate(model.path, table, n_boot=0, precision="32")  # no readout: every target, as before
    assert whole["target_names"] == NAMES
    assert whole["eval"]["per_target"]["c"] == two["eval"]["per_target"]["c"]


def test_evaluate_refuses_a_transform_and_a_missing_column(model, tmp_path):
    from seq2expr.evaluation import evaluate

    table, path = _table(tmp_path, model, drop=("a",))
    with pytest.raises(DataError, match=r"a diff readout \(diff:a,b\) has none: name its targets instead"):
        evaluate(model.path, path, readout="diff:a,b", n_boot=0)
    with pytest.raises(DataError, match=r"a mean readout \(mean:\) has none: name its targets instead \(none"):
        evaluate(model.path, path, readout=Readout(transform="mean"), n_boot=0)
    with pytest.raises(DataError, match=r"missing target column\(s\) \['a'\]"):
        evaluate(model.path, path, readout="a", n_boot=0)
    records = Records(table["id"], table["sequence"], table[["c", "b"]].to_numpy(), ["c", "b"], source="recs")
    with pytest.raises(DataError, match=r"target columns \['c', 'b'\] lack the model's \['a'\]"):
        evaluate(model.path, records, readout="a,b", n_boot=0)
    # Records holding more targets, in another order: the readout's are picked by name
    report = evaluate(model.path, records, readout="b", n_boot=0, precision="32")
    pred = predict(model, table["sequence"].tolist(), precision="32")[:, 1]
    assert report["eval"]["overall"]["pearson_r"] == pytest.approx(_r(table["b"], pred), abs=1e-5)
    with pytest.raises(DataError, match="leave the readout's scale 'original'"):
        evaluate(model.path, path, readout=Readout(targets="b", scale="model"), n_boot=0)


def _one_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


def test_predict_and_evaluate_commands_take_a_target(model, tmp_path):
    table, path = _table(tmp_path, model)
    every = predict(model, table["sequence"].tolist(), precision="32")
    runner = CliRunner()
    res = runner.invoke(app, ["predict", str(model.path), path, "-o", str(tmp_path / "p.tsv"), "--target", "c",
                              "--precision", "32"])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert list(out.columns) == ["id", "c"]
    np.testing.assert_allclose(out["c"], every[:, 2], rtol=1e-5, atol=1e-5)
    res = runner.invoke(app, ["predict", str(model.path), path, "-o", str(tmp_path / "q.tsv"), "--readout",
                              "mean:a,b", "--precision", "32"])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "q.tsv", sep="\t")
    assert list(out.columns) == ["id", "mean(a,b)"]
    np.testing.assert_allclose(out["mean(a,b)"], every[:, :2].mean(1), rtol=1e-5, atol=1e-5)
    line = _one_line(runner.invoke(app, ["predict", str(model.path), path, "-o", str(tmp_path / "x.tsv"),
                                         "--target", "diff:a"]))
    assert "diff" in line and "exactly two targets" in line

    res = runner.invoke(app, ["evaluate", str(model.path), path, "--target", "b", "--n-boot", "0", "-o",
                              str(tmp_path / "ev"), "--precision", "32"])
    assert res.exit_code == 0, res.output
    written = pd.read_csv(tmp_path / "ev" / "predictions.tsv", sep="\t")
    np.testing.assert_allclose(written["prediction"], every[:, 1], rtol=1e-5, atol=1e-5)
    line = _one_line(runner.invoke(app, ["evaluate", str(model.path), path, "--readout", "diff:a,b"]))
    assert line == ("error: evaluate scores outputs against measured columns, and a diff readout (diff:a,b) has "
                    "none: name its targets instead (a,b)")
    line = _one_line(runner.invoke(app, ["evaluate", str(model.path), path, "--target", "nope"]))
    assert line == "error: target 'nope' is not among the model's targets ['a', 'b', 'c']"


def test_a_difference_objective_is_the_readouts_diff(model):
    """``--objective diff:c --target a`` and ``--target diff:a,c`` are one objective: the readout's ``diff``."""
    from seq2expr.design import Objective, design
    from seq2expr.design.objective import Scorer

    scorer = Scorer([model], Objective.parse("diff:c", "a"), precision="32")
    assert scorer.readout.transform == "diff" and scorer.names == ["a-c"]
    codes = np.random.default_rng(0).integers(0, 4, (6, L)).astype(np.uint8)
    every = predict(model, codes, precision="32")
    np.testing.assert_allclose(scorer(codes), every[:, 0] - every[:, 2], rtol=1e-5, atol=1e-5)
    by_objective = design(model, "random", Objective.parse("diff:c", "a"), n=2, rounds=1, seed=0, oracle="none",
                          precision="32")
    by_readout = design(model, "random", Objective(readout=Readout.parse("diff:a,c")), n=2, rounds=1, seed=0,
                        oracle="none", precision="32")
    pd.testing.assert_frame_equal(by_objective.table, by_readout.table)
    assert by_objective.summary["target"] == by_readout.summary["target"] == "a-c"


def test_one_target_resolver(model, tmp_path):
    """The interpretation report names a wrong target as the readout does (one resolver), before any work."""
    from seq2expr.interpret.report import ReportOptions, write_report

    seqs = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (3, L))].transpose(0, 2, 1)
    with pytest.raises(DataError, match=r"^target 'nope' is not among the model's targets \['a', 'b', 'c'\]$"):
        write_report(model, seqs, tmp_path / "reports" / "nope", ReportOptions(target="nope", precision="32"))
    with pytest.raises(DataError, match=r"^target 5 out of range for a model with targets \['a', 'b', 'c'\]$"):
        write_report(model, seqs, tmp_path / "reports" / "five", ReportOptions(target=5, precision="32"))
    assert not (tmp_path / "reports").exists()  # nothing written


def test_a_report_explains_one_readout_output(model, tmp_path):
    """``interpret`` takes the readout grammar: ``diff:a,c`` ranks the sequences by a - c (original scale) and
    explains a - c on the model's scale, as :func:`attribute` does with that readout; a readout of two outputs is
    refused with one line, before any work."""
    from seq2expr.interpret.attribute import attribute
    from seq2expr.interpret.report import ReportOptions, write_report

    table, path = _table(tmp_path, model, n=30)
    with pytest.raises(DataError, match=r"^interpret explains one output, and the readout 'a,b' gives 2 \(a, b\)"):
        write_report(model, path, tmp_path / "two", ReportOptions(target="a,b", precision="32"))
    assert not (tmp_path / "two").exists()
    report = write_report(model, path, tmp_path / "rep", ReportOptions(
        target="diff:a,c", method="saliency", taxon="fungi", max_gi_motifs=0, precision="32",
        modisco_args={"sliding_window_size": 6, "flank_size": 2}))
    # (12-bp sequences: a 6-bp TF-MoDISco window; whether it finds a motif in a random linear model is not the point)
    summary = pd.read_json(report.parent / "summary.json", typ="series")
    assert summary["target"] == "a-c"
    data = np.load(report.parent / "attributions.npz")
    expected, _ = attribute(model, data["onehot"].astype(np.float32), method="saliency",
                            readout=Readout.parse("diff:a,c", scale="model"), precision="32")
    np.testing.assert_allclose(data["attributions"], expected, rtol=1e-5, atol=1e-6)
    every = predict(model, table["sequence"].tolist(), precision="32")
    np.testing.assert_allclose(data["predictions"], every, rtol=1e-5, atol=1e-5)  # every target, as before
    top = (every[:, 0] - every[:, 2]).argmax()
    first = report.read_text().split("<p>s", 1)[1].split(" (", 1)[0]  # the first top sequence's line
    assert first.startswith(f"{table['id'][top][1:]} — predicted a-c ")
    assert float(first.rsplit(" ", 1)[1]) == pytest.approx(every[top, 0] - every[top, 2], abs=0.01)


def test_variant_pairs_take_the_readout_on_the_command_line(model, tmp_path):
    """``variants --mode pairs --readout diff:a,c``: one output, a - c, as :func:`score_pairs` gives it."""
    from seq2expr.variants import score_pairs

    rng = np.random.default_rng(5)
    ref = ["".join(rng.choice(BASES, L)) for _ in range(6)]
    alt = [s[:5] + ("A" if s[5] != "A" else "C") + s[6:] for s in ref]
    pairs = pd.DataFrame({"id": [f"p{i}" for i in range(6)], "ref_sequence": ref, "alt_sequence": alt})
    pairs.to_csv(tmp_path / "pairs.tsv", sep="\t", index=False)
    res = CliRunner().invoke(app, ["variants", str(model.path), str(tmp_path / "pairs.tsv"), "--mode", "pairs",
                                   "--readout", "diff:a,c", "--precision", "32", "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    written = pd.read_csv(tmp_path / "out" / "variants.tsv", sep="\t")
    assert [c for c in written.columns if c.startswith("effect_")] == ["effect_a-c"]
    expected = score_pairs(model, pairs, readout=Readout.parse("diff:a,c"), precision="32")
    np.testing.assert_allclose(written["effect_a-c"], expected["effect_a-c"], rtol=1e-5, atol=1e-6)
    every_ref, every_alt = predict(model, ref, precision="32"), predict(model, alt, precision="32")
    np.testing.assert_allclose(written["effect_a-c"], (every_alt[:, 0] - every_alt[:, 2])
                               - (every_ref[:, 0] - every_ref[:, 2]), rtol=1e-4, atol=1e-5)
