"""The model zoo's project entries: pack a trained model into the zoo, and re-measure every entry from its zoo copy.

Pack (after training; writes ``seq2expr/zoo/weights/NAME/`` and ``seq2expr/zoo/cards/NAME.json``, the held-out
metrics measured on the packed half-precision copy):

    SEQ2EXPR_DATA_MIRROR=../shared/data python bench/zoo.py pack dream2022-cnn runs/dream2022_cnn/model

Measure (every project entry loaded as ``zoo:NAME`` from the repository's copy, offline; the published Camformer
entries scored from the authors' predictions in the DREAM test file), written to ``bench/results/zoo.md``/.json:

    SEQ2EXPR_DATA_MIRROR=../shared/data python bench/zoo.py [--entries NAME,...]

Held out: DREAM entries on ``dream2022:test`` (the 62,058 private-leaderboard sequences, challenge scores as
``seq2expr evaluate``); yeast entries on the genes of chromosomes XV and XVI (the shipped ``yeast_genes`` config's
test chromosomes), windows built from the genome and GTF as the models were trained.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from common import MIRROR, REPO, load_average, machine

RESULTS = REPO / "bench" / "results"
WORK = Path(os.environ.get("SEQ2EXPR_BENCH_WORK", REPO / "bench" / "work" / "zoo"))
YEAST_TEST = ["XV", "XVI"]
PROJECT = "seq2expr (this repository)"
MIT = "MIT (seq2expr; trained on MIT-licensed public data)"
DREAM_CITE = ("seq2expr model zoo; data: Rafi AM et al. (2024) A community effort to optimize sequence-based deep "
              "learning models of gene regulation. Nat Biotechnol. doi:10.1038/s41587-024-02414-w")
YEAST_CITE = ("seq2expr model zoo; data: Schurch NJ et al. (2016) How many biological replicates are needed in an "
              "RNA-seq experiment and which differential expression tool should you use? RNA 22:839-851 "
              "(profDGE48, ENA PRJEB5348); genome and annotation: S. cerevisiae S288C R64-1-1, Ensembl release 96")
DREAM_CONSTRUCT = ("110-nt DREAM construct: 17-nt adapter TGCATTTTTTTCACATC + 80-nt variable region + 13-nt adapter "
                   "GGTTACGGCTGTT (give the whole 110 nt)")
YEAST_WINDOWS = ("3,020 nt per gene in transcript orientation: 1,000 nt before + 500 nt from the start codon (the TSS "
                 "stand-in), 20 N, 500 nt up to and including the stop codon + 1,000 nt after it; minus-strand genes "
                 "reverse-complemented; off-chromosome bases N (DeepCRE layout)")


DREAM_UNITS = ("DREAM expression on the standardised scale of the challenge test file's measured values (true_expr, "
               "MAUDE estimate: about -1.4 to 1.7), the scale of the 9,045 sequences it was trained on; not the 0-17"
               " bin scale of the challenge training data")


def _dream(name: str, summary: str, architecture: str, members: str) -> dict:
    return {"name": name, "version": "1.0", "source": "project", "summary": summary, "licence": MIT,
            "citation": DREAM_CITE, "architecture": architecture,
            "input": {"length": 110, "alphabet": "ACGT", "n_value": 0.0, "context": DREAM_CONSTRUCT,
                      "strands": "averaged: the model predicts the sequence and its reverse complement (rc_average)"},
            "targets": [{"name": "expression", "units": DREAM_UNITS, "range": [-2.0, 2.0],
                         "scale": "the measured scale (the standardisation fitted on training rows inverted)"}],
            "training": {"data": "dream2022:train (the 9,045 public-leaderboard sequences of the DREAM 2022 test "
                                 "set)", "split": members, "n_sequences": 9045}}


def _yeast(name: str, summary: str, task: str) -> dict:
    target = ({"name": "log_tpm", "units": "log1p(mean TPM over 48 wild-type replicates)", "range": [0.0, 12.0],
               "scale": "the measured scale (the standardisation fitted on training genes inverted)"}
              if task == "regression" else
              {"name": "label", "units": "high (1) vs low (0) expression: top vs bottom quartile of log-TPM "
                                        "(thresholds from the training chromosomes)",
               "scale": "probability of high expression (sigmoid of the logit)", "range": [0.0, 1.0],
               "classes": ["low", "high"]})
    return {"name": name, "version": "1.0", "source": "project", "summary": summary, "licence": MIT,
            "citation": YEAST_CITE, "architecture": "cnn (DeepCRE-style CNN, pools 8/8/8)",
            "input": {"length": 3020, "alphabet": "ACGT", "n_value": 0.0, "context": None,
                      "strands": "averaged over both strands of the window (rc_average)"},
            "targets": [target],
            "training": {"data": "S. cerevisiae protein-coding genes, profDGE48 wild-type RNA-seq "
                                 "(seq2expr data genes)",
                         "split": "whole chromosomes: test XV, XVI; validation XIII; train the rest"},
            "genome": {"build": "S. cerevisiae S288C R64-1-1 (Ensembl release 96 FASTA)",
                       "annotation": "Ensembl 96 GTF, protein-coding genes (a table of them ships with the model: "
                                     "genes.tsv.gz)", "windows": YEAST_WINDOWS,
                       "tss": "the start codon (the GTF has no UTRs); the TTS is the stop codon"}}


ENTRIES: dict[str, dict] = {
    "dream2022-legnet": _dream("dream2022-legnet", "The project's DREAM 2022 default: a 5-member LegNet ensemble "
                               "(`seq2expr train dream2022`), trained on the 9,045 public sequences.",
                               "legnet (expansion 2), ensemble of 5 cross-validation members",
                               "similarity clusters in 10 folds; members 0-4 each validated on its own fold"),
    "dream2022-cnn": _dream("dream2022-cnn", "A fast DREAM 2022 CNN: one member, 4 convolution blocks of 128 filters, "
                            "trained on the 9,045 public sequences.", "cnn (4 x 128 filters, kernels 15/9/9/9)",
                            "similarity clusters in 10 folds; fold 0 validates"),
    "yeast-log-tpm": _yeast("yeast-log-tpm", "Yeast gene expression (log-TPM) from DeepCRE gene windows, whole "
                            "chromosomes held out.", "regression"),
    "yeast-high-low": _yeast("yeast-high-low", "Yeast high vs low expressed genes (DeepCRE quartiles) from gene "
                             "windows, whole chromosomes held out.", "classification"),
}


# --------------------------------------------------------------------------------------------- held-out data


def yeast_table() -> Path:
    """The gene table built as the yeast models were trained (cached under the work folder)."""
    from seq2expr.data.genome.build import GeneOptions, build_gene_dataset

    out = WORK / "yeast_genes"
    if not (out / "genes.parquet").is_file():
        d = MIRROR / "yeast_genome"
        build_gene_dataset(d / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz",
                           d / "Saccharomyces_cerevisiae.R64-1-1.96.gtf.gz",
                           d / "profDGE48_counts" / "WT_countdata.tar.gz",
                           GeneOptions(label_quantiles=(0.25, 0.75), species="scer"), out=out, cache=WORK / "cache")
    return out / "genes.parquet"


def yeast_test(classification: bool) -> Path:
    """The test chromosomes' genes as a table ``evaluate`` reads (high/low: the labelled genes of
    ``genes_labelled.parquet``, top and bottom quartile of the species)."""
    import pandas as pd

    table = pd.read_parquet(yeast_table().parent / ("genes_labelled.parquet" if classification else "genes.parquet"))
    test = table[table["chromosome"].astype(str).isin(YEAST_TEST)]
    path = WORK / f"yeast_test_{'high_low' if classification else 'log_tpm'}.parquet"
    test.to_parquet(path)
    return path


def held_out_data(name: str) -> tuple[str, str]:
    """What an entry is scored on, and the command that scores it."""
    if name.startswith("dream2022"):
        return ("dream2022:test (the 62,058 private-leaderboard sequences)",
                f"seq2expr evaluate zoo:{name} dream2022:test --precision 32")
    what = "labelled (top/bottom quartile) genes" if name == "yeast-high-low" else "genes"
    return (f"{what} of chromosomes {', '.join(YEAST_TEST)} (held out; the gene table built from the genome, GTF and "
            "wild-type counts as for training)",
            f"SEQ2EXPR_DATA_MIRROR=../shared/data python bench/zoo.py --entries {name}")


def held_out(name: str, model) -> tuple[dict, str, str, int]:
    """``(metrics, data, command, n)`` of a zoo model on its held-out data."""
    from seq2expr.evaluation import evaluate

    data, command = held_out_data(name)
    if name.startswith("dream2022"):
        rep = evaluate(model, "dream2022:test", n_boot=0, precision="32")
        ch = rep["challenge"]
        m = {"pearson_r2": ch["subsets"]["all"]["pearson_r2"], "spearman": ch["subsets"]["all"]["spearman"],
             "score_pearson_r2": ch["score_pearson"], "score_spearman": ch["score_spearman"]}
        return m, data, command, rep["n"]
    classification = name == "yeast-high-low"
    rep = evaluate(model, yeast_test(classification), n_boot=0, precision="32")
    overall = rep["eval"]["overall"]
    keys = ("auroc", "accuracy", "auprc") if classification else ("pearson_r", "spearman_rho", "r2_score")
    return {k: overall[k] for k in keys if k in overall}, data, command, rep["n"]


def check_sequences(name: str, n: int = 2000) -> list[str]:
    """Held-out sequences the half-precision copy is checked on."""
    from seq2expr.data.io.tables import read_records
    from seq2expr.data.registry import load_split

    if name.startswith("dream2022"):
        seqs = load_split("dream2022:test").sequences
    else:
        seqs = read_records(yeast_test(False), id_column="id", sequence_column="sequence",
                            target_columns=["log_tpm"]).sequences
    rng = np.random.default_rng(0)
    return [seqs[i] for i in sorted(rng.choice(len(seqs), min(n, len(seqs)), replace=False))]


# ------------------------------------------------------------------------------------------------------- pack


def pack(name: str, model_dir: Path) -> None:
    """Half-precision zoo copy of ``model_dir`` as entry ``name``, its held-out metrics measured on that copy."""
    from seq2expr.convert.pack import finish, half_weights, portable_windows, staging
    from seq2expr.inference import load_model
    from seq2expr.zoo import HeldOutMetrics, ModelCard

    stage = staging()
    try:
        seqs = check_sequences(name)
        dtype, diff, storage = half_weights(model_dir, stage, seqs)
        portable_windows(stage / "config.json", stage)
        model = load_model(stage)
        metrics, data, command, n = held_out(name, model)
        cfg = model.config
        n_params = sum(p.numel() for p in model.model.parameters())
        card = ModelCard.model_validate({
            **ENTRIES[name], "parameters": n_params, "params": cfg.model.params,
            "storage": storage,
            "metrics": [HeldOutMetrics(data=data, metrics=metrics, command=command, n=n)]})
        full = finish(stage, card)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(json.dumps(full.model_dump()["metrics"], indent=1), f"\n{dtype}, max diff {diff:.2e}")


def recard(name: str) -> None:
    """Rewrite entry ``name``'s card from :data:`ENTRIES` without retraining or re-measuring: the package copy's
    weights, storage note and measured metrics are kept (the data and command texts follow
    :func:`held_out_data`)."""
    from seq2expr.convert.pack import finish, staging
    from seq2expr.zoo import ModelCard, get_card, package_dir

    old = get_card(name)
    stage = staging()
    try:
        for f in old.files:
            shutil.copyfile(package_dir() / "weights" / name / f.name, stage / f.name)
        data, command = held_out_data(name)
        metrics = [m.model_copy(update={"data": data, "command": command}) for m in old.metrics]
        card = ModelCard.model_validate({**ENTRIES[name], "parameters": old.parameters, "params": old.params,
                                         "storage": old.storage, "metrics": [m.model_dump() for m in metrics]})
        finish(stage, card)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- measure


def published_camformer() -> list[dict]:
    """The Camformer entries' private-set scores from the authors' predictions (the DREAM test file)."""
    from seq2expr.data.datasets.dream2022 import score_ids
    from seq2expr.data.registry import load_split
    from seq2expr.zoo import get_card

    test = load_split("dream2022:test")
    rows = []
    for name, col in (("camformer", "camformer"), ("camformer-mini", "camformer_mini")):
        ch = score_ids(test.ids, np.asarray(test.groups[col]))
        metrics = {"pearson_r2": ch["subsets"]["all"]["pearson_r2"], "spearman": ch["subsets"]["all"]["spearman"],
                   "score_pearson_r2": ch["score_pearson"], "score_spearman": ch["score_spearman"]}
        card = get_card(name).metrics[0].metrics
        rows.append({"entry": name, "source": "the authors' published predictions", "n": len(test),
                     "data": "dream2022:test (the 62,058 private-leaderboard sequences)", "metrics": metrics,
                     "card": card, "matches_card": all(abs(metrics[k] - v) < 5e-4 for k, v in card.items()),
                     "command": f"python bench/zoo.py (the {col} column of the dream2022 test set)"})
    return rows


def measure(names: list[str]) -> list[dict]:
    """Every named project entry from its zoo copy (``zoo:NAME``): held-out metrics next to its card's."""
    from seq2expr.inference import load_model
    from seq2expr.zoo import get_card

    rows = []
    for name in names:
        card = get_card(name)
        t0 = time.perf_counter()
        metrics, data, command, n = held_out(name, load_model(f"zoo:{name}"))
        card_metrics = card.metrics[0].metrics if card.metrics else {}
        rows.append({"entry": name, "source": "zoo copy (package)", "data": data, "n": n, "metrics": metrics,
                     "card": card_metrics, "command": command, "seconds": round(time.perf_counter() - t0, 1),
                     "storage": card.storage,
                     "matches_card": bool(card_metrics) and all(abs(metrics[k] - v) < 5e-4
                                                                for k, v in card_metrics.items() if k in metrics)})
    return rows


def merged(rows: list[dict]) -> list[dict]:
    """``rows`` (this run's) with the previous run's rows of the entries not measured now, in catalogue order: a
    re-measure of one entry (``--entries``) keeps the others' rows, each with its own run date."""
    path = RESULTS / "zoo.json"
    old = json.loads(path.read_text())["rows"] if path.is_file() else []
    now = {r["entry"] for r in rows}
    return rows + [r for r in old if r["entry"] not in now]


def write(rows: list[dict], args: argparse.Namespace, started: float) -> None:
    info = machine()
    for r in rows:
        r.setdefault("run", f"run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {info['line']}")
    rows = merged(rows) if args.entries else rows
    opts = f" --entries {args.entries}" if args.entries else ""
    head = ["# Model zoo: held-out metrics re-measured from the zoo copies", "",
            f"`SEQ2EXPR_DATA_MIRROR=../shared/data python bench/zoo.py{opts}`  ",
            f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.perf_counter() - started:.0f} s; "
            f"machine: {info['line']}; load average at the end {list(load_average())}.", "",
            "Each project entry is loaded as `zoo:NAME` from the repository's copy (`seq2expr/zoo/weights/NAME/`, "
            "checked against its card's sha256; float16 where predictions stay within 1e-3 of float32, as its "
            "`weights` line says), offline, and scored at float32 on data it never saw; `card` is what its model "
            "card says (`seq2expr models info NAME`). The published Camformer entries, whose weights cannot be "
            "downloaded here, are scored from the authors' own predictions in the DREAM test file. A run with "
            "`--entries` re-measures those entries and keeps the other rows; the runs are listed below the table.",
            "",
            "| entry | source | weights | held-out data | n | metrics | card | matches card | command |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fmt = ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items())
        card = ", ".join(f"{k} {v:.4f}" for k, v in (r.get("card") or {}).items()) or "-"
        storage = (r.get("storage") or "-").split(":")[0]
        head.append(f"| {r['entry']} | {r['source']} | {storage} | {r['data']} | {r['n']:,} | {fmt} | {card} "
                    f"| {'yes' if r.get('matches_card') else ('-' if 'matches_card' not in r else 'NO')} | "
                    f"`{r['command']}` |")
    runs = sorted({f"{r['entry']}: {r.get('run', 'run of 2026-12-04, ' + info['line'])}" for r in rows})
    head += ["", "Runs:", "", *[f"- {line}" for line in runs]]
    (RESULTS / "zoo.md").write_text("\n".join(head) + "\n")
    (RESULTS / "zoo.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", nargs="?", default="measure", choices=["measure", "pack", "recard"])
    ap.add_argument("name", nargs="?", help="pack: the entry")
    ap.add_argument("model_dir", nargs="?", type=Path, help="pack: the trained model folder")
    ap.add_argument("--entries", default="", help="measure: comma-separated entries (default: every project entry)")
    args = ap.parse_args()
    os.environ.setdefault("SEQ2EXPR_DATA_MIRROR", str(MIRROR))
    os.environ["SEQ2EXPR_NATIVE_BF16"] = "0"  # float32 everywhere: the numbers do not depend on the CPU
    WORK.mkdir(parents=True, exist_ok=True)
    if args.command == "pack":
        if args.name not in ENTRIES or args.model_dir is None:
            sys.exit(f"pack NAME MODEL_DIR, NAME one of {', '.join(ENTRIES)}")
        pack(args.name, args.model_dir)
        return
    if args.command == "recard":
        for name in [args.name] if args.name else [n for n in ENTRIES if (REPO / "seq2expr/zoo/cards" / f"{n}.json"
                                                                            ).is_file()]:
            recard(name)
        return
    from seq2expr.zoo import list_cards

    started = time.perf_counter()
    project = [c.name for c in list_cards() if c.source == "project"]
    names = [n for n in args.entries.split(",") if n] or project
    rows = measure([n for n in names if n in project])
    if not args.entries:
        rows += published_camformer()
    write(rows, args, started)
    print((RESULTS / "zoo.md").read_text())


if __name__ == "__main__":
    main()
