"""End to end on synthetic data with planted JASPAR motifs: train a small CNN, recover the motifs with
TF-MoDISco + Tomtom, measure their global importance, and write reports (regression, classification)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from seq2expr.data.io.motifs import write_meme
from seq2expr.data.sequences import encode, one_hot
from seq2expr.data.synthetic import MotifSpec, make_synthetic
from seq2expr.inference import save_model
from seq2expr.interpret import global_importance as gi
from seq2expr.interpret.modisco import run_modisco
from seq2expr.interpret.motifs import jaspar_motifs
from seq2expr.interpret.report import ReportOptions, write_report
from seq2expr.models.registry import build_model

L = 100
PARAMS = {"channels": 24, "kernel_size": 15}


class MotifScanner(torch.nn.Module):
    """Test model: one convolution (motif detectors), ReLU, global max pool, linear read-out."""

    def __init__(self, seq_len: int, n_targets: int = 1, channels: int = 24, kernel_size: int = 15):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, channels, kernel_size, padding=kernel_size // 2)
        self.act = torch.nn.ReLU()
        self.pool = torch.nn.AdaptiveMaxPool1d(1)
        self.head = torch.nn.Linear(channels, n_targets)

    head_modules = ("head",)

    def forward(self, x):
        return self.head(self.pool(self.act(self.conv(x))).flatten(1))


@pytest.fixture(scope="module", autouse=True)
def _scanner_registered():
    """The test architecture is registered only while this module runs, so other modules see the built-in list."""
    from seq2expr.models.registry import MODELS

    with MODELS.temporary("interp_test_scanner", MotifScanner):
        MotifScanner.registry_name = "interp_test_scanner"
        yield


def _train(x: torch.Tensor, y: torch.Tensor, loss_fn, epochs: int = 6, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("interp_test_scanner", seq_len=L, n_targets=1, **PARAMS)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 50):
            b = perm[i:i + 50]
            loss = loss_fn(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    table, truth = make_synthetic(n=3000, length=L, seed=1, interaction=None, p_present=0.5, noise_sd=0.2,
                                  position=(1.0, 1.0), motifs=[MotifSpec("REB1", "MA0363.3", 2.0),
                                                               MotifSpec("GCN4", "MA0303.3", -1.5)])
    x = one_hot(encode(table["sequence"].tolist()))
    y = torch.tensor(table["expression"].to_numpy(), dtype=torch.float32)[:, None]
    model = _train(x[:2500], y[:2500], torch.nn.functional.mse_loss)
    with torch.no_grad():
        r = np.corrcoef(model(x[2500:])[:, 0].numpy(), y[2500:, 0].numpy())[0, 1]
    root = tmp_path_factory.mktemp("models")
    save_model(root / "reg", model, {"model": {"name": "interp_test_scanner", "params": PARAMS, "seq_len": L,
                                               "n_targets": 1},
                                     "task": "regression", "target_names": ["expression"], "policy": {}})
    label = (y > y.median()).float()
    clf = _train(x[:2500], label[:2500], torch.nn.functional.binary_cross_entropy_with_logits, epochs=4)
    save_model(root / "clf", clf, {"model": {"name": "interp_test_scanner", "params": PARAMS, "seq_len": L,
                                             "n_targets": 1},
                                   "task": "classification", "target_names": ["high"], "policy": {}})
    table.iloc[2500:].to_csv(root / "test.tsv", sep="\t", index=False)
    return {"model": model, "x": x, "r": r, "root": root, "truth": truth}


@pytest.fixture(scope="module")
def reports(trained, tmp_path_factory):
    """Regression and classification reports (saliency; TF-MoDISco on 400 held-out sequences), written once."""
    root = tmp_path_factory.mktemp("reports")
    return {kind: write_report(trained["root"] / kind, trained["root"] / "test.tsv", root / f"report_{kind}",
                               ReportOptions(method="saliency", max_seqs=400, n_top=3, taxon="fungi", n_background=60))
            for kind in ("reg", "clf")}


def test_pipeline_recovers_planted_motifs(trained, reports):
    assert trained["r"] > 0.5  # the model learned the planted grammar
    out = reports["reg"].parent
    patterns = pd.read_csv(out / "patterns.tsv", sep="\t")
    assert len(patterns), "TF-MoDISco found nothing"
    matches = pd.read_csv(out / "motif_matches.tsv", sep="\t")
    top = matches[matches["rank"] <= 3]
    found = {(pat.split("_", 1)[0], tf.upper()) for pat, tf in zip(top["pattern"], top["tf"], strict=True)}
    assert ("pos", "REB1") in found  # the activator raises the prediction
    assert ("neg", "GCN4") in found and ("pos", "GCN4") not in found  # the repressor lowers it, never raises it


def test_global_importance_signs(trained):
    db = jaspar_motifs(taxon="fungi")
    reb1 = next(k for k in db if k.endswith("REB1"))
    gcn4 = next(k for k in db if k.endswith("GCN4"))
    bg = gi.backgrounds(trained["x"][:200].numpy(), n=100, seed=0)
    eff = gi.motif_effect(trained["model"], {reb1: db[reb1], gcn4: db[gcn4]}, bg, positions=[40, 70])
    mean = eff.groupby("motif")["effect"].mean()
    assert mean[reb1] > 0.5 and mean[gcn4] < -0.3
    pair = gi.pair_effect(trained["model"], db[reb1], db[gcn4], bg, spacings=[2, 10], names=("REB1", "GCN4"))
    assert len(pair) == 4 and (pair["effect_ab"] < pair["effect_a"]).all()  # the repressor pulls REB1 down


@pytest.mark.parametrize("kind", ["reg", "clf"])
def test_report_written(reports, kind):
    path = reports[kind]
    out = path.parent
    assert path == out / "report.html" and path.is_file()
    html = path.read_text()
    assert "Top-predicted sequences" in html and ("logit" in html) == (kind == "clf")
    data = np.load(out / "attributions.npz")
    assert data["attributions"].shape == (400, 4, L) and data["hypothetical"].shape == (400, 4, L)
    np.testing.assert_allclose(data["attributions"], data["hypothetical"] * data["onehot"], atol=1e-6)
    for f in ("motif_matches.tsv", "patterns.meme", "sites.tsv", "summary.json"):
        assert (out / f).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == ("classification" if kind == "clf" else "regression")
    if kind == "reg":
        assert "REB1" in summary["matched_tfs"]
    assert "Held-out accuracy: not recorded" in html and summary["held_out_accuracy"] is None
    patterns = pd.read_csv(out / "patterns.tsv", sep="\t", keep_default_na=False)
    assert {"core_width", "low_complexity"} <= set(patterns.columns)
    assert not any(patterns["low_complexity"])  # REB1 and GCN4 are no runs of one base
    assert not list(out.parent.glob(".report_*"))  # no temporary folder left behind


def test_cli_interpret(trained, tmp_path):
    from typer.testing import CliRunner

    from seq2expr.cli.main import app

    db = jaspar_motifs(taxon="fungi")
    own = write_meme({k: v for k, v in db.items() if k.split()[-1] == "REB1"}, tmp_path / "own.meme")
    own2 = write_meme({k: v for k, v in db.items() if k.split()[-1] == "GCN4"}, tmp_path / "own2.meme")
    out = tmp_path / "cli_report"
    table = pd.read_csv(trained["root"] / "test.tsv", sep="\t").rename(columns={"id": "name", "sequence": "Seq"})
    table.to_csv(tmp_path / "renamed.tsv", sep="\t", index=False)  # a table with its own column names
    res = CliRunner().invoke(app, ["interpret", str(trained["root"] / "reg"), str(tmp_path / "renamed.tsv"),
                                   "-o", str(out), "--method", "saliency", "--n", "60", "--threads", "1",
                                   "--motifs", str(own), "--motifs", str(own2), "--sequence-column", "Seq",
                                   "--id-column", "name"])
    assert res.exit_code == 0, res.output
    assert set(np.load(out / "attributions.npz")["ids"]) <= set(table["name"].astype(str))
    assert (out / "report.html").is_file() and "own.meme" in (out / "report.html").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_sequences"] == 60  # several MEME files, each named with its size, and no JASPAR
    assert summary["collections"] == [{"name": str(own), "n_matrices": 1}, {"name": str(own2), "n_matrices": 1}]
    assert set(summary["matched_tfs"]) <= {"REB1", "GCN4"}  # only the user's motifs can match
    bad = CliRunner().invoke(app, ["interpret", str(trained["root"] / "reg"), str(tmp_path / "missing.tsv"),
                                   "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "missing.tsv" in bad.output


def test_no_motif_gives_clear_message(caplog):
    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (30, L))].transpose(0, 2, 1).copy()
    hyp = rng.normal(0, 1e-3, x.shape).astype(np.float32)  # no structure: nothing to cluster
    with caplog.at_level("WARNING"):
        assert run_modisco(x, hyp) == []
    assert "no motif" in caplog.text.lower()
    from seq2expr.inference import SavedModelConfig
    from seq2expr.interpret.report import MotifResults, report_page

    cfg = SavedModelConfig(model={"name": "m", "seq_len": L}, target_names=["y"])
    mo = MotifResults([], pd.DataFrame(), pd.DataFrame(), {}, [{"name": "JASPAR2026 CORE fungi", "n_matrices": 193}],
                      pd.DataFrame())
    page = report_page(cfg, "y", "saliency", 30, [], [], pd.DataFrame(), [], mo, None)
    assert "No motif found" in page and "JASPAR2026 CORE fungi (193 matrices)" in page


def test_report_ranks_by_the_numbers_predict_writes(trained, tmp_path):
    """Top sequences are ranked by what `seq2expr predict` writes (original scale, strand-averaged), not by the
    network's forward-strand output."""
    import re
    import shutil

    from typer.testing import CliRunner

    from seq2expr.cli.main import app

    model = tmp_path / "reg"
    shutil.copytree(trained["root"] / "reg", model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["target_transform"] = {"kind": "log1p", "standardize": True, "mean": [1.0], "std": [2.0]}
    cfg["train"] = {"rc_average": True}
    (model / "config.json").write_text(json.dumps(cfg))
    report = write_report(model, trained["root"] / "test.tsv", tmp_path / "report",
                          ReportOptions(method="saliency", max_seqs=150, n_top=6, n_background=20, max_gi_motifs=0))
    res = CliRunner().invoke(app, ["predict", str(model), str(trained["root"] / "test.tsv"), "-o",
                                   str(tmp_path / "pred.tsv")])
    assert res.exit_code == 0, res.output
    written = pd.read_csv(tmp_path / "pred.tsv", sep="\t", dtype={"id": str}).set_index("id")["expression"]
    data = np.load(report.parent / "attributions.npz")
    ids = data["ids"].astype(str)
    np.testing.assert_allclose(data["predictions"][:, 0], written.loc[ids].to_numpy(), rtol=1e-5)
    top = re.findall(r"<p>(\S+) — predicted expression ([0-9.e+-]+) \(original scale\)", report.read_text())
    expected = written.loc[ids].sort_values(ascending=False, kind="stable").head(6)
    assert [t[0] for t in top] == list(expected.index)
    np.testing.assert_allclose([float(t[1]) for t in top], expected.to_numpy(), rtol=1e-3)
    raw = trained["model"](torch.from_numpy(data["onehot"].astype(np.float32)))[:, 0].detach().numpy()
    assert not np.allclose(np.expm1(raw * 2.0 + 1.0), data["predictions"][:, 0], rtol=1e-3)  # strands averaged


@pytest.fixture(scope="module")
def tata_model(tmp_path_factory):
    """A model of a TATA-planted set (TBP, MA0108.3, the strongest activator), saved with the run's
    interpretation default ``interpret.taxon: plants,vertebrates`` (as a plant model's config would say)."""
    torch.set_num_threads(1)
    table, _ = make_synthetic(n=3000, length=L, seed=2, interaction=None, p_present=0.5, noise_sd=0.2,
                              position=(1.0, 1.0), motifs=[MotifSpec("TBP", "MA0108.3", 2.0),
                                                           MotifSpec("REB1", "MA0363.3", 1.0)])
    x = one_hot(encode(table["sequence"].tolist()))
    y = torch.tensor(table["expression"].to_numpy(), dtype=torch.float32)[:, None]
    model = _train(x[:2500], y[:2500], torch.nn.functional.mse_loss)
    root = tmp_path_factory.mktemp("tata")
    save_model(root / "model", model, {"model": {"name": "interp_test_scanner", "params": PARAMS, "seq_len": L,
                                                 "n_targets": 1}, "task": "regression",
                                       "target_names": ["expression"], "interpret": {"taxon": "plants,vertebrates"}})
    table.iloc[2500:].to_csv(root / "test.tsv", sep="\t", index=False)
    return root


def test_multi_taxon_match_names_tbp(tata_model, tmp_path):
    """JASPAR CORE plants has no TBP matrix (TBP is MA0108.3 under vertebrates): the run's default taxa
    plants + vertebrates name the planted TATA box, and the report says which collections were searched."""
    from seq2expr.data.io.motifs import read_meme
    from seq2expr.interpret.motifs import match_motifs

    out = write_report(tata_model / "model", tata_model / "test.tsv", tmp_path / "rep",
                       ReportOptions(method="saliency", max_seqs=400, n_top=2, n_background=40)).parent
    # (no taxon: the run's interpret.taxon)
    summary = json.loads((out / "summary.json").read_text())
    assert "TBP" in summary["matched_tfs"], summary["matched_tfs"]
    names = [c["name"] for c in summary["collections"]]
    assert names == ["JASPAR2026 CORE plants", "JASPAR2026 CORE vertebrates"]
    counts = [c["n_matrices"] for c in summary["collections"]]
    assert summary["n_matrices"] == sum(counts) == len(jaspar_motifs(taxon="plants,vertebrates"))
    html = (out / "report.html").read_text()
    assert all(f"{n} ({c} matrices)" in html for n, c in zip(names, counts, strict=True))
    # every number says its scale: predictions as written by predict, effects on the network's output scale
    assert summary["prediction_scale"] == summary["effect_scale"] == "original scale"
    assert "Effects are changes of the prediction on the original scale" in html
    # the same patterns against plants alone: no TBP to name (the issue's "no significant match")
    plants = match_motifs(read_meme(out / "patterns.meme"), jaspar_motifs(taxon="plants"), n_top=5)
    assert not plants["tf"].str.upper().isin(["TBP", "SPT15"]).any()
    everything = jaspar_motifs(taxon="all")
    assert "MA0108.3 TBP" in everything and "MA0386.2 SPT15" in everything
    with pytest.raises(ValueError, match="martians"):
        jaspar_motifs(taxon="plants,martians")


_CACHE_PROBE = '''
import sys, threading
import numpy as np
from numba.core.dispatcher import Dispatcher
threading.Thread(target=threading.Event().wait, daemon=True).start()  # another thread, as in a notebook's kernel
from seq2expr.interpret.modisco import run_modisco
rng = np.random.default_rng(0)
idx = rng.integers(0, 4, (300, 60))
hyp = rng.normal(0, 0.01, (300, 4, 60)).astype(np.float32)
for i in range(0, 300, 2):  # a motif's contributions in every other sequence
    p = int(rng.integers(0, 53))
    for j, b in enumerate("TGACTCA"):
        idx[i, p + j] = "ACGT".index(b)
        hyp[i, "ACGT".index(b), p + j] = 1.0
run_modisco(np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy(), hyp)
print(sum(sum(d.stats.cache_hits.values()) for name, m in list(sys.modules.items()) if name.startswith("modiscolite")
          for d in vars(m).values() if isinstance(d, Dispatcher)))
'''


@pytest.mark.slow
def test_modisco_kernels_come_from_the_cache_with_other_threads_running():
    """A process running other threads (a notebook's kernel, a test worker) cannot fork modisco-lite's compile
    helpers, which alone turned numba's disk cache on: each such run compiled its kernels again (about 13 s).
    ``run_modisco`` turns the cache on, so the second of two such processes loads them compiled."""
    import subprocess
    import sys

    def probe() -> int:
        return int(subprocess.run([sys.executable, "-c", _CACHE_PROBE], capture_output=True, text=True,
                                  check=True).stdout.split()[-1])

    first = probe()  # 0 where no earlier run has filled the cache (a fresh install): that run fills it
    assert first > 0 or probe() > 0
