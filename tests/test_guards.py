"""Nothing a user gave is ever lost: an output never replaces an input or a folder that is not a previous output of
the same command (exit 2, one line naming both paths, the input's bytes unchanged); every bad option or config
value is one line naming it; models are refused for a use they do not fit; duplicates, skipped and empty inputs are
said; a failed ``train`` leaves no OUTPUT_DIR; outputs honour the umask and clear a killed run's temporaries; VCFs
with undeclared tags or plain gzip compression are read. Tiny untrained models: nothing here trains for real."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.config import DataConfig, SequencePolicy, TrainConfig
from seq2expr.inference import ModelSpec, SavedModelConfig, save_model
from seq2expr.models import build_model
from seq2expr.outputs import MARKER

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
PARAMS = {"channels": [8], "kernel_sizes": 11, "pool_sizes": [50], "convs_per_block": 1, "dropout": 0.0,
          "hidden": [8], "head_dropout": 0.0}
L = 50


def _save(path: Path, n_targets: int = 1, names: list[str] | None = None, **config) -> Path:
    torch.manual_seed(0)
    save_model(path, build_model("cnn", seq_len=L, n_targets=n_targets, **PARAMS),
               SavedModelConfig(model=ModelSpec(name="cnn", params=PARAMS, seq_len=L, n_targets=n_targets),
                                target_names=names or [], **config))
    return path


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> dict[str, Path]:
    """Tiny saved models (regression, classification, two targets, one trained with an ID column and a fixed length)
    and inputs: a table, a genome, a VCF."""
    d = tmp_path_factory.mktemp("guards")
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), L)) for _ in range(60)]
    table = pd.DataFrame({"id": [f"s{i}" for i in range(60)], "sequence": seqs, "expression": rng.normal(size=60)})
    table.to_csv(d / "t.tsv", sep="\t", index=False)
    genome = "".join(rng.choice(list("ACGT"), 400))
    (d / "data").mkdir()
    (d / "data" / "g.fa").write_text(">chrI\n" + genome + "\n")
    records = "".join(f"chrI\t{p}\tv{p}\t{genome[p - 1]}\t{'A' if genome[p - 1] != 'A' else 'C'}\t.\t.\t.\n"
                      for p in range(100, 300, 20))
    (d / "data" / "v.vcf").write_text(VCF_HEADER + records)
    return {"dir": d, "table": d / "t.tsv", "genome": d / "data" / "g.fa", "vcf": d / "data" / "v.vcf",
            "model": _save(d / "model"), "two": _save(d / "two", 2, ["x", "y"]),
            "cls": _save(d / "cls", train=TrainConfig(task="classification", loss="bce")),
            "fixed": _save(d / "fixed", data=DataConfig(id_column="id", policy=SequencePolicy(length=L))),
            "genome_seq": genome}


VCF_HEADER = "##fileformat=VCFv4.2\n##contig=<ID=chrI,length=400>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def _run_config(data: object, out: Path, **train) -> dict:
    """A run config: one of these tables (columns id, sequence, expression), the tiny CNN, output ``out``."""
    return {"data": {"path": str(data), "id_column": "id", "split": {"method": "random"}},
            "model": {"name": "cnn", "params": PARAMS}, "train": {"epochs": 1, "threads": 1, **train},
            "output_dir": str(out)}


def _table_run(data: object, out: Path) -> list[str]:
    """``seq2expr train`` of :func:`_run_config` (written beside ``out``)."""
    cfg = out.parent / f"{out.name}.yaml"
    cfg.write_text(yaml.safe_dump(_run_config(data, out)))
    return ["train", str(cfg), "--quiet"]


def _digest(*paths: Path) -> dict[str, str]:
    """sha256 of every file at or under ``paths`` (the user's bytes), by path."""
    out = {}
    for p in paths:
        for f in sorted([p] if p.is_file() else p.rglob("*")):
            if f.is_file():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _one_line(res, *names: object, problem: str) -> str:
    """Exit 2 and a single ``error:`` line on stderr naming ``names`` and ``problem``, no traceback."""
    err = res.stderr.strip()
    assert res.exit_code == 2, (res.output, res.exception)
    assert "Traceback" not in res.output and len(err.splitlines()) == 1, res.output
    assert err.startswith("error: ") and problem in err, err
    for name in names:
        assert str(name) in err, err
    return err


def _refused(args: list[str], output: object, given: object, *protect: Path, problem: str) -> str:
    """The run is refused in one line naming the output and the input it would replace; every protected file keeps
    its bytes and no file appears beside them."""
    before = _digest(*protect)
    assert before, protect  # something to protect
    around = {p: sorted(x.name for x in p.parent.iterdir()) for p in protect}
    err = _one_line(runner.invoke(app, args), output, given, problem=problem)
    assert _digest(*protect) == before
    assert {p: sorted(x.name for x in p.parent.iterdir()) for p in protect} == around
    return err


# --- data loss: outputs that would replace inputs --------------------------------------------------------------------

def test_predict_output_is_the_input(kit, tmp_path):
    t = tmp_path / "t.tsv"
    t.write_bytes(kit["table"].read_bytes())
    (tmp_path / "sub").mkdir()
    for out in (t, tmp_path / "sub" / ".." / "t.tsv"):
        _refused(["predict", str(kit["model"]), str(t), "-o", str(out)], out, t, t, problem="is the input")


def test_predict_output_through_a_symlink(kit, tmp_path):
    t = tmp_path / "data" / "t.tsv"
    t.parent.mkdir()
    t.write_bytes(kit["table"].read_bytes())
    (tmp_path / "link").symlink_to(t.parent)
    out = tmp_path / "link" / "t.tsv"
    _refused(["predict", str(kit["model"]), str(t), "-o", str(out)], out, t, t, problem="is the input")


def test_predict_into_the_model_folder(kit, tmp_path):
    m = tmp_path / "m"
    m.mkdir()
    for f in kit["model"].iterdir():
        (m / f.name).write_bytes(f.read_bytes())
    out = m / "model.safetensors"
    _refused(["predict", str(m), str(kit["table"]), "-o", str(out)], out, m, m, problem="is inside the input")


def test_evaluate_into_the_folder_of_its_input(kit, tmp_path, monkeypatch):
    pred = tmp_path / "predictions.tsv"
    pd.read_csv(kit["table"], sep="\t").rename(columns={"expression": "prediction"}).to_csv(pred, sep="\t",
                                                                                            index=False)
    monkeypatch.chdir(tmp_path)
    _refused(["evaluate", str(kit["model"]), "predictions.tsv", "-o", "."], ".", "predictions.tsv", pred,
             problem="holds the input")


def test_merge_into_one_of_its_parts(kit, tmp_path):
    parts = []
    for k in range(2):
        p = tmp_path / f"p{k}.tsv"
        res = runner.invoke(app, ["predict", str(kit["model"]), str(kit["table"]), "-o", str(p), "--shard", f"{k}/2",
                                  "--batch-size", "16"])
        assert res.exit_code == 0, res.output
        parts.append(p)
    _refused(["merge", str(parts[0]), str(parts[0]), str(parts[1])], parts[0], parts[0], *parts,
             problem="is the input")


def test_variants_into_the_folder_of_its_inputs_or_the_model(kit, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for f in ("g.fa", "v.vcf"):
        (data / f).write_bytes((kit["dir"] / "data" / f).read_bytes())
    base = ["variants", str(kit["model"]), str(data / "v.vcf"), "--genome", str(data / "g.fa")]
    _refused([*base, "-o", str(data)], data, data / "v.vcf", data / "v.vcf", data / "g.fa",
             problem="holds the input")
    _refused([*base, "-o", str(kit["model"])], kit["model"], kit["model"], kit["model"] / "model.safetensors",
             problem="is the input")


def test_design_over_the_model_or_an_input_file(kit, tmp_path):
    base = ["design", str(kit["model"]), "--oracle", "none", "--n", "1", "--rounds", "1"]
    _refused([*base, "-o", str(kit["model"])], kit["model"], kit["model"], kit["model"] / "config.json",
             problem="is the input")
    start = tmp_path / "t.tsv"
    start.write_bytes(kit["table"].read_bytes())
    _refused([*base, "--start", str(start), "-o", str(start)], start, start, start, problem="is the input")
    other = tmp_path / "notes.txt"  # a file that is not an input is not replaced by a folder either
    other.write_text("mine")
    _refused([*base, "-o", str(other)], other, "exists and is a file", other, problem="the design output is a folder")


def test_interpret_and_data_genes_into_their_inputs(kit, tmp_path):
    _refused(["interpret", str(kit["model"]), str(kit["table"]), "-o", str(kit["dir"])], kit["dir"], kit["model"],
             kit["table"], problem="holds the input")
    g = tmp_path / "g"
    g.mkdir()
    (g / "g.fa").write_bytes(kit["genome"].read_bytes())
    (g / "a.gtf").write_text('chrI\tt\tgene\t51\t150\t.\t+\t.\tgene_id "G1"; gene_biotype "protein_coding";\n')
    (g / "e.tsv").write_text("gene_id\tA\nG1\t1.5\n")
    _refused(["data", "genes", "--genome", str(g / "g.fa"), "--annotation", str(g / "a.gtf"), "--expression",
              str(g / "e.tsv"), "--single-window", "60", "-o", str(g)], g, g / "g.fa", g, problem="holds the input")


def test_a_folder_that_is_no_previous_output_is_never_replaced(kit, tmp_path):
    """An existing folder of the user's is refused even with --force; a previous output of the same command only
    with --force; an empty folder is fine."""
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    base = ["variants", str(kit["model"]), str(kit["vcf"]), "--genome", str(kit["genome"]), "--background", "10",
            "--attributions", "none", "-o"]
    for force in ([], ["--force"]):
        _refused([*base, str(mine), *force], mine, "holds no output of `variants`", mine / "thesis.tex",
                 problem="choose a new folder")
    out = tmp_path / "effects"
    out.mkdir()  # empty: fine
    assert runner.invoke(app, [*base, str(out)]).exit_code == 0
    assert json.loads((out / MARKER).read_text())["command"] == "variants"
    _one_line(runner.invoke(app, [*base, str(out)]), out, problem="holds a previous `variants` output; pass --force")
    res = runner.invoke(app, [*base, str(out), "--force"])
    assert res.exit_code == 0, res.output
    _refused(["design", str(kit["model"]), "--oracle", "none", "--n", "1", "--rounds", "1", "-o", str(out),
              "--force"], out, "the output of `variants`", out / "summary.json", problem="choose a new folder")
    _refused(["demo", "-o", str(mine), "--force"], mine, "holds no output of `demo`", mine / "thesis.tex",
             problem="choose a new folder")


def test_train_never_writes_over_a_file_it_did_not_create(kit, tmp_path, monkeypatch):
    """``output_dir: .`` beside the user's own ``config.yaml`` (the issue's case): refused, the config's bytes kept,
    nothing written."""
    (tmp_path / "t.tsv").write_bytes(kit["table"].read_bytes())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(_run_config("t.tsv", Path("."))))
    monkeypatch.chdir(tmp_path)
    _refused(["train", "config.yaml", "--quiet"], "config.yaml", "was not written by `train`", cfg,
             problem="choose another output folder")
    from seq2expr.config import load_config
    from seq2expr.files import FileError
    from seq2expr.training import check_run

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")  # a name train writes, in a folder train did not make
    with pytest.raises(FileError, match="metrics.json: exists and was not written by `train`"):
        check_run(load_config("config.yaml", ["output_dir=run"]))
    with pytest.raises(FileError, match="is the input"):  # the data file itself as the output folder
        check_run(load_config("config.yaml", ["output_dir=t.tsv"]))


# --- traceback cases: one line naming the key or option ---------------------------------------------------------------

@pytest.mark.parametrize("override,named", [
    ("train.epochs=-1", "train.epochs: Input should be greater than or equal to 1 (got -1)"),
    ("train.batch_size=0", "train.batch_size: Input should be greater than or equal to 1 (got 0)"),
    ("model.params.chanels=[8]", "model.params.chanels: not a parameter of model 'cnn'; did you mean 'channels'?"),
    ("train.epoch=3", "train: unknown key 'epoch'; did you mean 'epochs'?"),
    ("data.target.label_quantiles=[0.8,0.2]", "label_quantiles must be [lo, hi] with 0 <= lo <= hi <= 1"),
])
def test_bad_config_value_is_one_line(kit, tmp_path, override, named):
    out = tmp_path / "run"
    _one_line(runner.invoke(app, [*_table_run(kit["table"], out), "--set", override]), problem=named)
    assert not out.exists()


def test_classification_with_label_quantiles_prepares_and_summarises(kit):
    """The documented ``target.label_quantiles`` drops the middle rows from every split; the split summary counted
    rows by the splits' sizes and crashed (IndexError)."""
    from seq2expr.config import RunConfig
    from seq2expr.data.prepare import prepare_data
    from seq2expr.training.assemble import describe_splits

    cfg = RunConfig.model_validate(_run_config(kit["table"], kit["dir"] / "unused", task="classification",
                                               loss="bce"))
    cfg.data.target.label_quantiles = (0.25, 0.75)
    bundle = prepare_data(cfg.data, "classification")
    kept = sum(len(v) for v in bundle.splits.values())
    assert 0 < kept < len(bundle.ids)  # the middle half is dropped
    summary = describe_splits(cfg, bundle)
    assert sum(summary["rows"].values()) == kept


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("device,problem", [
    ("cuda", "device 'cuda': no CUDA device here; available: cpu"),
    ("cuda:1", "no CUDA device here; available: cpu"),
    ("tpu", "device 'tpu' is not a device; use cpu, cuda, cuda:N, mps or auto"),
])
def test_missing_device_is_one_line(kit, tmp_path, device, problem):
    out = tmp_path / "o.tsv"
    _one_line(runner.invoke(app, ["predict", str(kit["model"]), str(kit["table"]), "-o", str(out), "--device",
                                  device]), problem=problem)
    assert not out.exists()


def test_devices_checked_against_what_is_present():
    from seq2expr.inference import available_devices, check_accelerator, check_device

    assert check_device("cpu") == torch.device("cpu")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ValueError, match=f"available: {', '.join(available_devices())}"):
        check_device(f"cuda:{n}")
    if not n:
        with pytest.raises(ValueError, match="train.accelerator=gpu: no CUDA device here"):
            check_accelerator("gpu")
    check_accelerator("cpu")


@pytest.mark.parametrize("args,problem", [
    (["predict", "{model}", "{table}", "-o", "{out}", "--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    (["predict", "{model}", "{table}", "-o", "{out}", "--chunk-size", "0"], "--chunk-size must be at least 1, not 0"),
    (["design", "{model}", "-o", "{out}", "--oracle", "none", "--n", "0"], "--n must be at least 1, not 0"),
    (["design", "{model}", "-o", "{out}", "--oracle", "none", "--beam", "0"], "--beam must be at least 1, not 0"),
    (["design", "{model}", "-o", "{out}", "--oracle", "none", "--rounds", "-1"], "--rounds must be at least 0"),
])
def test_sizes_that_mean_nothing_are_one_line(kit, tmp_path, args, problem):
    out = tmp_path / "out"
    args = [a.format(model=kit["model"], table=kit["table"], out=out) for a in args]
    _one_line(runner.invoke(app, args), problem=problem)
    assert not out.exists()


# --- models against their use ----------------------------------------------------------------------------------------

def test_evaluate_a_classification_model_on_continuous_targets(kit, tmp_path):
    out = tmp_path / "ev"
    _one_line(runner.invoke(app, ["evaluate", str(kit["cls"]), str(kit["table"]), "--target-column", "expression",
                                  "-o", str(out)]), kit["table"],
              problem="classification targets must be 0/1 labels, but these are continuous")
    assert not out.exists()


@pytest.mark.parametrize("model,extra,problem", [
    ("cls", ["--objective", "target:5"], "a classification model predicts probabilities (0 to 1)"),
    ("model", ["--target", "5"], "target 5 out of range for a model with targets ['prediction']"),
    ("two", ["--objective", "diff:y", "--target", "y"], "the other target is the design target 'y' itself"),
    ("model", ["--oracle", "{cls}"], "does not score what the design model does: its task is 'classification'"),
    ("model", ["--other-model", "{two}", "--target", "0"], "its targets is ['x', 'y']"),
])
def test_design_refuses_a_model_that_does_not_fit(kit, tmp_path, model, extra, problem):
    out = tmp_path / "d"
    extra = [a.format(cls=kit["cls"], two=kit["two"]) for a in extra]
    oracle = [] if "--oracle" in extra else ["--oracle", "none"]
    _one_line(runner.invoke(app, ["design", str(kit[model]), "-o", str(out), "--n", "1", "--rounds", "1", *oracle,
                                  *extra]), problem=problem)
    assert not out.exists()


def test_design_start_shorter_than_the_model(kit, tmp_path):
    """The model pads to its length: a 40-bp start would be designed as a 50-bp sequence ending in Ns."""
    start = tmp_path / "short.tsv"
    t = pd.read_csv(kit["table"], sep="\t").head(3)
    t.assign(sequence=t["sequence"].str[:40]).to_csv(start, sep="\t", index=False)
    out = tmp_path / "d"
    _one_line(runner.invoke(app, ["design", str(kit["fixed"]), "-o", str(out), "--oracle", "none", "--start",
                                  str(start), "--rounds", "1"]), start,
              problem="start sequence is 40 bp but the model designs 50-bp sequences (it would be padded with N)")
    assert not out.exists()


# --- duplicates, BOM, skipped and empty ------------------------------------------------------------------------------

def test_duplicate_ids_are_refused_or_allowed(kit, tmp_path):
    t = pd.read_csv(kit["table"], sep="\t")
    fasta = tmp_path / "dup.fa"
    records = [*zip(t["id"], t["sequence"], strict=True), ("s1", t["sequence"][0])]
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in records))
    table = tmp_path / "dup.tsv"
    t.assign(id=t["id"].where(t.index != 40, "s7")).to_csv(table, sep="\t", index=False)
    out = tmp_path / "o.tsv"
    _one_line(runner.invoke(app, ["predict", str(kit["model"]), str(fasta), "-o", str(out)]), fasta,
              problem="duplicate ID 's1'")
    for chunk in ("100000", "3"):  # in one chunk, and across chunks
        _one_line(runner.invoke(app, ["predict", str(kit["model"]), str(table), "-o", str(out), "--id-column", "id",
                                      "--chunk-size", chunk]), table, problem="duplicate ID 's7'")
    assert not out.exists()
    res = runner.invoke(app, ["predict", str(kit["model"]), str(fasta), "-o", str(out), "--allow-duplicates"])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out, sep="\t")["id"].tolist().count("s1") == 2
    pairs = tmp_path / "pairs.tsv"
    pd.DataFrame({"id": ["a", "b", "a"], "ref_sequence": t["sequence"][:3].to_numpy(),
                  "alt_sequence": t["sequence"][3:6].to_numpy()}).to_csv(pairs, sep="\t", index=False)
    _one_line(runner.invoke(app, ["variants", str(kit["model"]), str(pairs), "--mode", "pairs", "-o",
                                  str(tmp_path / "pv")]), pairs, problem="duplicate ID 'a'")


def test_bom_table_keeps_its_ids(kit, tmp_path):
    t = pd.read_csv(kit["table"], sep="\t")
    for name in ("bom.tsv", "bom.tsv.gz"):
        path = tmp_path / name
        data = b"\xef\xbb\xbf" + t.to_csv(sep="\t", index=False).encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        out = tmp_path / f"{name}.out.tsv"
        res = runner.invoke(app, ["predict", str(kit["fixed"]), str(path), "-o", str(out)])  # trained with id
        assert res.exit_code == 0, res.output
        assert pd.read_csv(out, sep="\t")["id"].tolist() == t["id"].tolist()


def _variants(kit, vcf: Path, out: Path):
    return runner.invoke(app, ["variants", str(kit["model"]), str(vcf), "--genome", str(kit["genome"]), "-o", str(out),
                               "--background", "10", "--attributions", "none"])


def test_header_only_vcf_says_zero_scored_and_why(kit, tmp_path):
    vcf = tmp_path / "h.vcf"
    vcf.write_text(VCF_HEADER)
    res = _variants(kit, vcf, tmp_path / "o")
    assert res.exit_code == 0, res.output
    assert "0 variants scored: the input holds no variant records" in res.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["records"] == 0 and "no variant records" in summary["empty"]


def test_skipped_alleles_are_counted_and_said(kit, tmp_path):
    lines = kit["vcf"].read_text().splitlines(keepends=True)
    body = [ln.split("\t") for ln in lines if not ln.startswith("#")]
    body[0][4], body[1][4] = ".", "*"
    vcf = tmp_path / "s.vcf"
    vcf.write_text(VCF_HEADER + "".join("\t".join(f) for f in body))
    res = _variants(kit, vcf, tmp_path / "o")
    assert res.exit_code == 0, res.output
    assert "skipped 1: missing_alt" in res.stderr and "skipped 1: symbolic" in res.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["skipped"] == {"missing_alt": 1, "symbolic": 1} and summary["scored_alleles"] == len(body) - 2


def test_vcf_with_undeclared_tags_is_read(kit, tmp_path):
    """INFO tags (``FOO=1``, SVTYPE/END on a ``<DEL>``), a FILTER, FORMAT keys and a contig the header does not
    declare: htslib's copy of such a record into the annotated VCF ended the process with exit 1 and no word."""
    body = [ln.rstrip("\n").split("\t") for ln in kit["vcf"].read_text().splitlines(True) if not ln.startswith("#")]
    body[1][7] = "FOO=1"
    body[2][4], body[2][7] = "<DEL>", "SVTYPE=DEL;END=200"
    body[3][6] = "LowQ"
    vcf = tmp_path / "u.vcf"
    head = VCF_HEADER.replace("##contig=<ID=chrI,length=400>\n", "").replace("INFO\n", "INFO\tFORMAT\tS1\n")
    vcf.write_text(head + "".join("\t".join([*f, "GT:XX", "0/1:3"]) + "\n" for f in body))
    res = _variants(kit, vcf, tmp_path / "o")
    assert res.exit_code == 0, res.output
    import pysam

    with pysam.VariantFile(str(tmp_path / "o" / "variants.vcf.gz")) as out:
        recs = list(out)
    assert len(recs) == len(body) and recs[1].info["FOO"] == "1" and recs[2].info["SVTYPE"] == "DEL"
    assert "S2E_prediction" in recs[1].info and list(recs[3].filter) == ["LowQ"]
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["undeclared_in_header"] == {"contig": ["chrI"], "filter": ["LowQ"], "format": ["GT", "XX"],
                                               "info": ["END", "FOO", "SVTYPE"]}


def test_plain_gzip_vcf_is_read(kit, tmp_path):
    """htslib reads only bgzip's blocks ('seek not implemented' on plain gzip): read from a bgzip copy, same
    effects as the plain-text file."""
    plain = tmp_path / "v.vcf.gz"
    plain.write_bytes(gzip.compress(kit["vcf"].read_bytes()))
    assert _variants(kit, plain, tmp_path / "a").exit_code == 0
    assert _variants(kit, kit["vcf"], tmp_path / "b").exit_code == 0
    a, b = (pd.read_csv(tmp_path / x / "variants.tsv", sep="\t") for x in "ab")
    pd.testing.assert_frame_equal(a, b)


# --- failed train, umask, stale temporaries ---------------------------------------------------------------------------

@pytest.mark.parametrize("case,problem", [
    ("missing data", "nope.tsv: file not found"), ("duplicate IDs", "duplicate ID 's3'"),
    ("NaN target", "missing (NaN) target in column 'expression'"), ("unknown model", "unknown model 'cnnn'"),
    ("bad sizes", "model.params do not build a 'cnn' model: pool_sizes has 3 values"),
    ("empty table", "empty file: no records (header only)"),
    ("wrong loss", "train.task=classification needs train.loss=bce"),
])
def test_failed_train_leaves_no_output_dir(kit, tmp_path, case, problem):
    t = pd.read_csv(kit["table"], sep="\t")
    if case == "empty table":
        t = t.head(0)
    data = tmp_path / "d.tsv"
    if case == "duplicate IDs":
        t.loc[5, "id"] = t.loc[3, "id"]
    if case == "NaN target":
        t.loc[5, "expression"] = np.nan
    t.to_csv(data, sep="\t", index=False)
    sets = {"missing data": [f"data.path={tmp_path / 'nope.tsv'}"], "unknown model": ["model.name=cnnn"],
            "bad sizes": ["model.params.pool_sizes=[2,2,50]"], "wrong loss": ["train.task=classification"]
            }.get(case, [])
    out = tmp_path / "run"
    args = _table_run(data, out) + [a for s in sets for a in ("--set", s)]
    _one_line(runner.invoke(app, ["--silent", *args]), problem=problem)
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_outputs_carry_the_umask(kit, tmp_path, umask_027):
    out = tmp_path / "o.tsv"
    assert runner.invoke(app, ["predict", str(kit["model"]), str(kit["table"]), "-o", str(out)]).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o640
    res = _variants(kit, kit["vcf"], tmp_path / "v")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "v").stat().st_mode & 0o777 == 0o750
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "v").rglob("*")}
    assert all(m == (0o750 if (tmp_path / "v" / n).is_dir() else 0o640) for n, m in modes.items()
               if (tmp_path / "v" / n).exists()), modes
    m = _save(tmp_path / "m")  # safetensors writes its file private (0600)
    assert {p.name: p.stat().st_mode & 0o777 for p in [m, *m.iterdir()]} == {
        "m": 0o750, "model.safetensors": 0o640, "config.json": 0o640}


_KILLED = """
import os, signal, sys
from seq2expr.atomic import atomic_path
with atomic_path(sys.argv[1], is_dir=sys.argv[2] == "dir") as tmp:
    (tmp / "half").write_text("half") if sys.argv[2] == "dir" else tmp.write_text("half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_stale_temporaries_of_a_killed_run_are_removed_by_the_next(kit, tmp_path, kind):
    out = tmp_path / ("o.tsv" if kind == "file" else "v")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-c", _KILLED, str(out), kind], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    stale = list(tmp_path.glob(f".{out.name}.*"))
    assert len(stale) == 1 and not out.exists()
    import fcntl

    live = tmp_path / f".{out.name}.abcd1234"  # another live writer's temporary (it holds the lock): kept
    live.write_text("live")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        res = (runner.invoke(app, ["predict", str(kit["model"]), str(kit["table"]), "-o", str(out)]) if kind == "file"
               else _variants(kit, kit["vcf"], out))
        assert res.exit_code == 0, res.output
        assert sorted(p.name for p in tmp_path.glob(f".{out.name}.*")) == [live.name]
    finally:
        os.close(fd)
