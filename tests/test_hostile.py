"""Hostile input (issue 36): every bad file, path or option ends in one line naming the user's path and the problem,
exit 2, no traceback, and nothing left behind. Tiny untrained models; nothing here trains but the one --dedupe run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.config import DataConfig
from seq2expr.data.prepare import load_records
from seq2expr.data.sequences import reverse_complement
from seq2expr.inference import ModelSpec, SavedModelConfig, save_model
from seq2expr.models import build_model

runner = CliRunner()
PARAMS = {"channels": [8], "kernel_sizes": 11, "pool_sizes": [50], "convs_per_block": 1, "dropout": 0.0,
          "hidden": [8], "head_dropout": 0.0}
L = 50


def _save(path: Path, **config) -> Path:
    torch.manual_seed(0)
    save_model(path, build_model("cnn", seq_len=L, n_targets=1, **PARAMS),
               SavedModelConfig(model=ModelSpec(name="cnn", params=PARAMS, seq_len=L, n_targets=1), **config))
    return path


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), L)) for _ in range(60)]
    table = pd.DataFrame({"id": [f"s{i}" for i in range(60)], "sequence": seqs, "expression": rng.normal(size=60)})
    table.to_csv(d / "t.tsv", sep="\t", index=False)
    return {"dir": d, "table": table, "tsv": d / "t.tsv", "model": _save(d / "model")}


def _config(path: Path, data: dict, out: Path, **top) -> Path:
    path.write_text(yaml.safe_dump({"data": {"split": {"method": "random"}, **data},
                                    "model": {"name": "cnn", "params": PARAMS},
                                    "train": {"epochs": 1, "threads": 1, "precise_bn": 0},
                                    "output_dir": str(out), **top}))
    return path


def _invoke(args: list) -> object:
    return runner.invoke(app, [str(a) for a in args], prog_name="seq2expr")


def _nothing_new(folder: Path, before: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == before, sorted(p.name for p in folder.iterdir())


def test_symlink_loop_is_one_line(kit, tmp_path, one_line_error):
    (tmp_path / "a.tsv").symlink_to(tmp_path / "b.tsv")
    (tmp_path / "b.tsv").symlink_to(tmp_path / "a.tsv")
    for args in (["predict", kit["model"], tmp_path / "a.tsv", "-o", tmp_path / "out.tsv"],
                 ["evaluate", kit["model"], tmp_path / "a.tsv"],
                 ["interpret", kit["model"], tmp_path / "a.tsv", "-o", tmp_path / "report"]):
        one_line_error(_invoke(args), f"{tmp_path / 'a.tsv'}:", "symlink loop")
    _nothing_new(tmp_path, {"a.tsv", "b.tsv"})


def test_empty_config_names_it_and_leaves_no_runs_folder(kit, tmp_path, monkeypatch, one_line_error):
    monkeypatch.chdir(tmp_path)
    Path("empty.yaml").write_text("# nothing yet\n")
    one_line_error(_invoke(["train", "empty.yaml"]), "empty.yaml:", "empty config")
    _nothing_new(tmp_path, {"empty.yaml"})
    # a config that fails on its data leaves none of the folders it made (runs/ of runs/x/y)
    _config(Path("miss.yaml"), {"path": "nope.tsv"}, Path("runs/x/y"))
    one_line_error(_invoke(["train", "miss.yaml"]), "nope.tsv", "not found")
    _nothing_new(tmp_path, {"empty.yaml", "miss.yaml"})
    _config(Path("nodata.yaml"), {}, Path("runs/x"))
    one_line_error(_invoke(["train", "nodata.yaml"]), "nodata.yaml:", "no data")
    _nothing_new(tmp_path, {"empty.yaml", "miss.yaml", "nodata.yaml"})


def test_a_folder_is_said_to_be_a_folder(kit, tmp_path, one_line_error):
    (tmp_path / "inputs").mkdir()
    for args in (["predict", kit["model"], tmp_path / "inputs", "-o", tmp_path / "out.tsv"],
                 ["evaluate", kit["model"], tmp_path / "inputs"],
                 ["train", tmp_path / "inputs"]):
        line = one_line_error(_invoke(args), f"{tmp_path / 'inputs'}:", "is a folder")
        assert "no suffix" not in line and "no such config" not in line
    _nothing_new(tmp_path, {"inputs"})


def test_malformed_tables_name_the_file_in_every_command(kit, tmp_path, one_line_error):
    lines = kit["tsv"].read_text().splitlines()
    (tmp_path / "rag.tsv").write_text("\n".join([*lines[:6], lines[6] + "\textra", *lines[7:]]) + "\n")
    (tmp_path / "quote.tsv").write_text("\n".join([*lines[:6], lines[6].replace("\t", '\t"', 1), *lines[7:]]) + "\n")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1" + os.urandom(200))
    cases = [("rag.tsv", ["line 7", "4 fields", "header has 3"]), ("quote.tsv", ["line 7", "quote"]),
             ("bad.parquet", ["not a parquet file, or a damaged one"])]
    for name, needles in cases:
        path = tmp_path / name
        for args in (["predict", kit["model"], path, "-o", tmp_path / "out.tsv"], ["evaluate", kit["model"], path],
                     ["train", _config(tmp_path / "run.yaml", {"path": str(path), "id_column": "id"},
                                       tmp_path / "run")]):
            line = one_line_error(_invoke(args), f"{path}:", *needles)
            assert "Error tokenizing" not in line and "magic bytes not found in footer." not in line
    _nothing_new(tmp_path, {"rag.tsv", "quote.tsv", "bad.parquet", "run.yaml"})


def test_unwritable_output_names_the_users_path(kit, tmp_path, monkeypatch, one_line_error):
    """A folder the user may not write in (root ignores file modes, so the denial is simulated where the
    temporary is made): the message names OUT, never the hidden temporary beside it."""
    out = tmp_path / "out.tsv"

    def denied(*a, dir=None, prefix="", **k):
        raise PermissionError(13, "Permission denied", os.path.join(dir, f"{prefix}wgkj27n2"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    line = one_line_error(_invoke(["predict", kit["model"], kit["tsv"], "-o", out]), f"{out}: permission denied")
    assert ".out.tsv." not in line
    _nothing_new(tmp_path, set())


@pytest.mark.parametrize(("args", "needles"), [
    (["--require", "ACGT" * 13], ["required motif", "52 bp", "longer than the 50-bp sequence"]),
    (["--require", "GAATTC", "--forbid", "EcoRI"], ["required motif GAATTC", "EcoRI", "--forbid"]),
    (["--require", "AGGGGGT", "--max-homopolymer", "3"], ["required motif AGGGGGT", "--max-homopolymer 3"]),
    (["--protect", "40-10"], ["protected range 40-10 is reversed", "10-40"]),
    (["--start", "nope.fa"], ["nope.fa:", "not found", "--start-seq"]),
    (["--start", "{dir}"], ["is a folder"]),
    (["--objective", "maxx"], ["'maxx'", "max|min|target:V|diff:T"]),
])
def test_design_conflicts_are_named_up_front(kit, tmp_path, monkeypatch, one_line_error, args, needles):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    args = [a.replace("{dir}", str(tmp_path / "d")) for a in args]
    line = one_line_error(_invoke(["design", kit["model"], "-o", "out", "--oracle", "none", *args]), *needles)
    assert "no random sequence" not in line and "target or difference" not in line
    _nothing_new(tmp_path, {"d"})


def test_design_start_seq_is_a_sequence(kit, tmp_path):
    seq = kit["table"]["sequence"][0]
    res = _invoke(["design", kit["model"], "-o", tmp_path / "out", "--oracle", "none", "--start-seq", seq,
                   "--rounds", "0", "--attributions", "none"])
    assert res.exit_code == 0, res.output
    designs = pd.read_csv(tmp_path / "out" / "designs.tsv", sep="\t")
    assert designs["sequence"].tolist() == [seq]


def test_config_typo_has_a_location(tmp_path, one_line_error):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("modle: {name: cnn}\n")
    line = one_line_error(_invoke(["train", cfg]), f"{cfg}: unknown top-level key 'modle'", "did you mean 'model'")
    assert ": :" not in line
    cfg.write_text("data: {pth: x.tsv}\n")
    one_line_error(_invoke(["train", cfg]), f"{cfg}: data: unknown key 'pth'", "did you mean 'path'")


def _split_files(kit, tmp_path: Path, shared: int) -> dict:
    """Train and test files; the first ``shared`` test rows repeat training sequences (the first reversed)."""
    t = kit["table"]
    test = t.iloc[40:].copy()
    copies = [reverse_complement(t["sequence"][0]), *t["sequence"][1:shared]][:shared]
    test.loc[test.index[:shared], "sequence"] = copies
    t.iloc[:40].to_csv(tmp_path / "train.tsv", sep="\t", index=False)
    test.to_csv(tmp_path / "test.tsv", sep="\t", index=False)
    return {"path": str(tmp_path / "train.tsv"), "test_path": str(tmp_path / "test.tsv")}


def test_split_files_sharing_ids_say_what_to_do(kit, tmp_path, one_line_error):
    files = _split_files(kit, tmp_path, 0)
    pd.read_csv(files["test_path"], sep="\t").assign(id=lambda d: [f"s{i}" for i in range(len(d))]).to_csv(
        files["test_path"], sep="\t", index=False)
    cfg = _config(tmp_path / "run.yaml", {**files, "id_column": "id"}, tmp_path / "run")
    one_line_error(_invoke(["train", cfg]), "IDs occur in more than one input file", "data.id_column: null",
                   "split column")
    _nothing_new(tmp_path, {"train.tsv", "test.tsv", "run.yaml"})


def test_test_sequences_in_the_training_file_are_refused_or_dropped(kit, tmp_path, one_line_error):
    files = _split_files(kit, tmp_path, 3)
    cfg = _config(tmp_path / "run.yaml", files, tmp_path / "run")
    one_line_error(_invoke(["train", cfg]), f"{files['test_path']}:", "3 sequence(s)", files["path"],
                   "data.dedupe: true", "--dedupe")
    _nothing_new(tmp_path, {"train.tsv", "test.tsv", "run.yaml"})
    records, role = load_records(DataConfig(**files, dedupe=True))
    assert (role == "test").sum() == 20 and (role == "").sum() == 37
    train = set(np.asarray(records.sequences)[role == ""])
    assert not train & {s for seq in records.sequences[-20:] for s in (seq, reverse_complement(seq))}
    res = _invoke(["train", cfg, "--dedupe", "--quiet"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "model" / "config.json").is_file()


def test_metrics_table_labels_the_model_scale_rows(capsys):
    from seq2expr.cli.common import print_metrics

    overall = {"pearson_r": 0.5, "mse": 1.0, "mae": 0.8, "n": 6}
    report = {"test": {"overall": overall, "scale": "original scale",
                       "model_scale": {"scale": "z-scored", "overall": {**overall, "mse": 2.0}}}}
    print_metrics(report, ["test"], "run")
    rows = [line.split("│")[1].strip() for line in capsys.readouterr().out.splitlines() if line.count("│") >= 2]
    assert rows.count("mse") == 1 and rows.count("mae") == 1, rows
    assert "mse (model scale)" in rows and "mae (model scale)" in rows, rows


def test_predict_names_zoo_outputs_after_the_card(kit, tmp_path):
    from seq2expr.zoo.catalogue import get_card

    card = get_card("yeast-log-tpm")
    model = _save(tmp_path / "zoo_copy", target_names=["true_expr"], card=card)
    res = _invoke(["predict", model, kit["tsv"], "-o", tmp_path / "out.tsv"])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "out.tsv", sep="\t").columns.tolist() == ["id", card.targets[0].name]


def test_a_killed_predict_leaves_a_temporary_that_the_next_command_sweeps(kit, seq2expr_command, tmp_path):
    """``predict`` SIGKILLed with part of its output written leaves ``.out.tsv.XXXXXXXX``; the next command of any
    kind (here ``configs list``, writing nothing near it) removes it through the registry of temporaries."""
    import signal
    import subprocess

    from seq2expr.atomic import registry

    big = pd.concat([kit["table"]] * 5, ignore_index=True).assign(id=lambda d: [f"r{i}" for i in range(len(d))])
    big.to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    out = tmp_path / "out" / "out.tsv"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "SEQ2EXPR_FAULT": "chunk"}
    killed = subprocess.run([*seq2expr_command, "predict", str(kit["model"]), str(tmp_path / "in.tsv"), "-o", str(out),
                             "--chunk-size", "50"], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = list(out.parent.glob(".out.tsv.*"))
    assert len(left) == 1 and not out.exists()
    assert any(e.read_text().endswith(f"\n{left[0]}") for e in registry().iterdir())
    res = runner.invoke(app, ["configs", "list"])
    assert res.exit_code == 0, res.output
    assert list(out.parent.iterdir()) == []
    assert not any(e.read_text().endswith(f"\n{left[0]}") for e in registry().iterdir())
