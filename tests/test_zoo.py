"""The model zoo: the catalogue offline, checked downloads (a truncated or altered file: one line, exit 2, nothing
cached), half-precision zoo copies, the project's entries from the package, and ``zoo:NAME`` wherever a model
folder goes (the importers of published checkpoints: ``tests/test_importers.py``)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.convert.pack import finish, half_weights
from seq2expr.inference import ModelSpec, SavedModelConfig, load_model, predict, save_model
from seq2expr.models import build_model
from seq2expr.zoo import ModelCard, catalogue, check, get_card, list_cards, package_dir

FIX = Path(__file__).parent / "data" / "zoo"
runner = CliRunner()
CNN = {"channels": [8], "kernel_sizes": 9, "pool_sizes": [40], "convs_per_block": 1, "dropout": 0.0, "hidden": [],
       "head_dropout": 0.0}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- the catalogue


def test_models_list_works_offline_and_lists_every_entry(monkeypatch):
    import requests

    def no_network(*a, **k):
        raise AssertionError("models list must not touch the network")

    monkeypatch.setattr(requests, "get", no_network)
    monkeypatch.delenv("SEQ2EXPR_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    res = runner.invoke(app, ["models", "list"])
    assert res.exit_code == 0, res.output
    names = [c.name for c in list_cards()]
    assert {"legnet-dream2022", "legnet-complex", "legnet-defined", "camformer", "camformer-mini", "enformer",
            "borzoi", "dream2022-cnn", "dream2022-legnet", "yeast-log-tpm", "yeast-high-low"} <= set(names)
    for name in names:
        assert name in res.output
    # every project entry is available offline, from the package copy
    assert res.output.count("package copy") == sum(c.source == "project" for c in list_cards())
    monkeypatch.setenv("COLUMNS", "80")  # a piped or narrow terminal: names stay whole, to be typed as zoo:NAME
    narrow = runner.invoke(app, ["models", "list"])
    assert narrow.exit_code == 0 and all(name in narrow.output for name in names), narrow.output


def test_models_info_shows_the_card(one_line_error):
    res = runner.invoke(app, ["models", "info", "zoo:legnet-dream2022"])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    for text in ("7d314e2f2f9bb1aba4a5a91d4598f687df12e3ce", "MIT", "btad457", "0.9463", "seq2expr models import",
                 "N = 0.25"):
        assert text in flat, text
    one_line_error(runner.invoke(app, ["models", "info", "nope"]), "unknown zoo model 'nope'", "legnet-dream2022")


def test_project_entries_ship_checked_copies_whose_card_matches():
    project = [c for c in list_cards() if c.source == "project"]
    assert len(project) >= 3
    total = 0
    for card in project:
        folder = package_dir() / "weights" / card.name
        check(folder, card)  # every file matches its sha256 and size
        total += sum(f.size for f in card.files)
        assert card.metrics and all(m.command and m.metrics for m in card.metrics), card.name
        assert card.storage and card.licence and card.citation
        inner = json.loads((folder / "config.json").read_text())["card"]
        pins = {f["name"]: f for f in inner.pop("files")}
        outer = card.model_dump()
        outer_files = {f["name"]: f for f in outer.pop("files")}
        assert inner == outer  # the card in config.json is the catalogue's ...
        assert pins["model.safetensors"] == outer_files["model.safetensors"]  # ... which also pins config.json
        assert pins["config.json"]["sha256"] is None and outer_files["config.json"]["sha256"] == _sha(
            folder / "config.json")
        if card.name.startswith("yeast"):
            assert card.genome is not None and (folder / "genes.tsv.gz").is_file()
    assert total < 12 * 2**20  # a dozen MB at most in the repository


# ------------------------------------------------------------------------------------ downloads and checksums


class _Server:
    """A local HTTP server for a folder (the download path, without the internet)."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served_entry(tmp_path, monkeypatch):
    """A project entry ``zoo:tiny`` whose two files are served over HTTP from ``tmp_path/served``."""
    for var in ("SEQ2EXPR_DATA_MIRROR", "SEQ2EXPR_MODELS_MIRROR", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SEQ2EXPR_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    good = save_model(tmp_path / "good", build_model("cnn", seq_len=40, **CNN),
                      SavedModelConfig(model=ModelSpec(name="cnn", params=CNN, seq_len=40)))
    served = tmp_path / "served"
    served.mkdir()
    server = _Server(served)
    base = get_card("dream2022-cnn").model_dump()
    files = [{"name": n, "url": f"{server.url}/{n}", "size": (good / n).stat().st_size, "sha256": _sha(good / n)}
             for n in ("model.safetensors", "config.json")]
    card = ModelCard.model_validate({**base, "name": "tiny", "files": files,
                                     "input": {**base["input"], "length": 40}})
    cards = {**catalogue.cards_by_name(), "tiny": card}
    monkeypatch.setattr(catalogue, "cards_by_name", lambda: cards)
    yield good, served
    server.close()


def _cached(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] if (tmp_path / "cache").exists() else []


def test_truncated_or_altered_download_is_one_line_and_nothing_is_cached(one_line_error, served_entry, tmp_path):
    good, served = served_entry
    weights = (good / "model.safetensors").read_bytes()
    (served / "config.json").write_bytes((good / "config.json").read_bytes())
    (served / "model.safetensors").write_bytes(weights[: len(weights) // 2])  # a download cut short
    one_line_error(runner.invoke(app, ["models", "fetch", "tiny"]), "model.safetensors", "truncated",
                   f"expected {len(weights):,}")
    assert _cached(tmp_path) == []
    altered = bytearray(weights)
    altered[-5] ^= 0xFF  # same size, other bytes
    (served / "model.safetensors").write_bytes(bytes(altered))
    one_line_error(runner.invoke(app, ["models", "fetch", "tiny"]), "model.safetensors", "checksum mismatch")
    assert _cached(tmp_path) == []
    (served / "model.safetensors").write_bytes(weights)
    res = runner.invoke(app, ["models", "fetch", "tiny"])
    assert res.exit_code == 0 and "downloaded" in res.output, res.output
    assert sorted(p.name for p in _cached(tmp_path)) == ["config.json", "model.safetensors"]
    x = np.random.default_rng(0).random((3, 4, 40)).astype(np.float32)
    assert np.array_equal(predict(load_model("zoo:tiny"), x, precision="32"),
                          predict(load_model(good), x, precision="32"))


def test_a_damaged_local_copy_is_named_not_used(one_line_error, served_entry, tmp_path, monkeypatch):
    good, _ = served_entry
    mirror = tmp_path / "mirror" / "tiny" / "1.0"
    mirror.mkdir(parents=True)
    (mirror / "config.json").write_bytes((good / "config.json").read_bytes())
    (mirror / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes()[:-10])
    monkeypatch.setenv("SEQ2EXPR_MODELS_MIRROR", str(tmp_path / "mirror"))
    pd.DataFrame({"sequence": ["ACGT" * 10]}).to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    out = tmp_path / "p.tsv"
    one_line_error(runner.invoke(app, ["predict", "zoo:tiny", str(tmp_path / "in.tsv"), "-o", str(out)]),
                   str(mirror / "model.safetensors"), "truncated")
    assert not out.exists() and _cached(tmp_path) == []


def test_zoo_names_in_model_arguments(one_line_error, tmp_path):
    pd.DataFrame({"sequence": ["ACGT"]}).to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    one_line_error(runner.invoke(app, ["predict", "zoo:nope", str(tmp_path / "in.tsv"), "-o", str(tmp_path / "o")]),
                   "unknown zoo model 'nope'")
    res = runner.invoke(app, ["predict", "no_such_folder", str(tmp_path / "in.tsv"), "-o", "o.tsv"])
    assert res.exit_code == 2 and "'no_such_folder' does not exist" in res.output
    err = one_line_error(runner.invoke(app, ["predict", "zoo:legnet-dream2022", str(tmp_path / "in.tsv"), "-o",
                                              str(tmp_path / "o")]), "seq2expr models fetch legnet-dream2022")
    assert "converted" in err


def test_unpinned_published_entry_names_one_step(one_line_error, tmp_path):
    """Camformer's checkpoint has no published checksum: predict and fetch both name the one step that works
    (download it, `models import`), never `models fetch`, which cannot."""
    pd.DataFrame({"sequence": ["ACGT"]}).to_csv(tmp_path / "in.tsv", sep="\t", index=False)
    runs = [["predict", "zoo:camformer", str(tmp_path / "in.tsv"), "-o", str(tmp_path / "o")],
            ["models", "fetch", "camformer"]]
    for args in runs:
        err = one_line_error(runner.invoke(app, args), "seq2expr models import camformer Camformer_9.tar.gz -o DIR")
        assert "models fetch" not in err, err


# ------------------------------------------------------------------------------------------ half-precision copies


def test_half_precision_copy_predicts_within_tolerance(tmp_path):
    torch.manual_seed(1)
    params = {**CNN, "channels": [64], "kernel_sizes": 15}
    model = save_model(tmp_path / "m", build_model("cnn", seq_len=40, **params),
                       SavedModelConfig(model=ModelSpec(name="cnn", params=params, seq_len=40)))
    seqs = ["".join(np.random.default_rng(i).choice(list("ACGT"), 40)) for i in range(50)]
    stage = tmp_path / "stage"
    dtype, diff, note = half_weights(model, stage, seqs)
    assert dtype == "float16" and 0 < diff <= 1e-3 and note.startswith("float16 weights: predictions within")
    # a tolerance half precision cannot meet keeps float32, and says why
    dtype32, diff32, note32 = half_weights(model, tmp_path / "stage32", seqs, tolerance=1e-9)
    assert dtype32 == "float32" and diff32 == 0 and "float16" in note32 and "bfloat16" in note32
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(str(stage / "model.safetensors")).values() if t.is_floating_point()} == {
        torch.float16}
    assert (stage / "model.safetensors").stat().st_size < 0.6 * (model / "model.safetensors").stat().st_size
    base = get_card("dream2022-cnn").model_dump()
    card = ModelCard.model_validate({**base, "name": "tiny2", "files": []})
    full = finish(stage, card, dest=tmp_path / "zoo" / "tiny2", cards_dir=tmp_path)
    check(tmp_path / "zoo" / "tiny2", full)  # the catalogue card pins what was written
    assert json.loads((tmp_path / "tiny2.json").read_text())["files"][1]["sha256"] == _sha(
        tmp_path / "zoo" / "tiny2" / "config.json")
    assert np.abs(predict(load_model(tmp_path / "zoo" / "tiny2"), seqs, precision="32")
                  - predict(load_model(model), seqs, precision="32")).max() <= 1e-3


def test_data_registry_download_is_checked_before_it_is_cached(tmp_path, monkeypatch, request):
    """The data-set registry downloads through the same path: a truncated file is named, nothing is cached."""
    from seq2expr.data import registry
    from seq2expr.data.errors import DataError

    served = tmp_path / "served"
    served.mkdir()
    body = b"ACGT\t1.0\n" * 200
    (served / "table.txt").write_bytes(body[:-50])
    server = _Server(served)
    try:
        entry = registry.DatasetEntry(
            name="tiny_set", description="", citation="", licence="MIT", loader=lambda paths: None,
            files=(registry.RemoteFile("table.txt", f"{server.url}/table.txt", _sha_bytes(body), len(body)),))
        request.addfinalizer(lambda: registry.DATASETS.remove("tiny_set"))
        registry.register_dataset(entry)
        monkeypatch.delenv("SEQ2EXPR_DATA_MIRROR", raising=False)
        with pytest.raises(DataError, match="truncated") as err:
            registry.fetch("tiny_set", cache_dir=tmp_path / "cache")
        assert "table.txt" in str(err.value) and len(str(err.value).splitlines()) == 1
        assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
        (served / "table.txt").write_bytes(body)
        (path, where), = registry.fetch("tiny_set", cache_dir=tmp_path / "cache").values()
        assert where == "downloaded" and path.read_bytes() == body
    finally:
        server.close()


def _sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the project's entries, from the package


def test_zoo_model_predicts_and_scores_pairs_offline(tmp_path, monkeypatch):
    """``predict zoo:NAME`` and ``variants zoo:NAME --mode pairs`` from the repository's copy, no network."""
    import requests

    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(AssertionError("network used")))
    monkeypatch.delenv("SEQ2EXPR_MODELS_MIRROR", raising=False)
    monkeypatch.setenv("SEQ2EXPR_CACHE", str(tmp_path / "empty_cache"))
    rng = np.random.default_rng(0)
    left, right = "TGCATTTTTTTCACATC", "GGTTACGGCTGTT"
    seqs = [left + "".join(rng.choice(list("ACGT"), 80)) + right for _ in range(6)]
    pd.DataFrame({"id": [f"s{i}" for i in range(6)], "sequence": seqs}).to_csv(tmp_path / "in.tsv", sep="\t",
                                                                                  index=False)
    res = runner.invoke(app, ["predict", "zoo:dream2022-cnn", str(tmp_path / "in.tsv"), "-o", str(tmp_path / "p.tsv"),
                              "--precision", "32"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    pred = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    direct = predict(load_model(package_dir() / "weights" / "dream2022-cnn"), seqs, precision="32")[:, 0]
    assert np.allclose(pred["expression"].to_numpy(), direct, atol=1e-5) and pred["expression"].std() > 0
    pairs = pd.DataFrame({"id": ["a", "b"], "ref_sequence": seqs[:2], "alt_sequence": seqs[2:4]})
    pairs.to_csv(tmp_path / "pairs.tsv", sep="\t", index=False)
    res = runner.invoke(app, ["variants", "zoo:dream2022-cnn", str(tmp_path / "pairs.tsv"), "--mode", "pairs", "-o",
                              str(tmp_path / "v"), "--precision", "32"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    out = pd.read_csv(tmp_path / "v" / "variants.tsv", sep="\t")
    assert np.allclose(out["effect_expression"], direct[2:4] - direct[:2], atol=1e-5)
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["model_card"]["name"] == "dream2022-cnn" and summary["model_card"]["licence"].startswith("MIT")
    # read in place from the package, nothing copied (the registry of running writes' temporaries, empty, aside)
    cached = [p for p in (tmp_path / "empty_cache").rglob("*") if p.name != "temporaries"]
    assert cached == [], cached


def test_reports_name_the_zoo_model_by_its_card(tmp_path):
    """variants (centred mode) and design reports carry the card's name, version, licence and citation."""
    rng = np.random.default_rng(1)
    chrom = "".join(rng.choice(list("ACGT"), 400))
    (tmp_path / "g.fa").write_text(f">chrA\n{chrom}\n")
    vcf = "##fileformat=VCFv4.2\n##contig=<ID=chrA,length=400>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    vcf += "".join(f"chrA\t{p}\tv{p}\t{chrom[p - 1]}\t{'A' if chrom[p - 1] != 'A' else 'C'}\t.\tPASS\t.\n"
                   for p in (150, 200))
    (tmp_path / "v.vcf").write_text(vcf)
    card = get_card("dream2022-cnn")
    res = runner.invoke(app, ["variants", "zoo:dream2022-cnn", str(tmp_path / "v.vcf"), "--genome",
                              str(tmp_path / "g.fa"), "--mode", "centred", "--construct", "dream2022", "--background",
                              "20", "--attributions", "none", "-o", str(tmp_path / "vo")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    res = runner.invoke(app, ["design", "zoo:dream2022-cnn", "-o", str(tmp_path / "d"), "--n", "2", "--rounds", "1",
                              "--oracle", "none", "--attributions", "none", "--construct", "dream2022"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    for report in (tmp_path / "vo" / "report.html", tmp_path / "d" / "report.html"):
        text = report.read_text()
        for part in (card.name, f"version {card.version}", "MIT", "Rafi AM"):
            assert part in text, (report, part)


@pytest.mark.slow
def test_zoo_dream_models_reproduce_their_cards_private_r2(mirror):
    """Each single-model DREAM entry, loaded from the package copy, scores the private r^2 its card states
    (dream2022:test). The 5-member LegNet ensemble (10 forward passes per sequence, about 10 minutes on 2 cores) is
    re-measured the same way by ``bench/zoo.py`` (``bench/results/zoo.md``) rather than in every CI run."""
    from seq2expr.evaluation import evaluate

    dream = [c for c in list_cards() if c.source == "project" and c.name.startswith("dream2022")
             and "ensemble" not in c.architecture]
    assert dream
    for card in dream:
        rep = evaluate(f"zoo:{card.name}", "dream2022:test", n_boot=0, precision="32")
        stated = card.metrics[0]
        assert stated.data.startswith("dream2022:test") and stated.n == rep["n"] == 62058
        got = rep["challenge"]["subsets"]["all"]["pearson_r2"]
        assert abs(got - stated.metrics["pearson_r2"]) < 5e-4, (card.name, got, stated.metrics)


def test_fetch_of_a_published_entry_checks_its_git_blob_and_converts_once(one_line_error, tmp_path, monkeypatch):
    """``models fetch`` of a published entry: the checkpoint pinned by its git blob id is downloaded, checked,
    converted into the cache once, and ``zoo:NAME`` then loads it; the card keeps the published metrics because
    the file is the pinned one."""
    from seq2expr.download import git_blob_id

    for var in ("SEQ2EXPR_DATA_MIRROR", "SEQ2EXPR_MODELS_MIRROR", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SEQ2EXPR_CACHE", str(tmp_path / "cache"))
    weights = FIX / "legnet_dream2022" / "model_1.pth"
    served = tmp_path / "served"
    served.mkdir()
    (served / "model_80.pth").write_bytes(weights.read_bytes())
    server = _Server(served)
    try:
        base = get_card("legnet-dream2022").model_dump()
        card = ModelCard.model_validate({**base, "name": "legnet-test", "files": [
            {"name": "model_80.pth", "url": f"{server.url}/model_80.pth", "git_blob": git_blob_id(weights)}]})
        cards = {**catalogue.cards_by_name(), "legnet-test": card}
        monkeypatch.setattr(catalogue, "cards_by_name", lambda: cards)
        one_line_error(runner.invoke(app, ["predict", "zoo:legnet-test", str(weights), "-o", str(tmp_path / "o")]),
                        "models fetch legnet-test")
        res = runner.invoke(app, ["models", "fetch", "legnet-test"])
        assert res.exit_code == 0 and "converted from the checkpoint (downloaded)" in " ".join(res.output.split()), \
            res.output
        res = runner.invoke(app, ["models", "fetch", "legnet-test"])
        assert "converted earlier" in " ".join(res.output.split()), res.output
        model = load_model("zoo:legnet-test")
        assert model.config.card.metrics == card.metrics and model.config.card.files[0].url == card.files[0].url
        ref = pd.read_csv(FIX / "legnet_dream2022" / "results.tsv", sep="\t", header=None, names=["seq", "pred"])
        got = predict(model, ref["seq"].tolist(), precision="32")[:, 0]
        assert np.abs(got - ref["pred"].to_numpy()).max() < 1e-5
        # another file under the same name fails its git blob check: named, nothing cached
        shutil_card = ModelCard.model_validate({**card.model_dump(), "name": "legnet-test2"})
        cards["legnet-test2"] = shutil_card
        (served / "model_80.pth").write_bytes((FIX / "legnet_complex" / "model_1.pth").read_bytes())
        one_line_error(runner.invoke(app, ["models", "fetch", "legnet-test2"]), "model_80.pth", "checksum mismatch",
                        "git blob")
        assert not (tmp_path / "cache" / "models" / "legnet-test2").exists() or not any(
            p.is_file() for p in (tmp_path / "cache" / "models" / "legnet-test2").rglob("*"))
    finally:
        server.close()


def test_interpret_report_names_the_card():
    from seq2expr.interpret.report import MotifResults, report_page

    card = get_card("dream2022-cnn")
    cfg = SavedModelConfig(model=ModelSpec(name="cnn", params=CNN, seq_len=40), card=card)
    none = MotifResults(patterns=[], matches=pd.DataFrame(), best=pd.DataFrame(), database={}, collections=[],
                        sites=pd.DataFrame())

    def page(c: SavedModelConfig) -> str:
        return report_page(c, "expression", "saliency", 3, [], [], pd.DataFrame(), [], none, None)

    assert f"<b>{card.name}</b> version {card.version}" in page(cfg) and "Rafi AM" in page(cfg) and "MIT" in page(cfg)
    assert "model-card" not in page(cfg.model_copy(update={"card": None}))


def test_yeast_zoo_model_scores_a_vcf_on_its_genes_with_the_shipped_table(mirror, tmp_path):
    """``variants zoo:yeast-log-tpm VCF --genome`` needs nothing else: the gene table ships with the model."""
    import gzip

    genome = mirror / "yeast_genome" / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz"
    genes = pd.read_csv(package_dir() / "weights" / "yeast-log-tpm" / "genes.tsv.gz", sep="\t")
    gene = genes[(genes["chromosome"] == "XV") & (genes["strand"] == "+")].iloc[0]
    with gzip.open(genome, "rt") as fh:  # the reference base 100 bp before the gene's start codon
        seq, keep = [], False
        for line in fh:
            if line.startswith(">"):
                if keep:
                    break
                keep = line[1:].split()[0] == "XV"
            elif keep:
                seq.append(line.strip())
    chrom = "".join(seq)
    pos = int(gene["tss"]) - 100  # 0-based -> the VCF's 1-based position is pos + 1
    ref = chrom[pos]
    (tmp_path / "v.vcf").write_text("##fileformat=VCFv4.2\n##contig=<ID=XV>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\t"
                                    f"INFO\nXV\t{pos + 1}\tsnv1\t{ref}\t{'A' if ref != 'A' else 'C'}\t.\tPASS\t.\n")
    res = runner.invoke(app, ["variants", "zoo:yeast-log-tpm", str(tmp_path / "v.vcf"), "--genome", str(genome),
                              "--background", "20", "--attributions", "none", "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    table = pd.read_csv(tmp_path / "out" / "variants.tsv", sep="\t")
    assert gene["id"] in set(table["gene_id"]) and table["effect_log_tpm"].notna().all()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["model_card"]["name"] == "yeast-log-tpm"
