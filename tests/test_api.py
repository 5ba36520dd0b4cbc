"""The public API (``import seq2expr as s2e``): the README's example runs as written, and an installed (not
editable) package ships its run configs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import seq2expr

REPO = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    """The first ```python block of the README's 'Python API' section."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_api_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["y"].shape == (500, 1) and np.isfinite(namespace["y"]).all()
    assert namespace["attr"].shape == namespace["hyp"].shape == (100, 4, 100)
    r = namespace["report"]["eval"]["overall"]["pearson_r"]
    assert r > 0.5, r  # learned the planted motifs: scored on sequences it never saw
    # the model folder reloads to the same predictions
    again = seq2expr.load_model(tmp_path / "api-demo" / "run" / "model")
    np.testing.assert_allclose(seq2expr.predict(again, namespace["seqs"]), namespace["y"], rtol=1e-6)


def test_public_names_resolve():
    for name in seq2expr.__all__:
        assert getattr(seq2expr, name) is not None, name
    with pytest.raises(AttributeError):
        seq2expr.no_such_verb  # noqa: B018


def test_every_public_name_is_in_the_api_reference():
    """A name added to ``seq2expr``'s public table must be added to the API reference's table too."""
    table = (Path(__file__).resolve().parents[1] / "docs" / "api" / "index.md").read_text()
    missing = [n for n in seq2expr.__all__ if n != "__version__" and not re.search(rf"`{re.escape(n)}[`(]", table)]
    assert not missing, f"docs/api/index.md lacks {missing}"


@pytest.mark.slow
def test_installed_package_lists_its_configs(tmp_path):
    """A wheel holds seq2expr/configs/*.yaml; installed outside the repository, `configs list/show` find them."""
    src, dist, target = tmp_path / "src", tmp_path / "dist", tmp_path / "site"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "seq2expr", src / "seq2expr", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(dist), str(src)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next(dist.glob("seq2expr-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"seq2expr/configs/dream2022.yaml", "seq2expr/configs/table.yaml",
            "seq2expr/templates/page.html.j2"} <= set(names)
    assert {f"seq2expr/templates/{t.name}" for t in (REPO / "seq2expr" / "templates").glob("*.j2")} <= set(names)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target), "COLUMNS": "200"}
    run = [sys.executable, "-c", "import sys; from seq2expr.cli.main import app; sys.argv[0] = 'seq2expr'; app()"]
    where = subprocess.run([sys.executable, "-c", "import seq2expr; print(seq2expr.__file__)"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target))  # the installed copy, not the repository
    listed = subprocess.run([*run, "configs", "list"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    for name in ("dream2022", "table", "yeast_genes"):
        assert name in listed.stdout
    shown = subprocess.run([*run, "configs", "show", "table"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert shown.returncode == 0 and shown.stdout == (REPO / "seq2expr" / "configs" / "table.yaml").read_text()
    page = subprocess.run([sys.executable, "-c", "from seq2expr.report_html import render; "
                                                 "print(render('page.html.j2', title='<x>'))"],
                          env=env, cwd=tmp_path, capture_output=True, text=True)
    assert page.returncode == 0 and "<style>" in page.stdout and "<title>&lt;x&gt;</title>" in page.stdout, page.stderr
    missing = subprocess.run([*run, "configs", "show", "nope"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.startswith("error: nope: no such config file")


def test_evaluate_takes_a_dataframe_as_its_table(tmp_path):
    """s2e.evaluate(model, df): the DataFrame is read as the same table's file would be; other objects are one
    TypeError naming what it takes (not an OSError from treating them as a path)."""
    import pandas as pd
    import torch

    from seq2expr.models import build_model

    params = {"channels": [4], "kernel_sizes": 3, "pool_sizes": [1], "hidden": [], "head_dropout": 0.0}
    torch.manual_seed(0)
    seq2expr.save_model(tmp_path / "m", build_model("cnn", seq_len=20, **params).eval(),
                        {"model": {"name": "cnn", "params": params, "seq_len": 20}, "target_names": ["expression"]})
    model = seq2expr.load_model(tmp_path / "m")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [f"s{i}" for i in range(40)],
                       "sequence": ["".join(rng.choice(list("ACGT"), 20)) for _ in range(40)],
                       "expression": rng.normal(size=40)})
    df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    from_frame = seq2expr.evaluate(model, df, n_boot=20)
    from_file = seq2expr.evaluate(model, tmp_path / "t.tsv", n_boot=20)
    assert from_frame["n"] == 40 and from_frame["source"] == "DataFrame"
    assert from_frame["eval"]["overall"] == pytest.approx(from_file["eval"]["overall"], rel=1e-5)
    with pytest.raises(TypeError, match="a pandas DataFrame"):
        seq2expr.evaluate(model, {"sequence": ["ACGT"]})
