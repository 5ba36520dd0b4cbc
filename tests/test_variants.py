"""Variant effects on a synthetic genome: scoring through a VCF equals predicting the edited window directly
(the edited genome, the annotation lifted over it), for SNVs, MNVs, insertions and deletions on both strands and
on both sides of each window anchor; centred windows in a construct; clear errors for bad records; the annotated
VCF; sequence pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.data.errors import DataError
from seq2expr.data.genome.build import GeneOptions, build_gene_dataset
from seq2expr.data.genome.fasta import Genome
from seq2expr.data.genome.windows import WindowSpec, gene_window
from seq2expr.inference import SavedModelConfig, load_model, predict, save_model
from seq2expr.models import build_model
from seq2expr.variants import ScoreOptions, VariantScorer, score_pairs, score_variants
from seq2expr.variants.score import LOGO_METHODS

SPEC = WindowSpec(upstream=60, downstream=40, tts_upstream=30, tts_downstream=50, spacer=5)  # 185 bp
CNN = {"channels": [8], "kernel_sizes": 5, "pool_sizes": [5], "convs_per_block": 1, "dropout": 0.0, "hidden": [8],
       "head_dropout": 0.0}
HEADER = "##fileformat=VCFv4.2\n{contigs}#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
runner = CliRunner()


def _genome(root: Path, seed: int = 0) -> dict[str, str]:
    """Two random chromosomes with 300-bp genes 1 kb apart on alternating strands, a GTF and a counts table."""
    rng = np.random.default_rng(seed)
    chroms = {f"chr{c}": "".join(rng.choice(list("ACGT"), 8000)) for c in (1, 2)}
    (root / "genome.fa").write_text("".join(f">{k}\n{v}\n" for k, v in chroms.items()))
    gtf, counts = [], []
    for c in chroms:
        for j in range(7):
            s, strand, gid = 1000 * j + 500, "+-"[j % 2], f"{c}_g{j}"
            gtf.append(f'{c}\tt\tgene\t{s + 1}\t{s + 300}\t.\t{strand}\t.\tgene_id "{gid}"; '
                       'gene_biotype "protein_coding";')
            counts.append(f"{gid}\t{int(rng.integers(1, 500))}")
    (root / "genes.gtf").write_text("\n".join(gtf) + "\n")
    (root / "counts.tsv").write_text("gene\trep1\n" + "\n".join(counts) + "\n")
    return chroms


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """Genome, gene windows built by `data genes`, and a model trained on them (so it records the windows)."""
    from seq2expr.training import train

    root = tmp_path_factory.mktemp("variants")
    chroms = _genome(root)
    build_gene_dataset(root / "genome.fa", root / "genes.gtf", root / "counts.tsv", GeneOptions(windows=SPEC),
                       out=root / "ds", cache=root / "cache")
    torch.manual_seed(0)
    model_dir = train(_run_config(root), progress=False)
    table = pd.read_parquet(root / "ds" / "genes.parquet").set_index("id")
    return {"root": root, "chroms": chroms, "model": load_model(model_dir), "genes": table}


def _run_config(root: Path):
    from seq2expr.config import load_config

    return load_config(None, [f"data.path={root / 'ds' / 'genes.parquet'}", "data.id_column=id",
                              "data.target_columns=[log_tpm]", f"data.cache_dir={root / 'cache'}",
                              "data.split={method: random, valid_fraction: 0.2, test_fraction: 0.1}",
                              "model.name=cnn", f"model.params={json.dumps(CNN)}", "train.epochs=1",
                              "train.threads=1", "train.precise_bn=0", f"output_dir={root / 'run'}"])


def _vcf(path: Path, rows: list[tuple], chroms: dict[str, str] | None = None) -> Path:
    contigs = "".join(f"##contig=<ID={k},length={len(v)}>\n" for k, v in (chroms or {}).items())
    body = "".join("\t".join(map(str, (c, p, i, r, a, ".", ".", "."))) + "\n" for c, p, i, r, a in rows)
    path.write_text(HEADER.format(contigs=contigs) + body)
    return path


def _alleles(chroms: dict[str, str], genes: pd.DataFrame) -> list[tuple]:
    """SNV, MNV, insertion and deletion on both sides of every anchor of a plus and a minus gene."""
    rows = []
    for n, gid in enumerate(("chr1_g2", "chr1_g3", "chr2_g4", "chr2_g1")):
        g = genes.loc[gid]
        chrom, tss, tts = g["chromosome"], int(g["tss"]), int(g["tts"])
        plus = g["strand"] == "+"
        spots = [tss - 30, tss + 10, tts - 20, tts + 20] if plus else [tss - 20, tss + 30, tts - 30, tts + 10]
        seq = chroms[chrom]
        for k, p0 in enumerate(spots):
            kind = ("snv", "mnv", "insertion", "deletion")[(k + n) % 4]  # every kind at every spot
            ref = seq[p0:p0 + (1 if kind in ("snv", "insertion") else 3 if kind == "mnv" else 4)]
            shifted = "".join("ACGT"[("ACGT".index(b) + 1 + (kind == "mnv")) % 4] for b in ref)
            alt = {"snv": shifted, "mnv": shifted, "insertion": ref + "GATTC", "deletion": ref[0]}[kind]
            rows.append((chrom, p0 + 1, f"{gid}:{k}", ref, alt))
    return rows


def _oracle(world: dict, tmp: Path, chrom: str, p0: int, ref: str, alt: str, gid: str) -> tuple[float, float]:
    """Predictions of the reference window and of the window read from the edited genome, with the gene's TSS and
    TTS lifted over the edit (moved by the length change when the edit lies before them)."""
    g = world["genes"].loc[gid]
    seq = world["chroms"][chrom]
    delta, p1 = len(alt) - len(ref), p0 + len(ref)
    edited = {**world["chroms"], chrom: seq[:p0] + alt + seq[p1:]}
    (tmp / "alt.fa").write_text("".join(f">{k}\n{v}\n" for k, v in edited.items()))
    tss, tts, plus = int(g["tss"]), int(g["tts"]), g["strand"] == "+"
    tss_b, tts_b = (tss, tts + 1) if plus else (tss + 1, tts)  # the boundary each position is anchored at
    lifted = (tss + delta if p1 <= tss_b else tss, tts + delta if p1 <= tts_b else tts)
    alt_g = Genome(tmp / "alt.fa", cache=tmp / "cache")
    ref_g = Genome(world["root"] / "genome.fa", cache=tmp / "cache")
    try:
        windows = [gene_window(ref_g, chrom, g["strand"], tss, tts, SPEC)[0],
                   gene_window(alt_g, chrom, g["strand"], *lifted, SPEC)[0]]
    finally:
        alt_g.close()
        ref_g.close()
    pred = predict(world["model"], windows)[:, 0]
    return float(pred[0]), float(pred[1])


def test_model_trained_on_gene_windows_records_them(world):
    w = world["model"].config.windows
    assert w is not None and w.windows == SPEC and w.table.endswith("genes.parquet") and w.annotation.endswith(".gtf")


def test_vcf_scores_equal_the_edited_windows(world, tmp_path):
    rows = _alleles(world["chroms"], world["genes"])
    vcf = _vcf(tmp_path / "v.vcf", rows, world["chroms"])
    out = score_variants(world["model"], vcf, world["root"] / "genome.fa", ScoreOptions(background=300))
    assert set(out["kind"]) == {"snv", "mnv", "insertion", "deletion"}
    assert set(out["strand"]) == {"+", "-"}
    for gid, r in zip([x[2].split(":")[0] for x in rows], out.drop_duplicates("id").itertuples(), strict=True):
        hit = out[(out["id"] == r.id) & (out["gene_id"] == gid)]
        assert len(hit) == 1, (r.id, out[out["id"] == r.id]["gene_id"].tolist())
        ref, alt = _oracle(world, tmp_path, r.chrom, r.pos - 1, r.ref, r.alt, gid)
        np.testing.assert_allclose(hit["ref_log_tpm"].iloc[0], ref, atol=1e-6)
        np.testing.assert_allclose(hit["effect_log_tpm"].iloc[0], alt - ref, atol=1e-6, err_msg=f"{r.id} {r.kind}")
    assert (out["effect_log_tpm"].abs() > 1e-5).mean() > 0.5  # the windows really changed
    p = out["percentile_log_tpm"].to_numpy()
    order = np.argsort(out["effect_log_tpm"].abs().to_numpy())
    assert ((p >= 0) & (p <= 100)).all() and (np.diff(p[order]) >= 0).all()  # ranks follow |effect|


def test_centred_windows_in_a_construct(tmp_path):
    rng = np.random.default_rng(3)
    chroms = {"I": "".join(rng.choice(list("ACGT"), 2000))}
    (tmp_path / "g.fa").write_text(f">I\n{chroms['I']}\n")
    torch.manual_seed(1)
    params = {**CNN, "pool_sizes": [4]}
    save_model(tmp_path / "m", build_model("cnn", seq_len=60, **params).eval(),
               SavedModelConfig(model={"name": "cnn", "params": params, "seq_len": 60}, target_names=["y"]))
    model = load_model(tmp_path / "m")
    left, right = "TTTTTGCA", "GGTTAC"  # 60 = 8 + 46 variable + 6
    seq = chroms["I"]
    rows = [("I", 700, "a", seq[699], "ACGT"[("ACGT".index(seq[699]) + 1) % 4]),
            ("I", 900, "b", seq[899], seq[899] + "TTAGG"), ("I", 1100, "c", seq[1099:1105], seq[1099])]
    df = pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"])
    out = score_variants(model, df, tmp_path / "g.fa", ScoreOptions(mode="centred", construct=(left, right),
                                                                    background=100))
    V = 60 - len(left) - len(right)
    for r in out.itertuples():
        p0, p1 = r.pos - 1, r.pos - 1 + len(r.ref)
        edited = seq[:p0] + r.alt + seq[p1:]
        ref_win = left + seq[p0 - (V - len(r.ref)) // 2:][:V] + right  # each allele centred in the variable part
        alt_win = left + edited[p0 - (V - len(r.alt)) // 2:][:V] + right
        exp = predict(model, [ref_win, alt_win])[:, 0]
        np.testing.assert_allclose([r.ref_y, r.effect_y], [exp[0], exp[1] - exp[0]], atol=1e-6)


def test_multiallelic_split_and_annotated_vcf(world, tmp_path):
    import pysam

    seq = world["chroms"]["chr1"]
    g = world["genes"].loc["chr1_g2"]
    p0 = int(g["tss"]) + 5
    alts = [b for b in "ACGT" if b != seq[p0]]
    vcf = _vcf(tmp_path / "m.vcf", [("chr1", p0 + 1, "multi", seq[p0], ",".join(alts[:2])),
                                    ("chr1", p0 + 3, "sym", seq[p0 + 2], "<DEL>")], world["chroms"])
    res = runner.invoke(app, ["variants", str(world["root"] / "run" / "model"), str(vcf), "--genome",
                              str(world["root"] / "genome.fa"), "-o", str(tmp_path / "out"), "--background", "50",
                              "--top", "2", "--attributions", "saliency"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "out" / "variants.tsv", sep="\t")
    assert table["id"].tolist() == ["multi", "multi"] and table["alt"].tolist() == alts[:2]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["skipped"] == {"symbolic": 1} and summary["scored_alleles"] == 2
    with pysam.VariantFile(str(tmp_path / "out" / "variants.vcf.gz")) as out:
        assert "S2E_log_tpm" in out.header.info
        recs = list(out)
    assert [r.id for r in recs] == ["multi", "sym"]
    values = recs[0].info["S2E_log_tpm"]
    assert len(values) == 2 and values[0].startswith(f"{alts[0]}|chr1_g2|")
    effect = float(values[1].split("|")[2])
    assert effect == pytest.approx(table["effect_log_tpm"].iloc[1], abs=1e-3)
    assert "S2E_log_tpm" not in recs[1].info
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "img").is_dir()
    page = (tmp_path / "out" / "report.html").read_text()
    assert ">nan<" not in page  # a gene without a name shows as -
    for k, alt in enumerate(alts[:2]):  # one figure per top variant (ref above alt), headed by gene and alleles
        assert (tmp_path / "out" / "img" / f"top{k}.png").is_file() and f"multi chr1_g2 {seq[p0]}&gt;{alt}" in page


def test_bad_records_name_file_line_and_reason(world, tmp_path):
    genome = world["root"] / "genome.fa"
    seq = world["chroms"]["chr1"]
    p0 = int(world["genes"].loc["chr1_g2", "tss"])
    wrong = "ACGT"[("ACGT".index(seq[p0]) + 1) % 4]
    vcf = _vcf(tmp_path / "mm.vcf", [("chr1", p0 + 1, "ok", seq[p0], wrong), ("chr1", p0 + 2, "bad", wrong, "A")])
    wrong2 = "ACGT"[("ACGT".index(seq[p0 + 1]) + 1) % 4]
    vcf.write_text(vcf.read_text().replace(f"bad\t{wrong}\t", f"bad\t{wrong2}\t"))
    with pytest.raises(DataError, match=rf"mm.vcf: record line 4: REF '{wrong2}' but the genome has '{seq[p0 + 1]}' "
                                        rf"at chr1:{p0 + 2}"):
        score_variants(world["model"], vcf, genome)
    out = score_variants(world["model"], vcf, genome, ScoreOptions(on_ref_mismatch="skip", background=0))
    assert out["id"].tolist() == ["ok"] and out.attrs["summary"]["skipped"] == {"ref_mismatch": 1}

    unknown = _vcf(tmp_path / "u.vcf", [("chr1", p0 + 1, "ok", seq[p0], wrong), ("chrX", 10, "x", "A", "C")])
    with pytest.raises(DataError, match=r"u.vcf: record line 4: chromosome 'chrX' is not in the genome"):
        score_variants(world["model"], unknown, genome)
    renamed = _vcf(tmp_path / "r.vcf", [("1", p0 + 1, "ok", seq[p0], wrong)])
    with pytest.raises(DataError, match=r"no chromosome of the variants is in the genome .*variants have \['1'\], "
                                        r"the genome has \['chr1', 'chr2'\]"):
        score_variants(world["model"], renamed, genome)
    out = score_variants(world["model"], renamed, genome, ScoreOptions(match_chromosomes=True, background=0))
    assert out["id"].tolist() == ["ok"] and out["chrom"].tolist() == ["1"]

    broken = tmp_path / "b.vcf"
    broken.write_text(HEADER.format(contigs="") + f"chr1\t{p0 + 1}\tok\t{seq[p0]}\t{wrong}\t.\t.\t.\nchr1\tabc\tx\tA\tC"
                      "\t.\t.\t.\n")
    with pytest.raises(DataError, match=r"b.vcf: record line 4: POS 'abc' is not a position"):
        score_variants(world["model"], broken, genome)
    res = runner.invoke(app, ["variants", str(world["root"] / "run" / "model"), str(broken), "--genome", str(genome),
                              "-o", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "b.vcf: record line 4" in res.output and not (tmp_path / "nope").exists()
    assert "Traceback" not in res.output


def test_variant_table_and_scorer_reuse_reference_windows(world, tmp_path):
    rows = _alleles(world["chroms"], world["genes"])[:8]
    table = tmp_path / "v.tsv"
    pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"]).to_csv(table, sep="\t", index=False)
    scorer = VariantScorer(world["model"], world["root"] / "genome.fa", ScoreOptions(background=0))
    first = pd.concat([t for t, _ in scorer.run(table, chunk_size=3)])
    assert len(scorer.strategy.refs) == 2  # two genes hit: each reference window predicted once
    again = score_variants(world["model"], _vcf(tmp_path / "v.vcf", rows), world["root"] / "genome.fa",
                           ScoreOptions(background=0))
    np.testing.assert_allclose(first["effect_log_tpm"], again["effect_log_tpm"], atol=1e-7)


def test_sequence_pairs(world, tmp_path):
    rng = np.random.default_rng(1)
    ref = ["".join(rng.choice(list("ACGT"), SPEC.length)) for _ in range(5)]
    alt = [s[:90] + "ACGT"[("ACGT".index(s[90]) + 1) % 4] + s[91:] for s in ref]
    pairs = pd.DataFrame({"id": [f"p{i}" for i in range(5)], "ref_sequence": ref, "alt_sequence": alt})
    out = score_pairs(world["model"], pairs)
    exp = predict(world["model"], alt)[:, 0] - predict(world["model"], ref)[:, 0]
    np.testing.assert_allclose(out["effect_log_tpm"], exp, atol=1e-7)
    pairs.to_csv(tmp_path / "pairs.tsv", sep="\t", index=False)
    res = runner.invoke(app, ["variants", str(world["root"] / "run" / "model"), str(tmp_path / "pairs.tsv"),
                              "--mode", "pairs", "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    written = pd.read_csv(tmp_path / "out" / "variants.tsv", sep="\t")
    np.testing.assert_allclose(written["effect_log_tpm"], exp, rtol=1e-4, atol=1e-6)


def test_sharded_variant_runs_merge_to_the_single_run(world, tmp_path):
    """--shard K/N splits the VCF records into contiguous parts; `seq2expr merge` joins the folders: the same table
    (rows, order and values; the last float digit may differ as predictions are batched differently), the same
    annotated VCF records, summed counts."""
    import pysam

    vcf = _vcf(tmp_path / "v.vcf", _alleles(world["chroms"], world["genes"]), world["chroms"])
    base = ["variants", str(world["root"] / "run" / "model"), str(vcf), "--genome", str(world["root"] / "genome.fa"),
            "--background", "50", "--attributions", "none", "--chunk-size", "3"]
    assert runner.invoke(app, [*base, "-o", str(tmp_path / "one")]).exit_code == 0
    for k in range(3):
        res = runner.invoke(app, [*base, "-o", str(tmp_path / f"s{k}"), "--shard", f"{k}/3"])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["merge", str(tmp_path / "all"), *(str(tmp_path / f"s{k}") for k in (1, 2, 0))])
    assert res.exit_code == 0, res.output
    one, merged = tmp_path / "one", tmp_path / "all"
    t1, t2 = (pd.read_csv(d / "variants.tsv", sep="\t") for d in (one, merged))
    floats = [c for c in t1.columns if t1[c].dtype.kind == "f"]
    pd.testing.assert_frame_equal(t1.drop(columns=floats), t2.drop(columns=floats))
    np.testing.assert_allclose(t1[floats].to_numpy(), t2[floats].to_numpy(), atol=1e-5)
    with pysam.VariantFile(str(one / "variants.vcf.gz")) as a, pysam.VariantFile(str(merged / "variants.vcf.gz")) as b:
        ra, rb = list(a), list(b)
    assert [(r.chrom, r.pos, r.id, r.alts, "S2E_log_tpm" in r.info) for r in ra] == \
        [(r.chrom, r.pos, r.id, r.alts, "S2E_log_tpm" in r.info) for r in rb]
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, merged))
    for k in ("records", "alleles", "scored_alleles", "rows", "skipped", "kinds"):
        assert s1[k] == s2[k], k
    assert (merged / "report.html").is_file()


def test_snv_background_is_computed_once_per_model_genome_and_settings(world, tmp_path, monkeypatch):
    """Gene mode: the second run of the same model and genome reuses the cached background (same percentiles); other
    settings, or a cache file that does not check out, compute it afresh."""
    monkeypatch.setenv("SEQ2EXPR_CACHE", str(tmp_path / "cache"))
    rows = _alleles(world["chroms"], world["genes"])[:6]
    table = tmp_path / "v.tsv"
    pd.DataFrame(rows, columns=["chrom", "pos", "id", "ref", "alt"]).to_csv(table, sep="\t", index=False)

    def run(**kw) -> tuple[pd.DataFrame, dict]:
        scorer = VariantScorer(world["model"], world["root"] / "genome.fa", ScoreOptions(**{"background": 250, **kw}))
        return pd.concat([t for t, _ in scorer.run(table)]), scorer.report()

    first, rep1 = run()
    files = sorted((tmp_path / "cache" / "variants").glob("*.safetensors"))
    n = rep1["background_snvs"]  # SNVs drawn on N positions (the spacer) are not counted
    assert not rep1["background_reused"] and 200 < n <= 250 and len(files) == 1
    second, rep2 = run()
    assert rep2["background_reused"] and rep2["background_snvs"] == n
    np.testing.assert_allclose(second["percentile_log_tpm"], first["percentile_log_tpm"], atol=1e-9)
    np.testing.assert_allclose(second["effect_log_tpm"], first["effect_log_tpm"], atol=1e-6)
    _, rep3 = run(seed=1)  # another sample: another key
    assert not rep3["background_reused"] and len(list((tmp_path / "cache" / "variants").glob("*.safetensors"))) == 2
    data = bytearray(files[0].read_bytes())
    data[-4:] = b"\x00\x00\x80\x7f"  # the last effect becomes +inf: the checksum no longer matches
    files[0].write_bytes(bytes(data))
    third, rep4 = run()
    assert not rep4["background_reused"]
    np.testing.assert_allclose(third["percentile_log_tpm"], first["percentile_log_tpm"], atol=1e-9)


def test_fold_change_is_on_the_linear_scale_and_named(world, tmp_path):
    """log_tpm = log1p(TPM): log2fc is log2 of the TPM ratio (expm1 of the predictions), never a ratio of logs; a
    target with no known linear scale gets no fold change; summary.json names each column's scale."""
    from seq2expr.data.targets import TargetTransform

    model = load_model(world["root"] / "run" / "model")  # its predictions moved to about log1p(TPM) = 4
    model.config.target_transform = TargetTransform(kind="none", standardize=True, mean=[4.0], std=[1.0])
    rows = _alleles(world["chroms"], world["genes"])[:8]
    out = score_variants(model, _vcf(tmp_path / "v.vcf", rows), world["root"] / "genome.fa", ScoreOptions(background=0))
    assert not any(c.startswith("log2_ratio") for c in out.columns)
    tpm_ref, tpm_alt = np.expm1(out["ref_log_tpm"].to_numpy(float)), np.expm1(out["alt_log_tpm"].to_numpy(float))
    ok = (tpm_ref > 0) & (tpm_alt > 0)
    assert ok.all()
    assert np.abs(out["log2fc_log_tpm"] - np.log2(out["alt_log_tpm"] / out["ref_log_tpm"])).max() > 1e-3
    np.testing.assert_allclose(out["log2fc_log_tpm"].to_numpy()[ok], np.log2(tpm_alt[ok] / tpm_ref[ok]), rtol=1e-5)
    assert out["log2fc_log_tpm"][~ok].isna().all()
    columns = out.attrs["summary"]["columns"]
    assert "TPM = expm1(log_tpm)" in columns["log2fc_log_tpm"] and "percentile_log_tpm" not in columns
    # a target on no known linear scale (a plain "y", no log transform): no fold change at all
    torch.manual_seed(1)
    save_model(tmp_path / "m", build_model("cnn", seq_len=60, **{**CNN, "pool_sizes": [4]}).eval(),
               SavedModelConfig(model={"name": "cnn", "params": {**CNN, "pool_sizes": [4]}, "seq_len": 60},
                                target_names=["y"]))
    pairs = pd.DataFrame({"ref_sequence": ["ACGT" * 15], "alt_sequence": ["TCGT" + "ACGT" * 14]})
    assert not [c for c in score_pairs(tmp_path / "m", pairs).columns if "log2" in c]
    assert "log2fc_log_tpm" in score_pairs(model, pd.DataFrame(
        {"ref_sequence": [world["genes"]["sequence"].iloc[0]], "alt_sequence": [world["genes"]["sequence"].iloc[1]]}))


def test_slow_run_reports_its_rate(world, tmp_path, monkeypatch):
    """alleles_per_second keeps 3 significant digits: a slow run is not reported as 0.0 alleles a second."""
    import itertools
    import types

    from seq2expr.variants import VariantScorer, output

    clock = itertools.count(0, 500.0)  # each reading of the clock is 500 s later
    monkeypatch.setattr(output, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    rows = _alleles(world["chroms"], world["genes"])[:4]
    scorer = VariantScorer(world["model"], world["root"] / "genome.fa", ScoreOptions(background=0))
    summary = output.write_variant_outputs(scorer, _vcf(tmp_path / "v.vcf", rows), tmp_path / "out",
                                           attributions="none")
    assert summary["seconds"] >= 500 and summary["alleles"] == 4
    assert summary["alleles_per_second"] > 0
    assert summary["alleles_per_second"] == pytest.approx(4 / summary["seconds"], rel=0.01)


def test_api_takes_the_command_line_option_names(world, tmp_path):
    """ScoreOptions, which score_variants/VariantScorer take, has the `variants` command's option names (`-` as
    `_`), e.g. `--attributions none` and `--top`; a wrong value is one ValueError listing what there is."""
    from dataclasses import fields

    import typer

    from seq2expr.cli.main import app
    from seq2expr.variants import output

    command = typer.main.get_command(app).commands["variants"]
    assert {f.name for f in fields(ScoreOptions)} - {"readout"} <= {p.name for p in command.params}
    assert "--readout" in next(p for p in command.params if p.name == "target").opts

    rows = _alleles(world["chroms"], world["genes"])[:3]
    vcf, genome = _vcf(tmp_path / "v.vcf", rows), world["root"] / "genome.fa"
    assert len(score_variants(world["model"], vcf, genome, ScoreOptions(background=0, attributions="none", top=2)))
    scorer = VariantScorer(world["model"], genome, ScoreOptions(background=0, attributions="none"))
    output.write_variant_outputs(scorer, vcf, tmp_path / "out")
    assert not (tmp_path / "out" / "attributions.npz").exists()  # the scorer's own "none": no logos
    with pytest.raises(ValueError, match="attributions must be one of " + ", ".join(LOGO_METHODS)):
        score_variants(world["model"], vcf, genome, ScoreOptions(attributions="shap"))
