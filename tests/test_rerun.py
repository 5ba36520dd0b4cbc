"""A run folder never describes a run that did not happen: a re-run with other settings is refused with the
differences listed (``--force`` trains again from scratch), and a run that fails leaves the folder byte for byte as
it was, ``--force`` included."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.data.synthetic import make_synthetic
from seq2expr.inference import read_config

runner = CliRunner()
MOTIFS = [{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0}]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (its lock file aside) with the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".seq2expr.lock"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """A finished 2-epoch run of a small cnn, and its config file."""
    d = tmp_path_factory.mktemp("rerun")
    table, _ = make_synthetic(n=400, length=60, seed=0, motifs=MOTIFS, interaction=None, noise_sd=0.3)
    table.to_csv(d / "data.tsv", sep="\t", index=False)
    cfg = {"data": {"path": str(d / "data.tsv"), "id_column": "id", "split": {"method": "random"}},
           "model": {"name": "cnn", "params": {"channels": [16], "kernel_sizes": 11, "pool_sizes": [50],
                                               "convs_per_block": 1, "hidden": [8]}},
           "train": {"epochs": 2, "threads": 1, "early_stopping_patience": None}, "output_dir": str(d / "run")}
    (d / "my.yaml").write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["--silent", "train", str(d / "my.yaml"), "--quiet"])
    assert res.exit_code == 0, res.output
    return d / "run", d / "my.yaml"


def test_a_rerun_with_other_settings_is_refused_and_changes_nothing(finished, one_line_error):
    run, cfg = finished
    before = _snapshot(run)
    err = one_line_error(runner.invoke(app, ["--silent", "train", str(cfg), "--set", "train.epochs=3", "--set",
                                             "train.lr=0.05"]),
                         "holds a run trained with other settings", "train.epochs: 2 -> 3", "train.lr: 0.003 -> 0.05",
                         "--force")
    assert "threads" not in err
    # a config error (sizes that build no model) after the data were read: the folder as it was, byte for byte
    one_line_error(runner.invoke(app, ["--silent", "train", str(cfg), "--set", "model.params.pool_sizes=[5, 5, 5]"]))
    one_line_error(runner.invoke(app, ["--silent", "train", str(cfg), "--force", "--set",
                                       "model.params.pool_sizes=[5, 5, 5]"]), "pool_sizes")
    assert _snapshot(run) == before
    # the same settings (and other threads) reload the finished run: its model and config stay what they were
    res = runner.invoke(app, ["--silent", "train", str(cfg), "--quiet", "--set", "train.threads=2"])
    assert res.exit_code == 0, res.output
    assert read_config(run / "model").train.epochs == 2
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 2


def test_force_trains_again_with_the_new_settings(finished, tmp_path):
    run, cfg = finished
    copy = tmp_path / "run"
    import shutil

    shutil.copytree(run, copy)
    res = runner.invoke(app, ["--silent", "train", str(cfg), "--quiet", "--force", "--set", "train.epochs=3",
                              "--set", f"output_dir={copy}"])
    assert res.exit_code == 0, res.output
    saved = read_config(copy / "model")
    assert saved.train.epochs == 3 and saved.fit.members[0]["epochs_trained"] == 3
    assert json.loads((copy / "metrics.json").read_text())["fit"][0]["epochs_planned"] == 3
    assert not (copy / ".previous-run").exists()


def test_evaluate_counts_and_can_exclude_the_training_sequences(finished, tmp_path):
    """A trained model records (hashes of) the sequences it was fitted or selected on; evaluating it on its own
    training table counts them, either strand, and ``exclude_training`` scores only the others (its test rows)."""
    import pandas as pd

    from seq2expr.data.sequences import reverse_complement
    from seq2expr.evaluation import evaluate

    run, cfg = finished
    table = pd.read_csv(Path(yaml.safe_load(cfg.read_text())["data"]["path"]), sep="\t")
    metrics = json.loads((run / "metrics.json").read_text())
    n_test = metrics["n"]["test"]
    flipped = table.assign(sequence=table["sequence"].map(reverse_complement))
    flipped.to_csv(tmp_path / "rc.tsv", sep="\t", index=False)
    for data in (Path(yaml.safe_load(cfg.read_text())["data"]["path"]), tmp_path / "rc.tsv"):
        report = evaluate(run / "model", data, id_column="id")
        assert report["seen_in_training"] == {"recorded": True, "n": len(table) - n_test, "of": len(table),
                                              "excluded": False}
    held = evaluate(run / "model", tmp_path / "rc.tsv", id_column="id", exclude_training=True)
    assert held["eval"]["overall"]["n"] == n_test and held["seen_in_training"]["excluded"]
    res = runner.invoke(app, ["evaluate", str(run / "model"), str(tmp_path / "rc.tsv"), "--id-column", "id"],
                        env={"COLUMNS": "200"})
    assert res.exit_code == 0 and f"{len(table) - n_test} of {len(table)} sequences were among" in res.output
