"""Cross-species training: three synthetic "species" (random genomes, GTF/GFF3, expression set by a promoter
motif) are built with the gene-data-set builder, combined, and a model trained on one species is tested on
another with the package's training layer; metrics come out per species and no species is in two splits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2expr.config import load_config
from seq2expr.data.errors import DataError
from seq2expr.data.genome import GeneOptions, WindowSpec, build_gene_dataset, concat_gene_datasets
from seq2expr.data.sequences import reverse_complement

MOTIF = "TGACGTCA"  # a palindrome (its reverse complement is itself), like many TF sites
SPEC = WindowSpec(upstream=150, downstream=30, tts_upstream=30, tts_downstream=60, spacer=20)


def make_species(out: Path, name: str, seed: int, n_chrom: int, genes_per_chrom: int, gc: float,
                 fmt: str = "gtf", chr_prefix: str = "", expr_kind: str = "htseq") -> dict[str, Path]:
    """Random genome + annotation + counts; genes with MOTIF 20-120 bp upstream of the TSS are ~20x higher."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    spacing, chroms, feats, counts = 700, {}, [], {}
    for c in range(1, n_chrom + 1):
        seq = list("".join(rng.choice(list("ACGT"), spacing * (genes_per_chrom + 1), p=p)))
        for j in range(genes_per_chrom):
            gid = f"{name[:2].upper()}{c:02d}G{j:03d}"
            strand = "+" if rng.random() < 0.5 else "-"
            start = spacing * j + 300  # 0-based
            length = int(rng.integers(150, 300))
            end = start + length
            active = rng.random() < 0.5
            if active:
                off = int(rng.integers(20, 120))
                site = start - off - len(MOTIF) if strand == "+" else end + off
                seq[site:site + len(MOTIF)] = list(MOTIF if strand == "+" else reverse_complement(MOTIF))
            mean = (400.0 if active else 20.0) * length / 1000 * rng.lognormal(0, 0.3)
            counts[gid] = rng.poisson(mean * np.array([1.0, 1.2, 0.8]) * 10)
            feats.append((f"{chr_prefix}{c}", start, end, strand, gid))
        chroms[str(c)] = "".join(seq)
    fa = out / "genome.fa.gz"
    fa.write_bytes(gzip.compress("".join(f">{k}\n{v}\n" for k, v in chroms.items()).encode()))
    lines = []
    for chrom, s, e, strand, gid in feats:
        if fmt == "gtf":
            a = f'gene_id "{gid}"; gene_biotype "protein_coding";'
            lines += [f"{chrom}\tsyn\tgene\t{s + 1}\t{e}\t.\t{strand}\t.\t{a}",
                      f'{chrom}\tsyn\texon\t{s + 1}\t{e}\t.\t{strand}\t.\t{a} transcript_id "{gid}.1";']
        else:
            lines += [f"{chrom}\tsyn\tgene\t{s + 1}\t{e}\t.\t{strand}\t.\tID=gene:{gid};biotype=protein_coding",
                      f"{chrom}\tsyn\tmRNA\t{s + 1}\t{e}\t.\t{strand}\t.\tID=transcript:{gid}.1;Parent=gene:{gid}",
                      f"{chrom}\tsyn\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tParent=transcript:{gid}.1"]
    ann = out / f"genes.{fmt}"
    ann.write_text("\n".join(lines) + "\n")
    if expr_kind == "htseq":
        expr = out / "counts"
        expr.mkdir()
        for r in range(3):
            rows = [f"{g}\t{v[r]}" for g, v in counts.items()] + ["__no_feature\t50", "__ambiguous\t3"]
            (expr / f"rep{r + 1}.txt").write_text("\n".join(rows) + "\n")
    else:
        expr = out / "counts.tsv"
        pd.DataFrame(counts, index=["rep1", "rep2", "rep3"]).T.rename_axis("gene").to_csv(expr, sep="\t")
    return {"genome": fa, "annotation": ann, "expression": expr}


@pytest.fixture(scope="module")
def combined(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("species")
    settings = {"alpha": dict(seed=1, n_chrom=4, genes_per_chrom=90, gc=0.38, fmt="gtf", chr_prefix="chr"),
                "beta": dict(seed=2, n_chrom=2, genes_per_chrom=60, gc=0.45, fmt="gff3", expr_kind="table"),
                "gamma": dict(seed=3, n_chrom=2, genes_per_chrom=80, gc=0.52, fmt="gtf", chr_prefix="Chr")}
    built = []
    for name, kw in settings.items():
        files = make_species(root / name, name, **kw)
        _, rep = build_gene_dataset(**files, options=GeneOptions(windows=SPEC, species=name,
                                                                 label_quantiles=(0.3, 0.7)), out=root / f"{name}_ds")
        assert rep["kept"] == kw["n_chrom"] * kw["genes_per_chrom"] and not rep["dropped"]
        built.append(root / f"{name}_ds")
    table = concat_gene_datasets(built, out=root / "all")
    assert table["species"].value_counts().to_dict() == {"alpha": 360, "gamma": 160, "beta": 120}
    return root


def test_combine_rejects_colliding_ids(combined):
    one = pd.read_parquet(combined / "alpha_ds" / "genes.parquet")
    with pytest.raises(DataError, match="share gene IDs"):
        concat_gene_datasets([one, one])
    other = one.assign(species="copy")
    assert concat_gene_datasets([one, other], on_duplicate="prefix")["id"].str.startswith("copy:").sum() == len(one)


def test_train_on_species_test_on_another(combined, tmp_path):
    from seq2expr.data.prepare import prepare_data
    from seq2expr.training import train

    table = pd.read_parquet(combined / "all" / "genes.parquet")
    rng = np.random.default_rng(0)
    table["shuffled"] = rng.permutation(table["log_tpm"].to_numpy())
    data = tmp_path / "all.parquet"
    table.to_parquet(data)

    def cfg(out: Path, target: str):
        return load_config(None, [
            f"data.path={data}", "data.id_column=id", f"data.target_columns=[{target}]",
            "data.group_columns=[species, chromosome]", "data.split.method=group",
            "data.split.group_column=species", "data.split.test_groups=[gamma]", "data.split.valid_groups=[beta]",
            f"data.cache_dir={tmp_path / 'cache'}", "model.name=cnn",
            "model.params={channels: [32], kernel_sizes: 9, pool_sizes: [290], convs_per_block: 1, dropout: 0.0, "
            "hidden: [16], head_dropout: 0.0}",
            "train.epochs=12", "train.batch_size=32", "train.lr=0.005", "train.threads=1",
            "train.early_stopping_patience=null", f"output_dir={out}"])

    c = cfg(tmp_path / "run", "log_tpm")
    bundle = prepare_data(c.data, "regression")
    species = np.asarray(bundle.groups["species"])
    seen = {s: set(species[idx]) for s, idx in bundle.splits.items()}
    assert seen == {"train": {"alpha"}, "valid": {"beta"}, "test": {"gamma"}}  # leak-free by species

    train(c, progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    per_species = {s: metrics[s]["groups"]["species"] for s in ("valid", "test")}
    assert set(per_species["test"]) == {"gamma"} and set(per_species["valid"]) == {"beta"}
    r_test = per_species["test"]["gamma"]["pearson_r"]

    train(cfg(tmp_path / "control", "shuffled"), progress=False)
    control = json.loads((tmp_path / "control" / "metrics.json").read_text())
    r_control = control["test"]["groups"]["species"]["gamma"]["pearson_r"]
    print(f"cross-species test r (train alpha -> test gamma): {r_test:.3f}; shuffled-label control {r_control:.3f}")
    assert r_test > 0.6 and r_test > r_control + 0.4
