"""Gene-level data sets from a genome: annotation parsing (GTF, GFF3), chromosome renaming, strand-aware
windows, N padding, counts -> TPM, htseq folders/tarballs, error messages, and the real yeast build."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2expr.data.errors import DataError
from seq2expr.data.genome import GeneOptions, WindowSpec, build_gene_dataset
from seq2expr.data.genome.expression import counts_to_tpm, match_gene_ids, read_expression
from seq2expr.data.genome.fasta import Genome, reconcile_chromosomes
from seq2expr.data.genome.windows import gene_window, gene_windows, tss_interval
from seq2expr.data.io.annotation import read_genes
from seq2expr.data.sequences import reverse_complement

RNG = np.random.default_rng(7)
CHR_I = "".join(RNG.choice(list("ACGT"), 300))
CHR_II = "".join(RNG.choice(list("ACGT"), 200))

GTF = """#!genome-build toy
chrI\tt\tgene\t51\t150\t.\t+\t.\tgene_id "G1"; gene_name "ABC1"; gene_biotype "protein_coding";
chrI\tt\ttranscript\t51\t150\t.\t+\t.\tgene_id "G1"; transcript_id "T1"; gene_biotype "protein_coding";
chrI\tt\texon\t51\t80\t.\t+\t.\tgene_id "G1"; transcript_id "T1";
chrI\tt\texon\t101\t150\t.\t+\t.\tgene_id "G1"; transcript_id "T1";
chrI\tt\tstart_codon\t61\t63\t.\t+\t0\tgene_id "G1"; transcript_id "T1";
chrI\tt\tstop_codon\t141\t143\t.\t+\t0\tgene_id "G1"; transcript_id "T1";
chrI\tt\ttranscript\t51\t130\t.\t+\t.\tgene_id "G1"; transcript_id "T2"; tag "Ensembl_canonical";
chrI\tt\texon\t51\t90\t.\t+\t.\tgene_id "G1"; transcript_id "T2";
chrI\tt\texon\t111\t130\t.\t+\t.\tgene_id "G1"; transcript_id "T2";
chrI\tt\tgene\t201\t260\t.\t-\t.\tgene_id "G2"; gene_biotype "protein_coding";
chrI\tt\ttranscript\t201\t260\t.\t-\t.\tgene_id "G2"; transcript_id "T4";
chrI\tt\texon\t201\t260\t.\t-\t.\tgene_id "G2"; transcript_id "T4";
chrI\tt\tstart_codon\t251\t253\t.\t-\t0\tgene_id "G2"; transcript_id "T4";
chrI\tt\tstop_codon\t211\t213\t.\t-\t0\tgene_id "G2"; transcript_id "T4";
chrII\tt\ttranscript\t21\t60\t.\t+\t.\tgene_id "G3"; transcript_id "T3"; gene_biotype "lincRNA";
chrII\tt\texon\t21\t60\t.\t+\t.\tgene_id "G3"; transcript_id "T3"; gene_biotype "lincRNA";
"""

GFF3 = """##gff-version 3
chrI\tt\tgene\t51\t150\t.\t+\t.\tID=gene:G1;Name=ABC%3B1;biotype=protein_coding
chrI\tt\tmRNA\t51\t150\t.\t+\t.\tID=transcript:T1;Parent=gene:G1
chrI\tt\texon\t51\t80\t.\t+\t.\tParent=transcript:T1
chrI\tt\texon\t101\t150\t.\t+\t.\tParent=transcript:T1
chrI\tt\tCDS\t61\t80\t.\t+\t0\tParent=transcript:T1
chrI\tt\tCDS\t101\t143\t.\t+\t0\tParent=transcript:T1
chrI\tt\tmRNA\t51\t130\t.\t+\t.\tID=transcript:T2;Parent=gene:G1;tag=Ensembl_canonical
chrI\tt\texon\t51\t90\t.\t+\t.\tParent=transcript:T2
chrI\tt\texon\t111\t130\t.\t+\t.\tParent=transcript:T2
chrI\tt\tgene\t201\t260\t.\t-\t.\tID=gene:G2;biotype=protein_coding
chrI\tt\tmRNA\t201\t260\t.\t-\t.\tID=transcript:T4;Parent=gene:G2
chrI\tt\texon\t201\t260\t.\t-\t.\tParent=transcript:T4
chrI\tt\tCDS\t211\t253\t.\t-\t0\tParent=transcript:T4
chrII\tt\tncRNA_gene\t21\t60\t.\t+\t.\tID=gene:G3;biotype=lincRNA
chrII\tt\tlnc_RNA\t21\t60\t.\t+\t.\tID=transcript:T3;Parent=gene:G3
chrII\tt\texon\t21\t60\t.\t+\t.\tParent=transcript:T3
##FASTA
>chrI
ACGT
"""


@pytest.fixture
def toy(tmp_path: Path) -> dict[str, Path]:
    fa = tmp_path / "toy.fa"
    fa.write_text(f">I\n{CHR_I}\n>II\n{CHR_II}\n")
    gtf = tmp_path / "toy.gtf.gz"
    gtf.write_bytes(gzip.compress(GTF.encode()))
    gff = tmp_path / "toy.gff3"
    gff.write_text(GFF3)
    return {"fa": fa, "gtf": gtf, "gff": gff, "dir": tmp_path}


def _row(genes: pd.DataFrame, gid: str) -> pd.Series:
    return genes.set_index("gene_id").loc[gid]


@pytest.mark.parametrize("kind", ["gtf", "gff"])
def test_annotation_genes_tss_and_exonic_length(toy, kind):
    genes = read_genes(toy[kind])
    assert list(genes["gene_id"]) == ["G1", "G2", "G3"]
    g1, g2, g3 = (_row(genes, g) for g in ("G1", "G2", "G3"))
    assert (g1["chrom"], g1["start"], g1["end"], g1["strand"], g1["tss"], g1["tts"]) == ("chrI", 50, 150, "+", 50, 149)
    assert (g2["start"], g2["end"], g2["strand"], g2["tss"], g2["tts"]) == (200, 260, "-", 259, 200)
    # G3 has no gene line in the GTF (spanned by its transcript) and a ncRNA_gene line in the GFF3
    assert (g3["chrom"], g3["tss"], g3["tts"], g3["biotype"]) == ("chrII", 20, 59, "lincRNA")
    # union of overlapping isoform exons: 51-90 and 101-150 -> 40 + 50
    assert g1["exonic_length"] == 90 and g2["exonic_length"] == 60 and g3["exonic_length"] == 40
    assert g1["gene_name"] == ("ABC1" if kind == "gtf" else "ABC;1")  # GFF3 %3B unescaped

    codon = read_genes(toy[kind], tss_from="codon")
    c1, c2, c3 = (_row(codon, g) for g in ("G1", "G2", "G3"))
    assert (c1["tss"], c1["tts"], c1["tss_source"]) == (60, 142, "codon")
    assert (c2["tss"], c2["tts"]) == (252, 210)
    assert (c3["tss"], c3["tss_source"]) == (20, "gene")  # non-coding: falls back to the gene ends

    tx = _row(read_genes(toy[kind], tss_from="transcript"), "G1")
    assert (tx["tss"], tx["tts"], tx["tss_source"]) == (50, 129, "transcript")  # the canonical T2


TAIR_GFF3 = """##gff-version 3
Chr1\tTAIR10\tgene\t51\t150\t.\t+\t.\tID=AT1G01010;Note=protein_coding_gene;Name=AT1G01010
Chr1\tTAIR10\tmRNA\t51\t150\t.\t+\t.\tID=AT1G01010.1;Parent=AT1G01010
Chr1\tTAIR10\texon\t51\t150\t.\t+\t.\tParent=AT1G01010.1
Chr1\tTAIR10\tCDS\t61\t143\t.\t+\t0\tParent=AT1G01010.1
Chr1\tTAIR10\ttransposable_element_gene\t161\t190\t.\t-\t.\tID=AT1G01020
Chr1\tTAIR10\tmRNA\t161\t190\t.\t-\t.\tID=AT1G01020.1;Parent=AT1G01020
Chr1\tTAIR10\tgene\t201\t260\t.\t-\t.\tID=AT1G01030;Note=other_RNA
Chr1\tTAIR10\ttRNA\t201\t260\t.\t-\t.\tID=AT1G01030.1;Parent=AT1G01030
Chr1\tTAIR10\texon\t201\t260\t.\t-\t.\tParent=AT1G01030.1
Chr2\tTAIR10\tgene\t21\t60\t.\t+\t.\tID=AT2G01010;Note=protein_coding_gene
Chr2\tTAIR10\tmRNA\t21\t60\t.\t+\t.\tID=AT2G01010.1;Parent=AT2G01010
Chr2\tTAIR10\tCDS\t21\t60\t.\t+\t0\tParent=AT2G01010.1
"""


def test_biotypes_inferred_when_the_annotation_has_none(toy, tmp_path):
    """TAIR10/Phytozome-style GFF3 (no biotype attribute, Chr1 vs 1): biotypes come from the features, so the
    default protein-coding filter keeps the coding genes instead of dropping every gene."""
    gff = tmp_path / "tair.gff3"
    gff.write_text(TAIR_GFF3)
    genes = read_genes(gff)
    assert dict(zip(genes["gene_id"], genes["biotype"], strict=True)) == {
        "AT1G01010": "protein_coding", "AT1G01020": "transposable_element_gene", "AT1G01030": "tRNA",
        "AT2G01010": "protein_coding"}
    assert genes.attrs["inferred_biotypes"] == 4
    assert read_genes(toy["gff"]).attrs["inferred_biotypes"] == 0  # explicit biotypes are kept as given
    fa = tmp_path / "ath.fa"
    fa.write_text(f">1 chromosome 1\n{CHR_I}\n>2\n{CHR_II}\n")
    tpm = tmp_path / "tpm.tsv"
    pd.DataFrame({"gene_id": genes["gene_id"], "root": [5.5, 1.0, 3.0, 2.0], "leaf": [1.0, 2.0, 3.0, 4.5]}).to_csv(
        tpm, sep="\t", index=False)
    table, report = build_gene_dataset(fa, gff, tpm, GeneOptions(
        windows=WindowSpec(upstream=20, downstream=10, tts_upstream=10, tts_downstream=20, spacer=5)))
    assert sorted(table["id"]) == ["AT1G01010", "AT2G01010"]
    assert report["dropped"] == {"biotype": 2} and report["annotation"]["inferred_biotypes"] == 4
    assert report["chromosomes"]["annotation"]["renamed"] == {"Chr1": "1", "Chr2": "2"}


def test_annotation_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.gtf"
    bad.write_text(GTF.replace("\t51\t80\t", "\tfifty\t80\t"))
    with pytest.raises(DataError, match=r"bad\.gtf: record line 4: bad coordinates"):
        read_genes(bad)
    bad.write_text(GTF.replace("\t.\tgene_id \"G2\"; gene_biotype", "gene_id \"G2\"; gene_biotype"))
    with pytest.raises(DataError, match=r"bad\.gtf: record line 11: 7 tab-separated fields"):
        read_genes(bad)


def test_chromosome_renaming_report():
    mapping, rep = reconcile_chromosomes(
        ["chrI", "chrX", "chrM", "chr10", "I", "scaffold_9"], ["I", "II", "X", "Mito"])
    assert mapping == {"chrI": "I", "chrX": "X", "chrM": "Mito", "I": "I", "chr10": "X"}
    assert rep["renamed"] == {"chrI": "I", "chrX": "X", "chrM": "Mito", "chr10": "X"}
    assert rep["unmatched"] == ["scaffold_9"]
    # human-style: chrX stays the X chromosome (never roman 10), MT/chrM, Chr1 (plants)
    mapping, rep = reconcile_chromosomes(["chr1", "chrX", "chr10", "chrM", "Chr2"], ["1", "2", "10", "X", "MT"])
    assert mapping == {"chr1": "1", "chrX": "X", "chr10": "10", "chrM": "MT", "Chr2": "2"}
    assert not rep["unmatched"]


def test_minus_strand_windows_are_reverse_complements(toy, tmp_path):
    # the same gene on the reverse-complemented chromosome, on the minus strand, gives the same window
    L = len(CHR_I)
    mirror = tmp_path / "mirror.fa"
    mirror.write_text(f">I\n{CHR_I}\n>Irc\n{reverse_complement(CHR_I)}\n")
    g = Genome(mirror)
    spec = WindowSpec(upstream=10, downstream=5, tts_upstream=5, tts_downstream=10, spacer=3)
    plus, pad = gene_window(g, "I", "+", 50, 149, spec)
    minus, mpad = gene_window(g, "Irc", "-", L - 1 - 50, L - 1 - 149, spec)
    assert plus == minus and not pad and not mpad
    assert plus == CHR_I[40:55] + "NNN" + CHR_I[145:160]  # TSS at index 10, TTS the last of its 5 bases
    # direct: minus-strand gene G2 (TSS 259, TTS 200) reads the reverse complement of the genome
    win, _ = gene_window(g, "I", "-", 259, 200, spec)
    assert win == reverse_complement(CHR_I[255:270]) + "NNN" + reverse_complement(CHR_I[190:205])
    single, _ = gene_window(g, "I", "-", 259, 200, WindowSpec.single(15, upstream=10))
    assert single == reverse_complement(CHR_I[255:270])
    masked, _ = gene_window(g, "I", "+", 50, 149, WindowSpec(10, 5, 5, 10, 3, mask_codons=True))
    assert masked[10:13] == "NNN" and masked[18 + 2:18 + 5] == "NNN" and masked[:10] == plus[:10]


def test_off_chromosome_windows_are_padded_and_flagged(toy):
    g = Genome(toy["fa"])
    seq, padded = g.fetch("II", -7, 5)
    assert padded and seq == "N" * 7 + CHR_II[:5]
    seq, padded = g.fetch("II", 195, 210, "-")
    assert padded and seq == reverse_complement(CHR_II[195:] + "N" * 10)
    assert g.fetch("II", 10, 20) == (CHR_II[10:20], False)
    win, padded = gene_window(g, "II", "+", 20, 59, WindowSpec(upstream=30, downstream=10, tts_upstream=None))
    assert padded and len(win) == 40 and win.startswith("N" * 10) and win[10:] == CHR_II[:30]
    with pytest.raises(DataError, match="chromosome 'chrZ' is not in the genome"):
        g.fetch("chrZ", 0, 5)


def test_gzip_fasta_is_cached_once_and_bgzip_read_in_place(tmp_path, monkeypatch):
    from Bio import bgzf

    monkeypatch.setenv("SEQ2EXPR_CACHE", str(tmp_path / "cache"))
    gz = tmp_path / "g.fa.gz"
    gz.write_bytes(gzip.compress(f">chr1\n{CHR_I}\n".encode()))
    assert Genome(gz).fetch("chr1", 3, 9)[0] == CHR_I[3:9]
    cached = [p for p in (tmp_path / "cache" / "genomes").iterdir() if p.name.endswith("g.fa")]
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    Genome(gz)
    assert cached[0].stat().st_mtime_ns == mtime  # not decompressed again
    bgz = tmp_path / "b.fa.gz"
    with bgzf.BgzfWriter(str(bgz), "wb") as fh:
        fh.write(f">chr2\n{CHR_II}\n".encode())
    assert Genome(bgz).fetch("chr2", 190, 200, "-")[0] == reverse_complement(CHR_II[190:200])
    assert not any(p.name.endswith("b.fa") for p in (tmp_path / "cache" / "genomes").iterdir())


def test_counts_to_tpm_toy():
    counts = pd.DataFrame({"s1": [10.0, 20.0, 30.0], "s2": [0.0, 0.0, 0.0]}, index=["a", "b", "c"])
    lengths = pd.Series([500, 1000, 2000], index=["c", "a", "b"])  # aligned by gene, not by order
    tpm = counts_to_tpm(counts, lengths)
    # rates per kb: 10, 10, 60 -> shares 1/8, 1/8, 6/8 of a million
    np.testing.assert_allclose(tpm["s1"], [125_000, 125_000, 750_000])
    np.testing.assert_allclose(tpm["s2"], 0.0)


def _htseq_text(counts: dict[str, int], new_style: bool) -> str:
    rows = [f"{g}\t{c}" for g, c in counts.items()]
    tail = ["__no_feature\t100", "__ambiguous\t7", "__alignment_not_unique\t3"] if new_style else [
        "no_feature\t100", "ambiguous\t7", "too_low_aQual\t0", "not_aligned\t0", "alignment_not_unique\t3"]
    return "\n".join(rows + tail) + "\n"


def test_htseq_folder_and_tarball(tmp_path):
    folder = tmp_path / "counts"
    folder.mkdir()
    samples = {"s1": {"G1": 5, "G2": 0, "G3": 9}, "s2": {"G1": 1, "G2": 4, "G3": 2}}
    for i, (name, c) in enumerate(samples.items()):
        (folder / f"{name}.bam.counts").write_text(_htseq_text(c, new_style=i == 0))
    (folder / ".DS_Store").write_bytes(b"\x00junk")
    tar = tmp_path / "counts.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        for f in sorted(folder.iterdir()):
            tf.add(f, arcname=f"run/{f.name}")
    a, b = read_expression(folder), read_expression(tar)
    for df in (a, b):
        assert list(df.columns) == ["s1", "s2"]
        assert list(df.index) == ["G1", "G2", "G3"]  # no __ / htseq counter rows
        np.testing.assert_array_equal(df.to_numpy(), [[5, 1], [0, 4], [9, 2]])


def test_expression_errors(tmp_path, toy):
    genes = read_genes(toy["gtf"])
    bad = tmp_path / "expr.tsv"
    bad.write_text("gene\ts1\nfoo1\t3\nfoo2\t4\n")
    with pytest.raises(DataError) as err:
        match_gene_ids(read_expression(bad).index, genes, source=str(bad))
    msg = str(err.value)
    assert "expr.tsv" in msg and "foo1" in msg and "G1" in msg and "no gene IDs in common" in msg
    cases = {"gene\ts1\nG1\t3\nG1\t4\n": r"record G1: duplicate gene ID",
             "gene\ts1\ts2\nG1\t3\t1\nG2\t-4\t1\n": r"record G2: negative value -4.0 in sample 's1'",
             "gene\ts1\ts2\nG1\t3\t\nG2\t4\t1\n": r"record G1: missing \(NaN\) value nan in sample 's2'",
             "gene\ts1\nG1\t3\nG2\tmany\n": r"record G2: value 'many' in sample 's1' is not a number"}
    for text, pattern in cases.items():
        bad.write_text(text)
        with pytest.raises(DataError, match=pattern):
            read_expression(bad)


def test_build_toy_dataset_and_report(toy, tmp_path):
    gtf = GTF + ('chrUn\tt\tgene\t1\t50\t.\t+\t.\tgene_id "G4"; gene_biotype "protein_coding";\n'
                 'chrII\tt\tgene\t101\t150\t.\t-\t.\tgene_id "G5"; gene_biotype "protein_coding";\n'
                 'chrII\tt\tgene\t161\t190\t.\t+\t.\tgene_id "G6"; gene_biotype "protein_coding";\n'
                 'chrII\tt\tgene\t1\t20\t.\t+\t.\tgene_id "G2"; gene_biotype "protein_coding";\n')
    ann = tmp_path / "ann.gtf"
    ann.write_text(gtf)
    expr = tmp_path / "expr.csv"
    # G5 has no expression row, X9 is not annotated; G3 (lincRNA) is filtered by biotype; G4 is off-genome
    expr.write_text("gene,name,rep1,rep2\nG1,a,100,300\nG2,b,10,30\nG3,c,5,5\nG6,d,0,2\nX9,e,7,7\nG4,f,20,1\n")
    spec = WindowSpec(upstream=20, downstream=10, tts_upstream=10, tts_downstream=20, spacer=5)
    table, rep = build_gene_dataset(toy["fa"], ann, expr, GeneOptions(
        windows=spec, species="toy", aggregate="none", label_quantiles=(0.4, 0.6), formats=("parquet", "tsv")),
                                    out=tmp_path / "ds")
    assert list(table["id"]) == ["G1", "G2", "G6"]
    assert rep["dropped"] == {"duplicate_gene_id": 1, "chromosome_not_in_genome": 1, "biotype": 1,
                              "no_expression": 1}
    assert rep["chromosomes"]["annotation"]["renamed"] == {"chrI": "I", "chrII": "II"}
    assert rep["chromosomes"]["annotation"]["unmatched"] == ["chrUn"]
    assert rep["expression"]["not_in_annotation_examples"] == ["X9"] and rep["expression"]["units"] == "counts"
    assert (table["sequence"].str.len() == spec.length).all() and table["chromosome"].tolist() == ["I", "I", "II"]
    assert table["padded"].tolist() == [False, False, True]  # G6's TTS window runs off chrII (200 bp)
    assert rep["padded_windows"] == 1
    # TPM over all annotated genes in the table (G1, G2, G3, G6, G4), then mean over replicates, then log1p
    lengths = {"G1": 90, "G2": 60, "G3": 40, "G6": 30, "G4": 50}
    counts = pd.DataFrame({"rep1": [100, 10, 5, 0, 20], "rep2": [300, 30, 5, 2, 1]}, index=list(lengths),
                          dtype=float)
    tpm = counts_to_tpm(counts, pd.Series(lengths))
    np.testing.assert_allclose(table["log_tpm"], np.log1p(tpm.loc[["G1", "G2", "G6"]].mean(axis=1)), rtol=1e-5)
    np.testing.assert_allclose(table["log_tpm_rep2"], np.log1p(tpm.loc[["G1", "G2", "G6"], "rep2"]), rtol=1e-5)
    assert table["label"].tolist()[0] == 1.0 and np.isnan(table["label"].tolist()[1]) and table["label"][2] == 0.0
    files = json.loads((tmp_path / "ds" / "report.json").read_text())["files"]
    lab = pd.read_parquet(files["parquet_labelled"])
    assert lab["id"].tolist() == ["G1", "G6"] and set(lab["label"]) == {0.0, 1.0}
    from seq2expr.data.io.tables import read_records

    rec = read_records(files["tsv"], id_column="id", target_columns=["log_tpm", "log_tpm_rep1"],
                       group_columns=["chromosome", "species"])
    assert rec.targets.shape == (3, 2) and set(rec.groups["species"]) == {"toy"}


def test_cli_data_genes(toy, tmp_path):
    from typer.testing import CliRunner

    from seq2expr.cli.main import app

    expr = tmp_path / "expr.tsv"
    expr.write_text("gene_id\tA\tB\nG1\t1.5\t2.5\nG2\t8.0\t9.0\nG3\t1.0\t1.0\n")
    res = CliRunner().invoke(app, ["data", "genes", "--genome", str(toy["fa"]), "--annotation", str(toy["gff"]),
                                   "--expression", str(expr), "--single-window", "60", "--biotypes", "all",
                                   "--species", "toy", "--label-thresholds", "1.0", "--folds", "2",
                                   "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "kept" in res.output and "renamed 2 chromosome" in res.output and "annotated genes" in res.output
    table = pd.read_parquet(tmp_path / "out" / "genes.parquet")
    assert len(table) == 3 and (table["sequence"].str.len() == 60).all()
    np.testing.assert_allclose(table["log_tpm"], np.log1p([2.0, 8.5, 1.0]))  # TPM units kept as given
    assert table["label"].tolist() == [1.0, 1.0, 0.0]  # log1p(1.0) = 0.69 <= 1.0
    assert table.groupby("fold")["chromosome"].agg(set).map(len).eq(1).all() and table["fold"].nunique() == 2
    res = CliRunner().invoke(app, ["data", "genes", "--genome", str(toy["fa"]), "--annotation", str(toy["gff"]),
                                   "--expression", str(expr), "--label-thresholds", "a,b", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "expected numbers" in res.output
    res = CliRunner().invoke(app, ["data", "genes", "--genome", str(toy["fa"]), "--annotation", str(toy["gtf"]),
                                   "--expression", str(expr), "--upstream", "60", "--downstream", "10",
                                   "--tts-upstream", "10", "--tts-downstream", "50", "--drop-padded", "--mask-codons",
                                   "--tss-from", "codon", "--format", "parquet,tsv", "-o", str(tmp_path / "o3")])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "o3" / "report.json").read_text())
    assert report["dropped"] == {"biotype": 1, "padded": 1}  # G3 lincRNA; G2's upstream passes chrI's end
    assert "dropped: padded" in res.output and "window ran off a chromosome" in res.output
    assert set(report["files"]) == {"parquet", "tsv"} and report["settings"]["windows"]["mask_codons"]
    res = CliRunner().invoke(app, ["data", "genes", "--genome", str(toy["fa"]), "--annotation", str(toy["gff"]),
                                   "--expression", str(tmp_path / "missing.tsv"), "-o", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "missing.tsv" in res.output


def test_yeast_genome_build(mirror, tmp_path):
    d = mirror / "yeast_genome"
    if not d.is_dir():
        pytest.skip("yeast_genome not in the mirror")
    fa = d / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz"
    gtf = d / "Saccharomyces_cerevisiae.R64-1-1.96.gtf.gz"
    counts = d / "profDGE48_counts" / "WT_countdata.tar.gz"
    t0 = time.perf_counter()
    table, rep = build_gene_dataset(fa, gtf, counts,
                                    GeneOptions(tss_bed=d / "winston_tss" / "Scer_polIItranscripts-adjustedTSS.bed",
                                                tss_names=d / "winston_tss" / "Scer-sys-to-common-name.tsv",
                                                label_quantiles=(0.25, 0.75), species="scer"), out=tmp_path / "yeast")
    seconds = time.perf_counter() - t0
    print(f"yeast build: kept {rep['kept']}, dropped {rep['dropped']}, padded {rep['padded_windows']}, "
          f"TSS sources {rep['tss_sources']}, {seconds:.1f} s")
    assert rep["kept"] >= 6000 and rep["annotation"]["genes"] == 7036
    assert rep["dropped"]["biotype"] == 7036 - 6600
    assert rep["expression"]["samples"][0].startswith("WT_rep01") and len(rep["expression"]["samples"]) == 48
    bed_chroms = rep["chromosomes"]["tss_bed"]
    assert bed_chroms["renamed"]["chrI"] == "I" and bed_chroms["n_renamed"] == 16 and not bed_chroms["unmatched"]
    assert rep["tss_bed"]["genes_with_measured_tss"] > 6000
    assert table["sequence"].str.len().eq(3020).all() and table["padded"].sum() == rep["padded_windows"]
    assert rep["labels"]["high"] == rep["labels"]["low"] and 1500 < rep["labels"]["high"] < 1800
    # highly expressed: ribosomal protein genes are in the top quarter
    rp = table[table["gene_name"].str.match(r"^RP[LS]\d")]
    assert len(rp) > 100 and (rp["label_class"] == "high").mean() > 0.9
    # without measured TSSs the TSS is the start codon: ATG at the TSS on both strands, stop codon at the TTS
    genes = read_genes(gtf)
    genes = genes[genes["biotype"] == "protein_coding"].iloc[::4]
    seqs, _ = gene_windows(Genome(fa), genes, WindowSpec())
    s = pd.Series(seqs, index=genes.index)
    for strand in "+-":
        on = s[genes["strand"] == strand]
        assert len(on) > 500 and (on.str[1000:1003] == "ATG").mean() > 0.98
        assert on.str[2017:2020].isin(["TAA", "TAG", "TGA"]).mean() > 0.98
    # the counts tarball: old-style htseq counters (no "__") at the end of every file, skipped
    with tarfile.open(counts) as tf:
        m = next(m for m in tf.getmembers() if m.isfile())
        lines = io.TextIOWrapper(tf.extractfile(m)).read().splitlines()
    assert lines[-1].split("\t")[0] == "alignment_not_unique"
    assert rep["expression"]["matched"] + rep["expression"]["not_in_annotation"] == len(lines) - 5


def test_yeast_long_single_windows(mirror):
    d = mirror / "yeast_genome"
    if not d.is_dir():
        pytest.skip("yeast_genome not in the mirror")
    genes = read_genes(d / "Saccharomyces_cerevisiae.R64-1-1.96.gtf.gz")
    genes = genes[(genes["biotype"] == "protein_coding") & (genes["chrom"] == "I")]
    genome = Genome(d / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz")
    spec = WindowSpec.single(50_000, upstream=30_000)
    seqs, padded = gene_windows(genome, genes, spec)
    s = pd.Series(seqs, index=genes.index)
    assert s.str.len().eq(50_000).all() and (s.str[30_000:30_003] == "ATG").mean() > 0.98
    # chrI is 230 kb: genes whose 50 kb window passes an end are N-padded and flagged, the rest are not
    lo, hi = np.array([tss_interval(t, st, spec) for t, st in zip(genes["tss"], genes["strand"], strict=True)]).T
    off = (lo < 0) | (hi > genome.lengths["I"])
    assert off.sum() > 10 and (padded == off).all() and s[off].str.contains("N" * 100).all()
    assert not s[~off].str.contains("N" * 100).any()


def test_families_group_paralogous_windows():
    from seq2expr.data.genome.build import add_families

    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGT"), 800)) for _ in range(5)]
    copy = list(seqs[0])
    for i in rng.choice(800, 8, replace=False):  # a diverged paralogue on another chromosome
        copy[i] = {"A": "C", "C": "G", "G": "T", "T": "A"}[copy[i]]
    seqs.append("".join(copy))
    table = pd.DataFrame({"id": [f"g{i}" for i in range(6)], "sequence": seqs, "species": "toy",
                          "chromosome": ["I", "I", "I", "II", "II", "II"]})
    rep = add_families(table)
    fam = table["family"].tolist()
    assert fam[0] == fam[5] and len(set(fam)) == 5 and fam[0].startswith("toy:")
    assert rep["genes_in_families_spanning_chromosomes"] == 2 and rep["genes_in_multi_gene_families"] == 2


# ------------------------------------------------------------------ formats, labels, folds, families, errors


@pytest.mark.parametrize("kind", ["gtf_plain", "gff_gz"])
def test_annotation_compression_either_way(toy, kind):
    path = toy["dir"] / ("plain.gtf" if kind == "gtf_plain" else "toy.gff3.gz")
    path.write_bytes(GTF.encode() if kind == "gtf_plain" else gzip.compress(GFF3.encode()))
    genes = read_genes(path)
    assert genes.attrs["format"] == ("gtf" if kind == "gtf_plain" else "gff3")
    assert _row(genes, "G2")[["tss", "tts", "exonic_length"]].tolist() == [259, 200, 60]


def test_expression_parquet_fpkm_median_and_sample_choice(toy, tmp_path):
    fpkm = pd.DataFrame({"gene": ["G1", "G2", "G3"], "desc": ["x", "y", "z"], "a": [1.0, 3.0, 6.0],
                         "b": [2.0, 2.0, 6.0], "c": [9.0, 9.0, 2.0]})
    path = tmp_path / "fpkm.parquet"
    fpkm.to_parquet(path)
    table, rep = build_gene_dataset(toy["fa"], toy["gtf"], path, GeneOptions(
        units="fpkm", aggregate="median", biotypes=None, windows=WindowSpec.single(40, upstream=20), transform="none"))
    # FPKM -> TPM rescales each sample to 1e6 (a: /10, b: /10, c: /20); then the median over samples
    tpm = np.array([[1, 2, 4.5], [3, 2, 4.5], [6, 6, 1]]) * 1e5
    np.testing.assert_allclose(table.set_index("id").loc[["G1", "G2", "G3"], "tpm"], np.median(tpm, axis=1),
                               rtol=1e-5)
    assert rep["expression"]["units"] == "fpkm" and rep["expression"]["dropped_columns"] == ["desc"]
    one, _ = build_gene_dataset(toy["fa"], toy["gtf"], path, GeneOptions(
        units="tpm", samples=["c"], biotypes=None, windows=WindowSpec.single(40), transform="log2p1"))
    np.testing.assert_allclose(one.set_index("id").loc[["G1", "G3"], "log2_tpm"], np.log2([10.0, 3.0]), rtol=1e-5)
    with pytest.raises(DataError, match=r"fpkm\.parquet: samples \['zz'\] not found"):
        build_gene_dataset(toy["fa"], toy["gtf"], path, GeneOptions(samples=["zz"]))


def test_measured_tss_from_bed_with_chr_names(toy, tmp_path):
    # BED in UCSC style (chrI) while the FASTA says I; names through an alias table; one strand conflict
    bed = tmp_path / "tss.bed"
    bed.write_text("track name=tss\nchrI\t40\t150\tabc-one\t0\t+\nchrI\t205\t265\tG2\t0\t-\n"
                   "chrII\t10\t60\tlinc3\t0\t-\nchrV\t1\t9\tnowhere\t0\t+\n")
    names = tmp_path / "names.tsv"
    names.write_text("G1\tabc-one\nG3\tlinc3\n")
    spec = WindowSpec(upstream=10, downstream=5, tts_upstream=None)
    expr = tmp_path / "e.tsv"
    expr.write_text("gene\ts\nG1\t5\nG2\t6\nG3\t7\n")
    table, rep = build_gene_dataset(toy["fa"], toy["gtf"], expr, GeneOptions(tss_bed=bed, tss_names=names,
                                                                             biotypes=None, windows=spec, units="tpm"))
    t = table.set_index("id")
    assert t.loc["G1", "tss"] == 40 and t.loc["G2", "tss"] == 264 and t.loc["G3", "tss"] == 20
    assert t["tss_source"].tolist() == ["bed", "bed", "gene"]
    assert t.loc["G1", "sequence"] == CHR_I[30:45]
    assert t.loc["G2", "sequence"] == reverse_complement(CHR_I[260:275])
    b = rep["tss_bed"]
    assert b["chromosome_or_strand_conflicts"] == 1 and b["conflict_examples"] == ["linc3"]  # G3 is on +
    assert b["unmatched_names"] == 1 and b["unmatched_examples"] == ["nowhere"]
    assert rep["chromosomes"]["tss_bed"]["renamed"] == {"chrI": "I", "chrII": "II"}
    assert rep["chromosomes"]["tss_bed"]["unmatched"] == ["chrV"]
    bad = tmp_path / "bad.bed"
    bad.write_text("chrZ\t1\t9\tG1\t0\t+\n")
    with pytest.raises(DataError, match=r"bad\.bed: none of the BED's chromosomes \(e\.g\. \['chrZ'\]\)"):
        build_gene_dataset(toy["fa"], toy["gtf"], expr, GeneOptions(tss_bed=bad, biotypes=None, windows=spec))


def test_label_thresholds(toy, tmp_path):
    expr = tmp_path / "e.tsv"
    expr.write_text("gene\ts\nG1\t1\nG2\t50\nG3\t500\n")
    opts = GeneOptions(biotypes=None, windows=WindowSpec.single(30), units="tpm")
    table, rep = build_gene_dataset(toy["fa"], toy["gtf"], expr, replace(opts, label_thresholds=(2.0, 5.0)))
    assert table["label_class"].tolist() == ["low", "middle", "high"]  # log1p: 0.69, 3.93, 6.22
    assert rep["labels"]["thresholds"] == [2.0, 5.0] and rep["labels"]["middle"] == 1
    table, _ = build_gene_dataset(toy["fa"], toy["gtf"], expr, replace(opts, label_thresholds=(3.0, 3.0)))
    assert table["label"].tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="not both"):
        build_gene_dataset(toy["fa"], toy["gtf"], expr, replace(opts, label_thresholds=(3.0, 3.0),
                                                                label_quantiles=(0.2, 0.8)))


def _paralogue_genome(root: Path, n_chrom: int = 4, per_chrom: int = 12, n_pairs: int = 4, seed: int = 5):
    """Random chromosomes with genes 1 kb apart; ``n_pairs`` genes copied (window and all) onto the next
    chromosome with ~1% point mutations: paralogues on different chromosomes."""
    rng = np.random.default_rng(seed)
    step = 1000
    chroms = [list("".join(rng.choice(list("ACGT"), step * (per_chrom + 1)))) for _ in range(n_chrom)]
    lines, expr, pairs = [], [], []
    for c in range(n_chrom):
        for j in range(per_chrom):
            gid = f"C{c}G{j:02d}"
            s = step * j + 500
            lines.append(f'chr{c + 1}\tt\tgene\t{s + 1}\t{s + 200}\t.\t+\t.\tgene_id "{gid}"; '
                         f'gene_biotype "protein_coding";')
            expr.append(f"{gid}\t{int(rng.integers(0, 500))}")
    for p in range(n_pairs):
        c, j = p % n_chrom, p
        lo = step * j + 500 - 400
        block = chroms[c][lo: lo + 900]
        for i in rng.choice(900, 9, replace=False):
            block[i] = "ACGT"[("ACGT".index(block[i]) + 1) % 4]
        chroms[(c + 1) % n_chrom][lo: lo + 900] = block
        pairs.append((f"C{c}G{j:02d}", f"C{(c + 1) % n_chrom}G{j:02d}"))
    fa = root / "para.fa"
    fa.write_text("".join(f">{c + 1}\n{''.join(s)}\n" for c, s in enumerate(chroms)))
    gtf = root / "para.gtf"
    gtf.write_text("\n".join(lines) + "\n")
    counts = root / "counts.tsv"
    counts.write_text("gene\trep1\n" + "\n".join(expr) + "\n")
    return fa, gtf, counts, pairs


def test_families_and_chromosome_folds_keep_groups_whole(tmp_path):
    from seq2expr.config import load_config
    from seq2expr.data.genome.build import add_folds
    from seq2expr.data.prepare import prepare_data

    fa, gtf, counts, pairs = _paralogue_genome(tmp_path)
    spec = WindowSpec(upstream=300, downstream=100, tts_upstream=100, tts_downstream=300, spacer=10)
    table, rep = build_gene_dataset(fa, gtf, counts, GeneOptions(windows=spec, species="toy", families=True, folds=4),
                                    out=tmp_path / "ds")
    fam = table.set_index("id")["family"]
    assert all(fam[a] == fam[b] for a, b in pairs)
    assert fam.nunique() == len(table) - len(pairs)  # only the copied pairs share a family
    assert rep["families"]["genes_in_families_spanning_chromosomes"] == 2 * len(pairs)
    # k-fold by chromosome: 4 chromosomes of 12 genes -> one whole chromosome per fold
    assert rep["folds"]["genes"] == {f"fold{i}": 12 for i in range(4)}
    assert sorted(sum(rep["folds"]["chromosomes"].values(), [])) == ["1", "2", "3", "4"]
    assert (table.groupby("chromosome")["fold"].nunique() == 1).all()
    by_family = table.copy()
    add_folds(by_family, 3, by="family")
    fold = by_family.set_index("id")["fold"]
    assert all(fold[a] == fold[b] for a, b in pairs) and fold.value_counts().max() <= 16
    with pytest.raises(ValueError, match="fold_by='family' needs families=True"):
        build_gene_dataset(fa, gtf, counts, GeneOptions(windows=spec, folds=3, fold_by="family"))

    def splits(method_args: list[str]) -> tuple[dict, dict]:
        cfg = load_config(None, [f"data.path={tmp_path / 'ds' / 'genes.parquet'}", "data.id_column=id",
                                 "data.target_columns=[log_tpm]", "data.group_columns=[chromosome, family, fold]",
                                 f"data.cache_dir={tmp_path / 'cache'}", "data.split.method=group", *method_args])
        b = prepare_data(cfg.data)
        return b.splits, {k: np.asarray(v).astype(str) for k, v in b.groups.items()}

    sp, groups = splits(["data.split.group_column=fold", "data.split.test_groups=[fold0]",
                         "data.split.valid_groups=[fold1]"])
    chrom = {s: set(groups["chromosome"][idx]) for s, idx in sp.items()}
    assert chrom["test"] == set(rep["folds"]["chromosomes"]["fold0"]) and len(chrom["train"]) == 2
    assert not (chrom["train"] & (chrom["valid"] | chrom["test"]))
    sp, groups = splits(["data.split.group_column=family", "data.split.valid_fraction=0.2",
                         "data.split.test_fraction=0.2"])
    where = {s: set(groups["family"][idx]) for s, idx in sp.items()}
    assert not (where["train"] & where["test"]) and not (where["train"] & where["valid"])
    assert not (where["valid"] & where["test"]) and min(len(v) for v in sp.values()) > 0


def test_bad_genome_inputs_raise_data_error(toy, tmp_path):
    expr = tmp_path / "e.tsv"
    expr.write_text("gene\ts\nG1\t5\nG2\t6\nG3\t7\n")
    other = tmp_path / "other.gtf"
    other.write_text(GTF.replace("chrI\t", "scaffold_1\t").replace("chrII\t", "scaffold_2\t"))
    with pytest.raises(DataError, match=r"other\.gtf: none of the annotation's chromosomes .*scaffold_1.*FASTA "
                                        r"names e\.g\. \['I', 'II'\]"):
        build_gene_dataset(toy["fa"], other, expr)
    # an annotation for a longer assembly: genes past the chromosome end
    longer = tmp_path / "longer.gtf"
    longer.write_text(GTF.replace("\t201\t260\t", "\t901\t960\t").replace("\t21\t60\t", "\t421\t460\t"))
    with pytest.raises(DataError, match=r"longer\.gtf: record G2: 2 of 3 genes end past their chromosome "
                                        r"\(e\.g\. G2 ends at I:960, the chromosome has 300 bases"):
        build_gene_dataset(toy["fa"], longer, expr, GeneOptions(biotypes=None))
    many = "".join(f'chrI\tt\tgene\t{10 + i}\t{20 + i}\t.\t+\t.\tgene_id "N{i}";\n' for i in range(40))
    few = tmp_path / "few.gtf"
    few.write_text(GTF.replace("\t201\t260\t", "\t901\t960\t") + many)
    expr.write_text("gene\ts\n" + "".join(f"N{i}\t{i}\n" for i in range(40)) + "G1\t5\nG2\t6\n")
    table, rep = build_gene_dataset(toy["fa"], few, expr, GeneOptions(biotypes=None, windows=WindowSpec.single(20)))
    assert rep["dropped"]["beyond_chromosome_end"] == 1 and rep["dropped_examples"]["beyond_chromosome_end"] == ["G2"]
    assert rep["expression"]["without_sequence"] == 1 and "G2" not in set(table["id"])
    # empty inputs name their file
    for name, call in [("empty.gtf", lambda p: build_gene_dataset(toy["fa"], p, expr)),
                       ("empty.fa", lambda p: build_gene_dataset(p, toy["gtf"], expr)),
                       ("empty.tsv", lambda p: build_gene_dataset(toy["fa"], toy["gtf"], p)),
                       ("empty.bed", lambda p: build_gene_dataset(toy["fa"], toy["gtf"], expr,
                                                                  GeneOptions(tss_bed=p)))]:
        path = tmp_path / name
        path.write_text("")
        with pytest.raises(DataError, match=rf"{name.replace('.', '[.]')}: "):
            call(path)
    empty_dir = tmp_path / "no_counts"
    empty_dir.mkdir()
    with pytest.raises(DataError, match=r"no_counts: no count files found"):
        build_gene_dataset(toy["fa"], toy["gtf"], empty_dir)
    with pytest.raises(DataError, match=r"record line 1: 4 tab-separated fields"):
        bad = tmp_path / "short.gtf"
        bad.write_text("chrI\tt\tgene\t1\n")
        read_genes(bad)
