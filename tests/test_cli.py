"""``seq2expr train / predict / evaluate`` end to end on a tiny TSV (a 2-seed ensemble trained for real)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from seq2expr.cli.common import DESIGN_METHODS, LOGO_METHODS
from seq2expr.cli.main import app
from seq2expr.data.registry import parse_dataset_spec
from seq2expr.data.synthetic import make_synthetic
from seq2expr.inference import load_model
from seq2expr.models import EnsembleAverage

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cli")
    table, _ = make_synthetic(n=500, length=50, seed=1, interaction=None, noise_sd=0.2, position=(1.0, 1.0),
                              p_present=0.5, motifs=[{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0}])
    table.to_csv(d / "data.tsv", sep="\t", index=False)
    config = {
        "data": {"path": str(d / "data.tsv"), "id_column": "id", "group_columns": ["subset"],
                 "cache_dir": str(d / "cache"), "split": {"method": "random", "valid_fraction": 0.2,
                                                          "test_fraction": 0.2}},
        "model": {"name": "cnn", "params": {"channels": [16], "kernel_sizes": 11, "pool_sizes": [50],
                                            "convs_per_block": 1, "dropout": 0.0, "hidden": [8], "head_dropout": 0.0}},
        "train": {"epochs": 4, "batch_size": 32, "lr": 0.01, "threads": 1},
        "output_dir": str(d / "run"),
    }
    (d / "run.yaml").write_text(yaml.safe_dump(config))
    res = runner.invoke(app, ["train", str(d / "run.yaml"), "--set", "train.ensemble_seeds=[0, 1]", "--quiet"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return d, d / "run"


def test_train_command(trained):
    d, run = trained
    assert (run / "model" / "config.json").is_file() and (run / "metrics.json").is_file()
    assert (run / "seed_0" / "checkpoints" / "last.ckpt").is_file() and (run / "seed_1" / "logs").is_dir()
    saved = load_model(run / "model")
    assert isinstance(saved.model, EnsembleAverage) and len(saved.model.members) == 2
    resolved = yaml.safe_load((run / "config.yaml").read_text())  # the --set value and the defaults filled in
    assert resolved["train"]["ensemble_seeds"] == [0, 1] and resolved["train"]["loss"] == "mse"
    test_r = json.loads((run / "metrics.json").read_text())["test"]["overall"]["pearson_r"]
    assert test_r > 0.6
    # members differ (different seeds) and the ensemble is their mean
    x = np.zeros((1, 4, 50), np.float32)
    x[0, 0] = 1
    import torch

    with torch.no_grad():
        outs = [m(torch.from_numpy(x)) for m in saved.model.members]
        assert not torch.allclose(outs[0], outs[1])
        assert torch.allclose(saved.model(torch.from_numpy(x)), (outs[0] + outs[1]) / 2)


def test_predict_command(trained, tmp_path):
    d, run = trained
    table = pd.read_csv(d / "data.tsv", sep="\t").iloc[:30]
    with open(tmp_path / "in.fa", "w") as fh:
        for i, s in zip(table["id"], table["sequence"], strict=True):
            fh.write(f">{i}\n{s[:25]}\n{s[25:]}\n")
    res = runner.invoke(app, ["predict", str(run / "model"), str(tmp_path / "in.fa"), "-o", str(tmp_path / "p.tsv"),
                              "--batch-size", "7"])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert out["id"].tolist() == table["id"].tolist() and list(out.columns) == ["id", "expression"]
    assert np.corrcoef(out["expression"], table["expression"])[0, 1] > 0.5
    # bad input: named file and record, exit code 1, no output file
    table.loc[3, "sequence"] = "ACGT!" + table.loc[3, "sequence"][5:]
    table[["id", "sequence"]].to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    res = runner.invoke(app, ["predict", str(run / "model"), str(tmp_path / "bad.tsv"), "-o", str(tmp_path / "b.tsv"),
                              "--id-column", "id"])
    assert res.exit_code == 2 and "bad.tsv" in res.output and not (tmp_path / "b.tsv").exists()


def test_evaluate_command(trained, tmp_path):
    d, run = trained
    res = runner.invoke(app, ["evaluate", str(run / "model"), str(d / "data.tsv"), "--id-column", "id",
                              "--group-column", "subset", "-o", str(tmp_path / "ev"), "--n-boot", "100"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["n"] == 500 and set(m["eval"]["groups"]["subset"]) == {"GCN4+", "GCN4-"}
    assert m["eval"]["overall"]["pearson_r"] > 0.6 and "pearson_r" in res.output
    assert (tmp_path / "ev" / "scatter_eval.png").is_file() and (tmp_path / "ev" / "predictions.tsv").is_file()
    # the same numbers as scoring the predictions directly (whole table, no transform configured)
    pred = pd.read_csv(tmp_path / "ev" / "predictions.tsv", sep="\t")
    assert np.corrcoef(pred["target"], pred["prediction"])[0, 1] == pytest.approx(m["eval"]["overall"]["pearson_r"],
                                                                                  abs=1e-4)
    res = runner.invoke(app, ["evaluate", str(run / "model"), str(d / "data.tsv"), "--target-column", "nope"])
    assert res.exit_code == 2 and "nope" in res.output
    # FASTA + a values table joined by ID: the same predictions as from the table
    table = pd.read_csv(d / "data.tsv", sep="\t").iloc[:40]
    (tmp_path / "in.fa").write_text("".join(f">{i} some description\n{s}\n" for i, s in zip(table["id"],
                                                                                           table["sequence"],
                                                                                           strict=True)))
    table[["id", "expression", "subset"]].iloc[::-1].to_csv(tmp_path / "values.csv", index=False)
    res = runner.invoke(app, ["evaluate", str(run / "model"), str(tmp_path / "in.fa"), "--values",
                              str(tmp_path / "values.csv"), "-o", str(tmp_path / "ev_fa"), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    fa = json.loads((tmp_path / "ev_fa" / "metrics.json").read_text())
    assert fa["n"] == 40 and set(fa["eval"]["groups"]["subset"]) == set(table["subset"])
    fa_pred = pd.read_csv(tmp_path / "ev_fa" / "predictions.tsv", sep="\t")
    np.testing.assert_allclose(fa_pred["prediction"], pred["prediction"].iloc[:40], rtol=1e-5)
    np.testing.assert_allclose(fa_pred["target"], table["expression"], rtol=1e-5)


def test_input_columns_default_to_the_training_layout(trained, tmp_path):
    """A model trained on a table named its own way reads tables of that layout without column options."""
    import shutil

    d, run = trained
    model = tmp_path / "model"
    shutil.copytree(run / "model", model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["data"].update(sequence_column="Seq", id_column="name")  # as if trained on such a table
    (model / "config.json").write_text(json.dumps(cfg))
    table = pd.read_csv(d / "data.tsv", sep="\t").iloc[:80]
    table.rename(columns={"id": "name", "sequence": "Seq"}).to_csv(tmp_path / "own.tsv", sep="\t", index=False)
    table.to_csv(tmp_path / "plain.tsv", sep="\t", index=False)
    res = runner.invoke(app, ["predict", str(model), str(tmp_path / "own.tsv"), "-o", str(tmp_path / "own.out")])
    assert res.exit_code == 0, res.output
    own = pd.read_csv(tmp_path / "own.out", sep="\t")
    assert own["id"].tolist() == table["id"].tolist()  # the trained ID column, present in this table
    # a table without the trained columns: 'sequence', and its 'id' column (row numbers only without one)
    res = runner.invoke(app, ["predict", str(model), str(tmp_path / "plain.tsv"), "-o", str(tmp_path / "plain.out")])
    assert res.exit_code == 0, res.output
    plain = pd.read_csv(tmp_path / "plain.out", sep="\t")
    assert plain["id"].tolist() == table["id"].tolist()
    np.testing.assert_allclose(plain["expression"], own["expression"], rtol=1e-6)
    table.drop(columns="id").to_csv(tmp_path / "bare.tsv", sep="\t", index=False)
    res = runner.invoke(app, ["predict", str(model), str(tmp_path / "bare.tsv"), "-o", str(tmp_path / "bare.out")])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "bare.out", sep="\t")["id"].tolist() == list(range(80))
    # evaluate: same columns, and metrics per the training run's group column (subset) by default
    res = runner.invoke(app, ["evaluate", str(model), str(tmp_path / "own.tsv"), "-o", str(tmp_path / "ev"),
                              "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["n"] == 80 and set(m["eval"]["groups"]["subset"]) == set(table["subset"])
    assert pd.read_csv(tmp_path / "ev" / "predictions.tsv", sep="\t")["id"].tolist() == table["id"].tolist()


def test_registry_dataset_input(trained, tmp_path, request):
    """``NAME:SUBSET`` inputs: a registry subset, or rows of a ``split`` column; membership groups scored."""
    from seq2expr.data import registry
    from seq2expr.data.records import Records

    d, run = trained
    table = pd.read_csv(d / "data.tsv", sep="\t")
    split = np.where(np.arange(len(table)) % 4 == 0, "test", np.where(np.arange(len(table)) % 4 == 1, "valid",
                                                                      "train"))
    records = Records(ids=table["id"].to_numpy(), sequences=table["sequence"].tolist(),
                      targets=table[["expression"]].to_numpy(np.float32), target_names=["expression"],
                      groups={"split": split, "subset_gcn4": (table["subset"] == "GCN4+").to_numpy(),
                              "other_model": table["expression"].to_numpy(np.float32)}, source="toy")
    entry = registry.DatasetEntry(name="toycli", description="toy", citation="", licence="MIT", files=(),
                                  loader=lambda paths: records, subsets={"test": lambda r: r.groups["split"] == "test"})
    request.addfinalizer(lambda: registry.DATASETS.remove("toycli"))
    registry.register_dataset(entry)
    assert parse_dataset_spec("toycli:test") == "toycli:test" and parse_dataset_spec("nodata:test") is None

    res = runner.invoke(app, ["evaluate", str(run / "model"), "toycli:test", "-o", str(tmp_path / "ev"),
                              "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["n"] == int((split == "test").sum()) and m["test"]["overall"]["n"] == m["n"]
    # boolean membership -> only members scored; float columns are not groups; single-valued split dropped
    assert list(m["test"]["groups"]) == ["subset_gcn4"] and list(m["test"]["groups"]["subset_gcn4"]) == ["True"]
    assert m["test"]["groups"]["subset_gcn4"]["True"]["n"] == int(((split == "test") & records.groups["subset_gcn4"])
                                                                  .sum())
    res = runner.invoke(app, ["predict", str(run / "model"), "toycli:valid", "-o", str(tmp_path / "v.tsv")])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "v.tsv", sep="\t")["id"].tolist() == table["id"][split == "valid"].tolist()
    res = runner.invoke(app, ["predict", str(run / "model"), "toycli:nosuch", "-o", str(tmp_path / "x.tsv")])
    assert res.exit_code == 2 and "nosuch" in res.output


def test_dataset_spec_parsing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_dataset_spec("dream2022:test") == "dream2022:test"
    assert parse_dataset_spec("dream2022") == "dream2022"
    assert parse_dataset_spec("data.tsv") is None
    (tmp_path / "dream2022:test").write_text("x")  # an existing file wins over the registry name
    assert parse_dataset_spec("dream2022:test") is None


def test_predict_parquet_tsv_agree_and_bad_input(trained, tmp_path):
    """The same sequences as parquet and TSV give the same predictions; missing columns fail clearly."""
    d, run = trained
    table = pd.read_csv(d / "data.tsv", sep="\t").iloc[:40][["id", "sequence"]]
    table.to_parquet(tmp_path / "in.parquet", index=False)
    table.to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    outs = []
    for name in ("in.parquet", "in.tsv"):
        res = runner.invoke(app, ["predict", str(run / "model"), str(tmp_path / name), "-o",
                                  str(tmp_path / f"{name}.out"), "--id-column", "id", "--chunk-size", "16",
                                  "--batch-size", "5"])
        assert res.exit_code == 0, res.output
        outs.append(pd.read_csv(tmp_path / f"{name}.out", sep="\t"))
    assert outs[0]["id"].tolist() == table["id"].tolist()
    pd.testing.assert_frame_equal(outs[0], outs[1])
    for name, args in (("in.parquet", ["--sequence-column", "seq"]), ("in.tsv", ["--id-column", "name"])):
        res = runner.invoke(app, ["predict", str(run / "model"), str(tmp_path / name), "-o", str(tmp_path / "x.tsv"),
                                  *args])
        assert res.exit_code == 2 and name in res.output and "missing" in res.output, res.output
        assert not (tmp_path / "x.tsv").exists()
    short = table.assign(sequence=table["sequence"].str[:30])  # the model takes 50 bp
    short.to_csv(tmp_path / "short.tsv", sep="\t", index=False)
    res = runner.invoke(app, ["predict", str(run / "model"), str(tmp_path / "short.tsv"), "-o",
                              str(tmp_path / "s.tsv")])
    assert res.exit_code == 2 and "short.tsv" in res.output and "50 bp" in res.output, res.output


def test_training_terminal_output_carries_no_lightning_chatter(trained, tmp_path):
    """A real ``seq2expr train`` process: ``--silent --quiet`` writes nothing to stderr; by default stderr holds
    only the package's own log lines, none of Lightning's (accelerator, AMP, tips, model summary, fit stopped)."""
    import subprocess
    import sys

    d, _ = trained
    cfg = yaml.safe_load((d / "run.yaml").read_text())
    cfg["train"]["epochs"] = 1
    chatter = ("GPU available", "TPU available", "litlogger", "Tip:", "Automatic Mixed Precision", "Total FLOPs",
               "model summary", "Trainer.fit", "stepping batches", "Warning", "warn(")
    for flags, name in (([], "default"), (["--silent"], "silent")):
        cfg["output_dir"] = str(tmp_path / name)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        args = [*flags, "train", str(tmp_path / f"{name}.yaml")] + (["--quiet"] if flags else [])
        res = subprocess.run([sys.executable, "-m", "seq2expr", *args], capture_output=True, text=True,
                             env={**__import__("os").environ, "SEQ2EXPR_NATIVE_BF16": "1"})  # bf16: its warning too
        assert res.returncode == 0, res.stderr
        assert (tmp_path / name / "model" / "config.json").is_file()
        said = [c for c in (*chatter, "Total params", "Params") if c in res.stderr + res.stdout]
        assert not said, (name, said, res.stderr, res.stdout)
        if flags:
            assert res.stderr.strip() == "", res.stderr
        else:
            assert "precision auto -> bf16" in res.stderr  # the package's own lines are kept
            assert "parameters; " in res.stderr


@pytest.mark.parametrize(("args", "needles"), [
    (["predicx"], ["seq2expr:", "No such command 'predicx'", "Did you mean 'predict'"]),
    (["predict", "--nope"], ["seq2expr predict:", "No such option: --nope"]),
    (["predict"], ["seq2expr predict:", "Missing argument"]),
    (["predict", "no_such_folder", "x.tsv", "-o", "p.tsv"], ["'no_such_folder' does not exist"]),
    (["predict", "{model}", "x.tsv", "-o", "p.tsv", "--batch-size", "many"], ["'--batch-size'", "integer"]),
    (["variants", "{model}", "x.vcf", "-o", "o", "--mode", "up"], ["'--mode'", "'up' is not one of auto, gene"]),
    (["variants", "{model}", "x.vcf", "-o", "o", "--format", "csv"], ["'--format'", "not one of tsv, parquet"]),
    (["design", "{model}", "-o", "o", "--method", "bogus"], ["'--method'", ", ".join(DESIGN_METHODS)]),
    (["design", "{model}", "-o", "o", "--objective", "target:high"], ["'--objective'", "give the value to reach"]),
    (["design", "{model}", "-o", "o", "--attributions", "grad"], ["'--attributions'",
                                                            ", ".join(LOGO_METHODS)]),
    (["interpret", "{model}", "x.tsv", "-o", "o", "--method", "shap"], ["seq2expr interpret:", "'shap'"]),
])
def test_usage_errors_are_one_line(trained, tmp_path, monkeypatch, one_line_error, args, needles):
    """The framework's usage errors (unknown command or option, a missing argument, a value of the wrong type or
    outside an option's choices) end like every user error: one ``error:`` line naming the command, exit 2, and
    nothing written."""
    monkeypatch.chdir(tmp_path)
    d, _ = trained
    res = runner.invoke(app, [a.replace("{model}", str(d / "model")) for a in args], prog_name="seq2expr")
    line = one_line_error(res, *needles)
    assert line.endswith("--help')"), line
    assert list(tmp_path.iterdir()) == []


def test_cli_choices_are_the_registered_methods():
    """``interpret --method``, ``design``/``variants --attributions`` and ``design --method`` offer exactly what the
    registries hold (read from the modules' names without importing them), logos also none."""
    from seq2expr.cli.common import DESIGN_METHODS, INTERPRET_METHODS
    from seq2expr.design.algorithms import ALGORITHMS
    from seq2expr.interpret.methods import ATTRIBUTIONS

    assert list(INTERPRET_METHODS) == ATTRIBUTIONS.names() and "integrated_gradients" in INTERPRET_METHODS
    assert set(LOGO_METHODS) == {*ATTRIBUTIONS.names(), "none"}
    assert list(DESIGN_METHODS) == ALGORITHMS.names() and {"greedy", "ledidi"} <= set(DESIGN_METHODS)


def test_a_bare_group_still_shows_its_help():
    res = runner.invoke(app, ["data"])
    assert "genes-combine" in res.output and "error:" not in res.output
