"""Importers of published checkpoints: each converted model gives the original implementation's outputs to 1e-5
(``tests/data/zoo``: LegNet, Camformer, Enformer; Borzoi built here, too large to store), and a checkpoint that
would run code when loaded is refused with one line."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.convert.checkpoint import read_checkpoint
from seq2expr.files import FileError
from seq2expr.inference import load_model, predict

FIX = Path(__file__).parent / "data" / "zoo"
runner = CliRunner()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind,folder", [("legnet-dream2022", "legnet_dream2022"),
                                         ("legnet-complex", "legnet_complex")])
def test_legnet_importer_matches_the_original(kind, folder, tmp_path):
    """autosome-ru/LegNet's own test.py predictions (150-nt plasmid context, both strands) reproduced to 1e-5."""
    weights = FIX / folder / "model_1.pth"
    res = runner.invoke(app, ["models", "import", kind, str(weights), "-o", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    ref = pd.read_csv(FIX / folder / "results.tsv", sep="\t", header=None, names=["seq", "pred"])
    model = load_model(tmp_path / "m")
    got = predict(model, ref["seq"].tolist(), precision="32")[:, 0]
    assert np.abs(got - ref["pred"].to_numpy()).max() < 1e-5
    assert ref["pred"].std() > 0.01  # the fixture's outputs differ between sequences: the check can fail
    card = model.config.card
    assert model.config.model.name == "legnet2022"  # the registered architecture that reproduces the original
    assert card.name == kind and card.files[0].sha256 == _sha(weights)
    assert card.metrics == [] and "not the published checkpoint" in card.summary  # random weights: no claims


@pytest.mark.parametrize("kind,folder", [("camformer", "camformer_large"), ("camformer-mini", "camformer_mini")])
def test_camformer_importer_matches_the_original(kind, folder, tmp_path):
    """Camformer's whole pickled model (torch.save(model)) read as data, its predict() reproduced to 1e-5."""
    res = runner.invoke(app, ["models", "import", kind, str(FIX / folder / "model.pt"), "-o", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    ref = pd.read_csv(FIX / folder / "predictions.tsv", sep="\t")
    model = load_model(tmp_path / "m")
    got = predict(model, ref["seq"].tolist(), precision="32")[:, 0]
    assert np.abs(got - ref["prediction"].to_numpy()).max() < 1e-5
    assert ref["prediction"].std() > 0.01
    assert model.config.model.params["residual"] == (kind == "camformer")


def _tss_bins(seq_len: int, n_bins: int, bin_size: int, k: int = 3) -> np.ndarray:
    offset = (seq_len - n_bins * bin_size) // 2
    centre = (seq_len // 2 - offset) // bin_size
    return np.arange(centre - (k - 1) // 2, centre - (k - 1) // 2 + k)


def test_enformer_importer_matches_the_original(tmp_path):
    pytest.importorskip("enformer_pytorch")
    io = np.load(FIX / "enformer" / "io.npz")
    res = runner.invoke(app, ["models", "import", "enformer", str(FIX / "enformer"), "-o", str(tmp_path / "m"),
                              "--seq-len", "4096", "--tracks", "2,7", "--target-names", "cage_a,dnase_b"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    model = load_model(tmp_path / "m")
    with torch.no_grad():  # the whole original output: every bin and track
        full = model.model.net(torch.from_numpy(io["x"]).transpose(1, 2), head="human").numpy()
    assert np.abs(full - io["y"]).max() < 1e-5
    want = io["y"][:, _tss_bins(4096, 16, 128)][:, :, [2, 7]].mean(1)
    got = predict(model, io["x"], precision="32")
    assert got.shape == (3, 2) and np.abs(got - want).max() < 1e-5
    assert model.config.target_names == ["cage_a", "dnase_b"]
    # default bins outside the 16 output bins, or none: one line at import, nothing written
    for bins, needle in (("17", "bins 0..16 do not lie in the model's 16 output bins"), ("0", "N >= 1")):
        res = runner.invoke(app, ["models", "import", "enformer", str(FIX / "enformer"), "-o", str(tmp_path / "bad"),
                                  "--seq-len", "4096", "--tracks", "2", "--tss-bins", bins])
        assert res.exit_code == 2 and needle in res.output and not (tmp_path / "bad").exists(), res.output
    # the same folder in the format-2 layout (the network chose its TSS bins) migrates to the same numbers
    raw = json.loads((tmp_path / "m" / "config.json").read_text())
    positions = raw["model"].pop("positions")
    raw["model"]["params"].update(tss_bins=int(positions["bins"].split(":")[1]), aggregate=positions["aggregate"])
    (tmp_path / "m" / "config.json").write_text(json.dumps({**raw, "format_version": 2}))
    assert np.array_equal(predict(load_model(tmp_path / "m"), io["x"], precision="32"), got)
    # variants gene mode works unchanged: a 4,096-nt window centred on each gene's TSS
    rng = np.random.default_rng(2)
    chrom = "".join(rng.choice(list("ACGT"), 12_000))
    (tmp_path / "g.fa").write_text(f">chr1\n{chrom}\n")
    pd.DataFrame({"id": ["g1"], "chromosome": ["chr1"], "strand": ["+"], "tss": [6000], "tts": [7000]}).to_csv(
        tmp_path / "genes.tsv", sep="\t", index=False)
    alt = "A" if chrom[6009] != "A" else "C"
    (tmp_path / "v.vcf").write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=12000>\n#CHROM\tPOS\tID\tREF\tALT"
                                    f"\tQUAL\tFILTER\tINFO\nchr1\t6010\tsnv\t{chrom[6009]}\t{alt}\t.\tPASS\t.\n")
    res = runner.invoke(app, ["variants", str(tmp_path / "m"), str(tmp_path / "v.vcf"), "--genome",
                              str(tmp_path / "g.fa"), "--genes", str(tmp_path / "genes.tsv"), "--background", "10",
                              "--attributions", "none", "--precision", "32", "-o", str(tmp_path / "vo")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    row = pd.read_csv(tmp_path / "vo" / "variants.tsv", sep="\t").iloc[0]
    window = chrom[6000 - 2048: 6000 + 2048]
    mutant = window[:2048 + 9] + alt + window[2048 + 10:]
    ref, alt_pred = predict(model, [window, mutant], precision="32")
    assert abs(row["ref_cage_a"] - ref[0]) < 1e-5 and abs(row["effect_cage_a"] - (alt_pred[0] - ref[0])) < 1e-5


def test_borzoi_importer_matches_the_original(tmp_path):
    bp = pytest.importorskip("borzoi_pytorch")
    from borzoi_pytorch.config_borzoi import BorzoiConfig

    config = {"dim": 64, "depth": 1, "heads": 2, "attn_dim_key": 8, "attn_dim_value": 16, "bins_to_return": 64,
              "return_center_bins_only": True}
    torch.manual_seed(0)
    original = bp.Borzoi(BorzoiConfig(**config)).eval()
    with torch.no_grad():
        for m in original.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    snap = tmp_path / "snapshot"
    snap.mkdir()
    torch.save(original.state_dict(), snap / "pytorch_model.bin")  # a Hugging Face snapshot's two files
    (snap / "config.json").write_text(json.dumps(config))
    x = torch.from_numpy(np.eye(4, dtype=np.float32)[np.random.default_rng(1).integers(0, 4, (2, 4096))]
                         ).transpose(1, 2).contiguous()
    with torch.no_grad():
        ref = original(x).numpy()  # (B, tracks, bins)
    res = runner.invoke(app, ["models", "import", "borzoi", str(snap), "-o", str(tmp_path / "m"), "--seq-len",
                              "4096", "--tracks", "5,100,7000"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    got = predict(load_model(tmp_path / "m"), x.numpy(), precision="32")
    want = ref[:, [5, 100, 7000]][:, :, _tss_bins(4096, 64, 32)].mean(2)
    assert np.abs(got - want).max() < 1e-5 and np.abs(want).max() > 0


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_that_would_run_code_is_refused(one_line_error, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model_80.pth"
    torch.save({"seqextractor.blc0.0.weight": torch.zeros(4, 6, 7), "payload": _RunsCode(marker)}, evil)
    out = tmp_path / "out"
    err = one_line_error(runner.invoke(app, ["models", "import", "legnet-dream2022", str(evil), "-o", str(out)]),
                          str(evil), "refused", "system")
    assert not marker.exists() and not out.exists() and not list(tmp_path.glob(".out.*")), err
    # a pickled module whose class is not one the importer expects is refused too, before anything is built
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), tmp_path / "fine.pt")
    assert read_checkpoint(tmp_path / "fine.pt").kind == "Sequential"  # torch's own modules: read as data
    with pytest.raises(FileError, match="refused"):
        read_checkpoint(evil, module_classes=["base.model.CNN"])


def test_import_output_is_guarded_like_every_output(one_line_error, tmp_path):
    """``models import -o DIR`` never replaces a folder it did not write; ``--force`` replaces a previous import."""
    weights = FIX / "legnet_dream2022" / "model_1.pth"
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me\n")
    res = runner.invoke(app, ["models", "import", "legnet-dream2022", str(weights), "-o", str(user), "--force"])
    one_line_error(res, "mine", "choose a new folder")
    assert (user / "notes.txt").read_text() == "keep me\n" and not (user / "config.json").exists()

    out = tmp_path / "m"
    assert runner.invoke(app, ["models", "import", "legnet-dream2022", str(weights), "-o", str(out)]).exit_code == 0
    again = runner.invoke(app, ["models", "import", "legnet-dream2022", str(weights), "-o", str(out)])
    one_line_error(again, "--force")
    res = runner.invoke(app, ["models", "import", "legnet-dream2022", str(weights), "-o", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert load_model(out).config.card.name == "legnet-dream2022"
