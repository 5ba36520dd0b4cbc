"""Promoter + distal data sets from chromatin loops (DeepCBA): the BEDPE and gene-pair readers on good and broken
files, the K-slot and per-interaction builds on a small genome (distal windows read in the gene's orientation,
counts, leakage), variants in a distal anchor scored on the genes it loops to, and on the real yeast genome a
planted distal activator that only the promoter + distal model can use."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.data.errors import DataError
from seq2expr.data.genome.build import GeneOptions, build_gene_dataset
from seq2expr.data.genome.interactions import InteractionOptions
from seq2expr.data.genome.windows import WindowSpec
from seq2expr.data.io.interactions import read_bedpe, read_gene_pairs
from seq2expr.data.sequences import reverse_complement

SPEC = WindowSpec.single(300, 200)  # 200 bases before the TSS, 100 from it
W, K = 200, 2
runner = CliRunner()


def _world(root: Path, seed: int = 0) -> dict:
    """Three random 40-kb chromosomes (FASTA names I, II, III) with a 600-bp gene every 3 kb on alternating strands,
    a GTF, counts, and loops written with chrI-style names. Gene j starts at 1500 + 3000 j; the free regions used as
    distal anchors (D1, D2, D3) lie between genes, clear of every promoter window."""
    rng = np.random.default_rng(seed)
    chroms = {c: "".join(rng.choice(list("ACGT"), 40_000)) for c in ("I", "II", "III")}
    (root / "genome.fa").write_text("".join(f">{k}\n{v}\n" for k, v in chroms.items()))
    gtf, counts, tss = [], ["gene\trep1\trep2"], {}
    for c in chroms:
        for j in range(12):
            s, strand, gid = 1500 + 3000 * j, "+-"[j % 2], f"{c}_g{j}"
            tss[gid] = s if strand == "+" else s + 599
            gtf.append(f'{c}\tt\tgene\t{s + 1}\t{s + 600}\t.\t{strand}\t.\tgene_id "{gid}"; '
                       'gene_biotype "protein_coding";')
            counts.append(f"{gid}\t{int(rng.integers(1, 500))}\t{int(rng.integers(1, 500))}")
    (root / "genes.gtf").write_text("\n".join(gtf) + "\n")
    (root / "counts.tsv").write_text("\n".join(counts) + "\n")
    a, b, c = tss["I_g0"], tss["I_g3"], tss["II_g0"]
    loops = [  # name: A = I_g0 (+), B = I_g3 (-), C = II_g0 (+); D1 3000-3400, D2 6000-6400, D3 9000-9400 on I
        ("chrI", a - 50, a + 50, "chrI", 3000, 3400, "L1", 10),
        ("chrI", 6000, 6400, "chrI", a - 50, a + 50, "L2", 30),  # the promoter is the second anchor
        ("chrI", a - 50, a + 50, "chrI", 9000, 9400, "L3", 5),  # A's third region: cut by K = 2
        ("chrI", b - 50, b + 50, "chrI", 3000, 3400, "L4", 7),  # D1 shared by A and B ...
        ("chrII", c - 50, c + 50, "chrI", 3000, 3400, "L5", 3),  # ... and by C, on another chromosome (trans)
        ("chrUn", 10, 100, "chrI", 3000, 3400, "L6", 1),  # unknown chromosome
        ("chrI", 6000, 6400, "chrI", 9000, 9400, "L7", 9),  # no promoter
        (".", -1, -1, "chrI", 3000, 3400, "L8", 1),  # unplaced
        ("chrI", a - 50, a + 50, "chrI", 3000, 3400, "L9", 12),  # L1 again, a higher score
    ]
    (root / "loops.bedpe").write_text("#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\tname\tscore\n" + "".join(
        "\t".join(map(str, r)) + "\n" for r in loops))
    return {"root": root, "chroms": chroms, "tss": tss}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    return _world(tmp_path_factory.mktemp("loops"))


def _build(world: dict, out: str | None = None, **loops):
    root = world["root"]
    opts = GeneOptions(windows=SPEC, interactions=InteractionOptions(loops.pop("path", root / "loops.bedpe"),
                                                                     window=W, **loops))
    return build_gene_dataset(root / "genome.fa", root / "genes.gtf", root / "counts.tsv", opts,
                              out=None if out is None else root / out, cache=root / "cache")


def test_k_slot_build_reads_distal_windows_in_the_gene_orientation(world):
    table, report = _build(world, max_distal=K)
    t = table.set_index("id")
    chrom_i = world["chroms"]["I"]
    d1, d2 = chrom_i[3100:3300], chrom_i[6100:6300]  # W bases centred on each anchor
    gap, empty = "N" * 20, "N" * W
    assert t.loc["I_g0", "distal_sequence"] == d2 + gap + d1  # strongest first; D3 cut by K
    assert t.loc["I_g0", "distal_regions"] == "I:6100-6300;I:3100-3300" and t.loc["I_g0", "loops"] == "L2;L9"
    assert t.loc["I_g0", "interactions"] == 3 and t.loc["I_g0", "distal_slots"] == 2
    assert t.loc["I_g0", "distal_score"] == 30
    assert t.loc["I_g3", "distal_sequence"] == reverse_complement(d1) + gap + empty  # minus strand: read reversed
    assert t.loc["II_g0", "distal_sequence"] == d1 + gap + empty  # a trans loop
    assert t.loc["I_g0", "dual_sequence"] == t.loc["I_g0", "sequence"] + "N" * 20 + t.loc["I_g0", "distal_sequence"]
    without = t[~t["has_distal"]]
    assert len(without) == 33 and (without["distal_sequence"] == empty + gap + empty).all()
    assert table["dual_sequence"].str.len().nunique() == 1 and len(table) == 36
    rep = report["interactions"]
    assert rep["skipped"] == {"unplaced": 1, "unknown_chromosome": 1, "no_promoter_anchor": 1, "duplicate": 1}
    assert rep["chromosomes"]["renamed"]["chrI"] == "I" and rep["trans_links"] == 1
    assert rep["genes_with_interactions"] == 3 and rep["genes_without_interactions_kept_empty"] == 33
    assert rep["slots_filled"] == {"0": 33, "1": 2, "2": 1}
    # D1 is used by genes on chromosomes I and II: a chromosome split can put it on both sides
    assert rep["leakage"]["across_chromosomes"] == {"regions": 1, "rows": 3}
    assert rep["leakage"]["regions_of_several_genes"] == 1
    assert report["dual"] == {"column": "dual_sequence", "branch_lengths": [300, 2 * W + 20], "spacer": 20,
                              "seq_len": 300 + 20 + 2 * W + 20}


def test_per_interaction_build_and_dropping_genes_without_loops(world):
    table, report = _build(world, policy="per-interaction", no_interaction="drop")
    assert sorted(table["id"]) == sorted(["I_g0|I:6100-6300", "I_g0|I:3100-3300", "I_g0|I:9100-9300",
                                          "I_g3|I:3100-3300", "II_g0|I:3100-3300"])
    assert (table.groupby("gene_id")["log_tpm"].nunique() == 1).all()  # every row keeps its gene's target
    assert set(table["gene_id"]) == {"I_g0", "I_g3", "II_g0"} and table["has_distal"].all()
    assert table["distal_sequence"].str.len().eq(W).all()
    assert report["interactions"]["genes_without_interactions_dropped"] == 33 and report["kept"] == 5
    kept, _ = _build(world, policy="per-interaction")
    assert len(kept) == 5 + 33 and (~kept["has_distal"]).sum() == 33


def test_chromosome_folds_follow_the_gene(world):
    opts = GeneOptions(windows=SPEC, folds=3, interactions=InteractionOptions(world["root"] / "loops.bedpe",
                                                                              window=W, max_distal=K))
    table, report = build_gene_dataset(world["root"] / "genome.fa", world["root"] / "genes.gtf",
                                       world["root"] / "counts.tsv", opts, cache=world["root"] / "cache")
    row = table.set_index("id").loc["II_g0"]
    assert row["chromosome"] == "II" and row["distal_regions"].startswith("I:")  # its sample stays with chr II
    assert report["interactions"]["leakage"]["across_folds"]["regions"] == 1


def test_deepcba_gene_pair_table(world, tmp_path):
    """DeepCBA's public layout (Annotation1, Annotation2, ChIN, ID): duplicates, a self pair and a gene the
    annotation lacks, as in the authors' maize files (rows written here)."""
    path = tmp_path / "ear.csv"
    path.write_text("Annotation1,Annotation2,ChIN,ID\nI_g0,I_g5,103,0\nI_g0,I_g5,103,1\nI_g2,I_g2,103,2\n"
                    "I_g0,Zm00001d001766,60,3\nIII_g1,I_g7,15,4\n")
    pairs = read_gene_pairs(path)
    assert pairs.attrs["skipped"] == {"self": 1} and pairs.attrs["score_column"] == "ChIN"
    table, report = _build(world, path=path, max_distal=K)
    t = table.set_index("id")
    rep = report["interactions"]
    assert rep["format"] == "pairs" and rep["skipped"] == {"self": 1, "unknown_gene": 1, "duplicate": 1}
    assert rep["unknown_gene_examples"] == ["Zm00001d001766"]
    # each gene gets its partner's promoter window, centred on it, read in its own orientation
    g5 = world["tss"]["I_g5"]  # a minus gene: its promoter window is [tss - 99, tss + 201)
    centre = (g5 - 99 + g5 + 201) // 2
    assert t.loc["I_g0", "distal_sequence"].startswith(world["chroms"]["I"][centre - W // 2:centre + W // 2])
    g0 = world["tss"]["I_g0"]
    centre = (g0 - 200 + g0 + 100) // 2
    assert t.loc["I_g5", "distal_sequence"].startswith(
        reverse_complement(world["chroms"]["I"][centre - W // 2:centre + W // 2]))
    assert t.loc["III_g1", "loops"] == "III_g1~I_g7" and t.loc["I_g7", "distal_score"] == 15


def test_readers_take_headers_gzip_and_whitespace(tmp_path):
    text = "chr1\t100\t200\tchr1\t5000\t5100\tloopA\t7.5\t+\t-\nchr1 300 400 chr2 10 20 . . + -\n"
    (tmp_path / "a.bedpe.gz").write_bytes(gzip.compress(text.encode()))
    df = read_bedpe(tmp_path / "a.bedpe.gz")
    assert df["name"].tolist() == ["loopA", "loop2"] and df["score"].tolist() == [7.5, 1.0]
    assert df.attrs["score_column"] == 8 and df[["start1", "end2"]].values.tolist() == [[100, 5100], [300, 20]]
    (tmp_path / "fit.bedpe").write_text("chr1\ts1\te1\tchr2\ts2\te2\tcc\tp\nchrI\t1\t9\tchrI\t50\t60\t12\t0.01\n")
    assert read_bedpe(tmp_path / "fit.bedpe")["score"].tolist() == [12.0]  # FitHiChIP: the cc column
    (tmp_path / "p.tsv").write_text("G1\tG2\t4\nG3\tG1\t2\n")
    pairs = read_gene_pairs(tmp_path / "p.tsv")
    assert pairs[["gene1", "gene2", "score"]].values.tolist() == [["G1", "G2", 4.0], ["G3", "G1", 2.0]]


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("short.bedpe", "chrI\t1\t9\tchrI\t50\t60\nchrI\t1\t9\tchrI\t50\n", "line 2: 5 field(s)"),
    ("coord.bedpe", "chrI\t1\t9\tchrI\tfifty\t60\n", "line 1: coordinate 'fifty'"),
    ("order.bedpe", "chrI\t10\t9\tchrI\t50\t60\n", "line 1: anchor [10, 9)"),
    ("score.bedpe", "#c1\ts1\te1\tc2\ts2\te2\tname\tscore\nchrI\t1\t9\tchrI\t50\t60\tx\thigh\n", "line 2: score"),
    ("pairs.csv", "gene1,gene2,score\nI_g0,I_g1,3\nI_g0,,4\n", "line 3: empty gene name in column 2"),
    ("pairs3.tsv", "G1\tG2\t1\nG1\n", "line 2: 1 field(s)"),
    ("pairs2.csv", "Annotation1,Annotation2,ChIN\nI_g0,I_g1,many\n", "line 2: score 'many'"),
    ("nogenes.csv", "gene1,gene2\nZm1,Zm2\n", "no gene IDs in common with the annotation"),
])
def test_broken_interaction_files_one_line_exit_2(world, tmp_path, one_line_error, name, text, needle):
    path = tmp_path / name
    path.write_text(text)
    root = world["root"]
    res = runner.invoke(app, ["data", "genes", "--genome", str(root / "genome.fa"), "--annotation",
                              str(root / "genes.gtf"), "--expression", str(root / "counts.tsv"), "--single-window",
                              "300", "--interactions", str(path), "-o", str(tmp_path / "out")])
    err = one_line_error(res, needle)
    assert str(path) in err or name.startswith("nogenes")
    assert not (tmp_path / "out").exists()


def test_cli_builds_the_two_input_table(world, tmp_path):
    root = world["root"]
    res = runner.invoke(app, ["data", "genes", "--genome", str(root / "genome.fa"), "--annotation",
                              str(root / "genes.gtf"), "--expression", str(root / "counts.tsv"), "--single-window",
                              "300", "--single-upstream", "200", "--interactions", str(root / "loops.bedpe"),
                              "--distal-window", str(W), "--max-distal", "2", "-o", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    assert "3 genes with, 33 without" in res.output and "branch_lengths=[300, 420]" in res.output
    report = json.loads((tmp_path / "ds" / "report.json").read_text())
    assert report["inputs"]["interactions"] == str(root / "loops.bedpe")
    assert report["settings"]["interactions"]["max_distal"] == 2
    bad = runner.invoke(app, ["data", "genes", "--genome", str(root / "genome.fa"), "--annotation",
                              str(root / "genes.gtf"), "--expression", str(root / "counts.tsv"), "--interactions",
                              str(root / "loops.bedpe"), "--distal-policy", "all", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "slots, per-interaction" in bad.output


def test_missing_interaction_file_is_one_line(world, tmp_path):
    with pytest.raises(DataError, match="interaction file not found"):
        _build(world, path=tmp_path / "none.bedpe")


DUAL = {"branch_lengths": [300, 2 * W + 20], "spacer": 20, "channels": [8], "kernel_sizes": 5, "pool_sizes": [4],
        "convs_per_block": 1, "dropout": 0.0, "hidden": [8], "head_dropout": 0.0, "branch_pool": "max"}


@pytest.fixture(scope="module")
def dual_model(world) -> Path:
    """A dual model trained (one epoch) on the two-input table: it records the distal layout."""
    from seq2expr.config import load_config
    from seq2expr.training import train

    root = world["root"]
    _build(world, out="ds", max_distal=K)
    cfg = load_config(None, [f"data.path={root / 'ds' / 'genes.parquet'}", "data.id_column=id",
                             "data.sequence_column=dual_sequence", "data.target_columns=[log_tpm]",
                             f"data.cache_dir={root / 'enc'}", "data.split={method: random, valid_fraction: 0.2, "
                             "test_fraction: 0.2}", "model.name=dual", f"model.params={json.dumps(DUAL)}",
                             "train.epochs=1", "train.threads=1", "train.precise_bn=0", f"output_dir={root / 'run'}"])
    return train(cfg, progress=False)


def _edited_input(world: dict, row: pd.Series, p0: int, ref: str, alt: str) -> str:
    """The row's promoter + distal input read from the genome with the variant applied (the distal windows keep
    their coordinates: the edits here lie inside them, after their start)."""
    chroms = {**world["chroms"]}
    chroms["I"] = chroms["I"][:p0] + alt + chroms["I"][p0 + len(ref):]
    seq, minus = chroms[row["chromosome"]], row["strand"] == "-"
    tss = int(row["tss"])
    s, e = (tss - 99, tss + 201) if minus else (tss - 200, tss + 100)
    parts = [seq[s:e]]
    for item in filter(None, row["distal_regions"].split(";")):
        chrom, span = item.split(":")
        a, b = map(int, span.split("-"))
        parts.append(chroms[chrom][a:b])
    parts += ["N" * W] * (1 + K - len(parts))
    parts = [reverse_complement(p) if minus and "N" not in p else p for p in parts]
    return parts[0] + "N" * 20 + ("N" * 20).join(parts[1:])


def test_variants_in_a_distal_anchor_follow_its_loops(world, dual_model, tmp_path):
    from seq2expr.inference import load_model, predict
    from seq2expr.variants import score_variants

    saved = load_model(dual_model)
    distal = saved.config.windows.distal
    assert distal is not None and distal.column == "dual_sequence" and (distal.window, distal.slots) == (W, K)
    chrom_i = world["chroms"]["I"]
    tss4 = world["tss"]["I_g4"]  # a plus gene without loops
    sites = [("d1", 3200, 1), ("d2", 6200, 1), ("d3", 9200, 1), ("promoter", tss4 - 50, 1), ("del", 6150, 3)]
    rows = []
    for name, p0, n in sites:
        ref = chrom_i[p0:p0 + n]
        alt = ref[0] if n > 1 else "ACGT"[("ACGT".index(ref) + 1) % 4]
        rows.append(f"I\t{p0 + 1}\t{name}\t{ref}\t{alt}\t.\t.\t.\n")
    (tmp_path / "v.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                    + "".join(rows))
    out = score_variants(dual_model, tmp_path / "v.vcf", world["root"] / "genome.fa")
    got = {(r.id, r.gene_id): (r.input, r.loop) for r in out.itertuples()}
    assert got == {("d1", "I_g0"): ("distal", "L9"), ("d1", "I_g3"): ("distal", "L4"),
                   ("d1", "II_g0"): ("distal", "L5"), ("d2", "I_g0"): ("distal", "L2"),
                   ("del", "I_g0"): ("distal", "L2"), ("promoter", "I_g4"): ("promoter", "")}
    assert out.attrs["summary"]["skipped"] == {"outside_windows": 1}  # D3: A's third region, cut by K
    table = pd.read_parquet(world["root"] / "ds" / "genes.parquet").set_index("id")
    for r in out.itertuples():
        row = table.loc[r.gene_id]
        ref_pred, alt_pred = predict(saved, [row["dual_sequence"],
                                             _edited_input(world, row, r.pos - 1, r.ref, r.alt)])[:, 0]
        np.testing.assert_allclose([r.ref_log_tpm, r.effect_log_tpm], [ref_pred, alt_pred - ref_pred], atol=1e-5,
                                   err_msg=f"{r.id} on {r.gene_id}")


def test_predict_and_evaluate_read_the_two_input_table(world, dual_model, tmp_path):
    """The saved model reads the column it was trained on (dual_sequence) from the table the build wrote."""
    from seq2expr.evaluation import evaluate
    from seq2expr.inference import load_model, predict, predict_file

    table = world["root"] / "ds" / "genes.parquet"
    assert predict_file(dual_model, table, tmp_path / "pred.tsv") == 36
    pred = pd.read_csv(tmp_path / "pred.tsv", sep="\t").set_index("id")
    genes = pd.read_parquet(table).set_index("id")
    want = predict(load_model(dual_model), genes["dual_sequence"].tolist())[:, 0]
    np.testing.assert_allclose(pred.loc[genes.index].iloc[:, 0].to_numpy(), want, atol=1e-5)
    result = evaluate(dual_model, table, out_dir=tmp_path / "eval")
    assert result["n"] == 36 and (tmp_path / "eval" / "predictions.tsv").is_file()


def test_interpretation_report_has_a_row_per_pathway(world, dual_model, tmp_path):
    from seq2expr.interpret.report import ReportOptions, write_report

    report = write_report(dual_model, world["root"] / "ds" / "genes.parquet", tmp_path / "rep",
                          ReportOptions(method="saliency", max_seqs=36, n_top=2, n_background=20, max_gi_motifs=0,
                                        taxon="fungi"))
    summary = json.loads((report.parent / "summary.json").read_text())
    assert summary["pathways"].keys() == {"promoter", "distal"}
    assert (summary["pathways"]["distal"]["start"], summary["pathways"]["distal"]["end"]) == (320, 320 + 2 * W + 20)
    assert {f.name for f in (report.parent / "img").glob("seq_0_*.png")} == {"seq_0_promoter.png",
                                                                             "seq_0_distal.png"}
    assert "· distal" in report.read_text()


@pytest.mark.slow
def test_planted_distal_activator_on_the_yeast_genome(mirror, tmp_path):
    """The real yeast genome with generated loops: an activator planted in some distal anchors raises the expression
    of the genes looped to them (planted_loops). On held-out chromosomes the promoter + distal model (trained with
    reverse-complement augmentation and strand averaging, each segment flipped in place) beats the promoter-only
    model trained on the same rows, and TF-MoDISco on the distal attributions finds the activator."""
    from seq2expr.config import load_config
    from seq2expr.data.genome.planted import planted_loops
    from seq2expr.inference import as_onehot, load_model
    from seq2expr.interpret.attribute import attribute
    from seq2expr.interpret.pathways import model_pathways, pathway_patterns
    from seq2expr.training import train

    y = mirror / "yeast_genome"
    p = planted_loops(y / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz",
                      y / "Saccharomyces_cerevisiae.R64-1-1.96.gtf.gz", tmp_path / "planted",
                      promoter_window=(200, 100))
    opts = GeneOptions(windows=SPEC, aggregate="none", interactions=InteractionOptions(p.interactions, window=W,
                                                                                       max_distal=K))
    table, report = build_gene_dataset(p.genome, p.annotation, p.expression, opts, out=tmp_path / "genes",
                                       cache=tmp_path / "cache")
    assert report["interactions"]["chromosomes"]["n_renamed"] == 16  # chrII -> II ...
    assert set(report["target_columns"]) == {"log_tpm", "log_tpm_leaf", "log_tpm_root"}  # one target per tissue
    common = [f"data.path={tmp_path / 'genes' / 'genes.parquet'}", "data.id_column=id",
              "data.target_columns=[log_tpm_leaf]", "data.target.standardize=true", f"data.cache_dir={tmp_path / 'e'}",
              "data.split={method: group, group_column: chromosome, test_groups: [XV, XVI], valid_groups: [XIII]}",
              "train.epochs=6", "train.batch_size=64", "train.lr=0.01", "train.threads=1",
              "train.early_stopping_patience=null"]
    conv = {"channels": [32], "kernel_sizes": 9, "convs_per_block": 1, "dropout": 0.0, "hidden": [16],
            "head_dropout": 0.0}
    runs = {"promoter": ["model.name=cnn", "model.params=" + json.dumps({**conv, "pool_sizes": [300]})],
            "dual": ["model.name=dual", "data.sequence_column=dual_sequence", "model.params=" + json.dumps(
                {**conv, "pool_sizes": [1], "branch_pool": "max", "branch_lengths": report["dual"]["branch_lengths"],
                 "spacer": report["dual"]["spacer"]})]}
    r = {}
    for name, extra in runs.items():
        train(load_config(None, common + extra + [f"output_dir={tmp_path / name}"]), progress=False)
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        r[name] = metrics["test"]["overall"]["pearson_r"]
        assert metrics["n"]["test"] > 1000
    assert r["promoter"] > 0.3 and r["dual"] > r["promoter"] + 0.1, r

    saved = load_model(tmp_path / "dual" / "model")
    test = table[table["chromosome"].isin(["XV", "XVI"]) & table["has_distal"]].head(150)
    _, hyp = attribute(saved, test["dual_sequence"].tolist(), method="saliency")
    distal = [pw for pw in model_pathways(saved) if pw[0] == "distal"]
    assert distal == [("distal", 320, 320 + 2 * W + 20)]
    patterns = pathway_patterns(as_onehot(test["dual_sequence"].tolist(), saved).numpy(), hyp, distal)
    found = [pt.consensus for pt in patterns if pt.sign == "pos"]
    assert any("TGACTCA" in c or "TGAGTCA" in c for c in found), found
