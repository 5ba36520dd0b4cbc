"""Every extension point works one way: each registered item is documented and named by a test, the docs tables are
generated from the registries, a registry's package finds its own modules, and another installed package adds a
model and a data set through entry points."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seq2expr.extensions import POINTS, describe, origin, render, rows
from seq2expr.plugins import PluginError, Registry, module_names

REPO = Path(__file__).resolve().parents[1]
IDS = [p.kind for p in POINTS]


@functools.cache
def _tests_text() -> str:
    return "\n".join(p.read_text() for p in sorted((REPO / "tests").glob("*.py")) if p.name != Path(__file__).name)


@pytest.mark.parametrize("point", POINTS, ids=IDS)
def test_every_registered_item_is_described_and_named_by_a_test(point):
    """A registered item without a description (its docstring, or a data set's description), or that no test
    names, fails here."""
    corpus = _tests_text()
    for name, obj in point.registry.items():
        if origin(obj) != "built-in":
            continue
        assert describe(obj, name), f"{point.kind} {name!r} has no docstring"
        assert re.search(rf"[\"']{re.escape(name)}[\"':]", corpus), f"{point.kind} {name!r}: no test names it"


@pytest.mark.parametrize("doc", ["docs/DEVELOPING.md", "docs/extending.md"])
def test_docs_tables_are_generated_from_the_registries(doc):
    """The "to add X" table and the catalogue are what ``python -m seq2expr.extensions`` writes."""
    text = (REPO / doc).read_text()
    assert "<!-- extension-points:begin -->" in text
    assert render(text) == text, f"{doc} is stale: run python -m seq2expr.extensions {doc}"


@pytest.mark.parametrize("point", POINTS, ids=IDS)
def test_each_item_lives_where_the_table_says(point):
    """Built-in items come from modules in the folder the table names; where the CLI reads the choices off the file
    names, the registered names are exactly the modules' names."""
    folder, _, _ = point.new_file.partition(" ")[0].rpartition("/")
    package = folder.replace("/", ".")
    built_in = {name: obj for name, obj in point.registry.items() if origin(obj) == "built-in"}
    for name, obj in built_in.items():
        module = getattr(obj, "__module__", None) or type(obj).__module__
        if hasattr(obj, "loader"):
            module = obj.loader.__module__
        assert module.startswith(package + "."), (point.kind, name, module)
    if point.named_by_file:
        assert sorted(built_in) == module_names(package)


def test_plugins_command_lists_every_kind(tmp_path):
    from typer.testing import CliRunner

    from seq2expr.cli.main import app

    res = CliRunner().invoke(app, ["plugins", "--tsv"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].split("\t") == ["kind", "name", "origin", "description"]
    assert len(lines) - 1 == len(rows()) and {"model\tdeepstarr", "data set\tdealmeida2022_sample",
                                                "attribution method\tintegrated_gradients",
                                                "design method\tledidi"} <= {"\t".join(x.split("\t")[:2])
                                                                            for x in lines[1:]}


def test_unknown_names_and_twice_registered_names_are_one_line():
    reg: Registry[int] = Registry("widget", "seq2expr.test_widgets")
    reg.add("spanner", 1)
    with pytest.raises(PluginError, match="registered twice"):
        reg.add("spanner", 2)
    with pytest.raises(PluginError, match=r"unknown widget 'spaner'; did you mean 'spanner'\? \(known: spanner\)"):
        reg.get("spaner")
    with reg.temporary("hammer", 3):
        assert reg.names() == ["hammer", "spanner"]
    assert reg.names() == ["spanner"]


PLUGIN_MODEL = '''
from torch import nn
from seq2expr.models import register


@register("plugin_tiny")
class PluginTiny(nn.Module):
    """One convolution, max over positions, a linear head."""

    head_modules = ("head",)
    example = {"seq_len": 60, "n_targets": 1, "params": {"channels": 8}}

    def __init__(self, seq_len, n_targets=1, channels=16):
        super().__init__()
        self.conv = nn.Conv1d(4, channels, 7, padding=3)
        self.head = nn.Linear(channels, n_targets)

    def forward(self, x):
        return self.head(self.conv(x).relu().mean(-1))
'''

PLUGIN_DATA = '''
from pathlib import Path
import numpy as np
from seq2expr.data.records import Records
from seq2expr.data.remote import DatasetEntry, register_dataset

HERE = Path(__file__).parent


def _load(paths):
    rows = [line.split() for line in (HERE / "rows.txt").read_text().splitlines()]
    return Records(ids=np.array([f"r{i}" for i in range(len(rows))]), sequences=[r[0] for r in rows],
                   targets=np.array([[float(r[1])] for r in rows], np.float32), target_names=["y"], groups={},
                   source=str(HERE))


register_dataset(DatasetEntry(name="plugin_set", description="Rows shipped with a plug-in package", citation="",
                              licence="MIT", files=(), loader=_load))
'''

CHECK = '''
import numpy as np, torch
from seq2expr.models import build_model, list_models
from seq2expr.data.registry import load_dataset
from seq2expr.data.sequences import encode, one_hot
from seq2expr.extensions import rows

assert "plugin_tiny" in list_models(), list_models()
records = load_dataset("plugin_set")
x, y = one_hot(encode(records.sequences)), torch.from_numpy(records.targets)
y = (y - y.mean()) / y.std()
torch.manual_seed(0)
model = build_model("plugin_tiny", seq_len=60, n_targets=1, channels=8)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(150):
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
r = float(np.corrcoef(model(x).detach()[:, 0].numpy(), y[:, 0].numpy())[0, 1])
origins = {(row["kind"], row["name"]): row["origin"] for row in rows()}
print(origins[("model", "plugin_tiny")], origins[("data set", "plugin_set")], f"{r:.2f}")
'''


@pytest.mark.slow
def test_a_package_adds_a_model_and_a_data_set_through_entry_points(tmp_path):
    """An installed distribution (here a folder on the path with its ``.dist-info``) declares a model module and a
    data-set module as entry points: both are found by name, the model trains on the data set's rows (a GC count),
    and ``seq2expr plugins`` names the package each came from."""
    pkg = tmp_path / "s2e_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tiny.py").write_text(textwrap.dedent(PLUGIN_MODEL))
    (pkg / "data.py").write_text(textwrap.dedent(PLUGIN_DATA))
    rng = __import__("numpy").random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(200)]
    (pkg / "rows.txt").write_text("".join(f"{s} {s.count('G') + s.count('C')}\n" for s in seqs))
    dist = tmp_path / "s2e_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: s2e-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[seq2expr.models]\nplugin_tiny = s2e_plugin.tiny\n\n"
                                           "[seq2expr.datasets]\nplugin_set = s2e_plugin.data\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    model_origin, data_origin, r = out.stdout.split()
    assert (model_origin, data_origin) == ("s2e_plugin.tiny", "s2e_plugin.data")
    assert float(r) > 0.8  # the plug-in model learned its plug-in data set's GC count
