"""The saved model's ``format_version``: older configs (no key: folders and zoo entries written before it) load
through ``migrate_config`` and predict exactly as the same weights with a current config; a newer one is refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.inference import FORMAT_VERSION, load_model, migrate_config, predict, read_config

LEGACY = Path(__file__).parent / "data" / "legacy_models"
ZOO = Path(__file__).resolve().parents[1] / "seq2expr" / "zoo" / "weights"


def test_migrate_config_brings_format_1_up_to_date_and_keeps_the_input():
    old = {"model": {"name": "cnn", "seq_len": 40}, "policy": {"pad": "left"}, "task": "regression",
           "rc_average": False, "train": {"epochs": 3}}
    new = migrate_config(old)
    assert new["format_version"] == FORMAT_VERSION and "format_version" not in old
    assert new["data"] == {"policy": {"pad": "left"}}
    assert new["train"] == {"epochs": 3, "task": "regression", "rc_average": False}
    assert migrate_config(new) == new  # the current format passes unchanged
    with pytest.raises(ValueError, match="whole number"):
        migrate_config({**new, "format_version": "two"})


@pytest.mark.parametrize("folder", [LEGACY / "single", LEGACY / "ensemble", ZOO / "dream2022-cnn"],
                         ids=["legacy-single", "legacy-ensemble", "zoo-dream2022-cnn"])
def test_an_old_config_predicts_exactly_as_the_current_format(folder, tmp_path):
    raw = json.loads((folder / "config.json").read_text())
    assert "format_version" not in raw  # written before the key
    pinned = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    seqs = ["ACGT" * 40, "TTGCA" * 30, "GATTACA" * 20]
    seqs = [s[: read_config(folder).seq_len] for s in seqs]
    before = predict(load_model(folder), seqs)
    current = tmp_path / "current"
    shutil.copytree(folder, current)
    (current / "config.json").write_text(read_config(folder).to_json())  # as a save writes it today
    assert json.loads((current / "config.json").read_text())["format_version"] == FORMAT_VERSION
    after = predict(load_model(current), seqs)
    assert before.dtype == np.float32 and np.abs(before - after).max() == 0
    assert hashlib.sha256((folder / "config.json").read_bytes()).hexdigest() == pinned  # never rewritten


def test_a_newer_format_is_refused_with_one_line(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(LEGACY / "single", model)
    raw = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**raw, "format_version": FORMAT_VERSION + 1}))
    (tmp_path / "in.tsv").write_text("id\tsequence\na\t" + "ACGT" * 10 + "\n")
    res = CliRunner().invoke(app, ["predict", str(model), str(tmp_path / "in.tsv"), "-o", str(tmp_path / "p.tsv")])
    assert res.exit_code == 2, res.output
    line = f"{model}: written by a newer seq2expr: format {FORMAT_VERSION + 1}, this one reads up to " \
           f"{FORMAT_VERSION}; upgrade seq2expr"
    assert line in " ".join(res.output.split()), res.output
    assert not (tmp_path / "p.tsv").exists()
