"""Promoter + distal (DeepCBA) benchmark on the real yeast genome: does the distal pathway recover a planted effect,
and what does building such a data set cost?

1. **Planted-distal comparison.** :func:`seq2expr.data.genome.planted.planted_loops` loops the genes of S. cerevisiae
   R64-1-1 (Ensembl 96 GTF) to regions 3-30 kb away and writes an activator into about a third of those regions and
   a promoter motif into half of the promoters (a copy of the genome); the expression of two tissues rises with
   both. ``seq2expr data genes --interactions`` builds one table (300-bp promoter windows, two 200-bp distal slots);
   a promoter-only ``cnn`` on ``sequence`` and a ``dual`` model on ``dual_sequence`` train on the same rows, split
   and budget (epochs), with whole chromosomes held out (test XV, XVI; validation XIII), for each data seed.
   Reported: held-out Pearson r per tissue with its bootstrap 95% CI, training and inference sequences/s, peak RSS,
   and the TF-MoDISco patterns of each pathway of the dual model (the activator should come back from the distal
   attributions only).
2. **Build cost.** 6,600 genes with 50,000 loops (``planted_loops`` with ~9.5 loops per looped gene), DeepCRE gene
   windows (3,020 bp), 1-kb distal windows: the ``slots`` build (4 slots) and the ``per-interaction`` build, each in
   a fresh process (wall time, peak RSS).

    SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. nice -n 10 flock /work/heavy.lock \\
        python bench/interactions.py --epochs 10 --seeds 0 1 2 --threads 2

Writes ``bench/results/interactions.md`` and ``.json``; every result names the CPU, its ISA and the load average.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import CHILD_MEM, MIRROR, load_average, machine, proc_status_mb

ROOT = Path(__file__).resolve().parents[1]
GENOME = "yeast_genome/Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz"
GTF = "yeast_genome/Saccharomyces_cerevisiae.R64-1-1.96.gtf.gz"
TEST, VALID = ["XV", "XVI"], ["XIII"]
PROMOTER, W, K = (200, 100), 200, 2
CONV = {"channels": [32], "kernel_sizes": 9, "convs_per_block": 1, "dropout": 0.0, "hidden": [16], "head_dropout": 0.0}


# ----------------------------------------------------------------------------------------------- 1. comparison
def planted_table(data: Path, work: Path, seed: int) -> tuple[Path, dict]:
    """The planted-distal genome, loops and expression, and the two-input table built from them."""
    from seq2expr.data.genome.build import GeneOptions, build_gene_dataset
    from seq2expr.data.genome.interactions import InteractionOptions
    from seq2expr.data.genome.planted import planted_loops
    from seq2expr.data.genome.windows import WindowSpec

    p = planted_loops(data / GENOME, data / GTF, work / f"planted{seed}", promoter_window=PROMOTER, seed=seed)
    opts = GeneOptions(windows=WindowSpec.single(sum(PROMOTER), PROMOTER[0]), aggregate="none",
                       interactions=InteractionOptions(p.interactions, window=W, max_distal=K))
    _, report = build_gene_dataset(p.genome, p.annotation, p.expression, opts, out=work / f"genes{seed}",
                                   cache=work / "cache")
    return work / f"genes{seed}" / "genes.parquet", report


def train_one(table: Path, report: dict, kind: str, work: Path, epochs: int, threads: int, seed: int) -> dict:
    """One model trained through ``seq2expr.training.train``; its held-out metrics and speeds."""
    import pandas as pd

    from seq2expr.config import load_config
    from seq2expr.inference import load_model, predict
    from seq2expr.training import train

    out = work / f"{kind}{seed}"
    load = [round(x, 2) for x in load_average()]
    dual = report["dual"]
    model = (["model.name=cnn", "model.params=" + json.dumps({**CONV, "pool_sizes": [sum(PROMOTER)]})]
             if kind == "promoter" else
             ["model.name=dual", f"data.sequence_column={dual['column']}", "model.params=" + json.dumps(
                 {**CONV, "pool_sizes": [1], "branch_pool": "max", "branch_lengths": dual["branch_lengths"],
                  "spacer": dual["spacer"]})])
    cfg = load_config(None, [
        f"data.path={table}", "data.id_column=id", "data.target_columns=[log_tpm_leaf, log_tpm_root]",
        "data.group_columns=[chromosome]", "data.target.standardize=true", f"data.cache_dir={work / 'enc'}",
        f"data.split={{method: group, group_column: chromosome, test_groups: {TEST}, valid_groups: {VALID}}}",
        f"train.epochs={epochs}", "train.batch_size=64", "train.lr=0.01", f"train.threads={threads}",
        "train.early_stopping_patience=null", f"train.seed={seed}", f"output_dir={out}", *model])
    t0 = time.perf_counter()
    train(cfg, progress=False)
    seconds = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    genes = pd.read_parquet(table)
    column = "sequence" if kind == "promoter" else dual["column"]
    test = genes.loc[genes["chromosome"].isin(TEST), column].tolist()
    saved = load_model(out / "model")
    predict(saved, test[:256])  # warm-up
    t0 = time.perf_counter()
    predict(saved, test)
    infer = len(test) / (time.perf_counter() - t0)
    return {"kind": kind, "seed": seed, "n": metrics["n"], "test": metrics["test"], "ci": per_target_ci(out),
            "train_seconds": round(seconds, 1), "train_seq_per_s": round(metrics["n"]["train"] * epochs / seconds, 1),
            "infer_seq_per_s": round(infer, 1), "peak_rss_mb": round(proc_status_mb("VmHWM"), 1), "load_before": load,
            "load_after": [round(x, 2) for x in load_average()],
            "model_dir": str(out / "model")}


def per_target_ci(run: Path) -> dict:
    """Held-out Pearson r of each target with its bootstrap 95% CI (1,000 resamples of the test genes), from the
    run's ``predictions_test.tsv`` through the evaluation layer's own bootstrap."""
    import pandas as pd

    from seq2expr.evaluation.metrics import bootstrap_ci, pearson_r

    pred = pd.read_csv(run / "predictions_test.tsv", sep="\t")
    out = {}
    for col in (c for c in pred.columns if c.endswith("_target")):
        name = col.removesuffix("_target")
        y, p = pred[col].to_numpy(), pred[f"{name}_prediction"].to_numpy()
        lo, hi = bootstrap_ci(y, p, pearson_r, n_boot=1000, seed=0)
        out[name] = {"r": pearson_r(y, p), "lo": lo, "hi": hi, "n": len(y)}
    return out


def pathway_motifs(result: dict, table: Path, n: int = 300) -> list[dict]:
    """TF-MoDISco per pathway of the dual model on ``n`` held-out genes with a distal input."""
    import pandas as pd

    from seq2expr.inference import as_onehot, load_model
    from seq2expr.interpret.attribute import attribute
    from seq2expr.interpret.pathways import model_pathways, pathway_patterns

    saved = load_model(result["model_dir"])
    genes = pd.read_parquet(table)
    rows = genes[genes["chromosome"].isin(TEST) & genes["has_distal"]].head(n)["dual_sequence"].tolist()
    _, hyp = attribute(saved, rows, method="saliency")
    patterns = pathway_patterns(as_onehot(rows, saved).numpy(), hyp, model_pathways(saved))
    return [{"pattern": p.name, "consensus": p.consensus, "seqlets": p.n_seqlets} for p in patterns]


# ----------------------------------------------------------------------------------------------- 2. build cost
BUILD_CHILD = """
import json, sys, time
from pathlib import Path
from seq2expr.data.genome.build import GeneOptions, build_gene_dataset
from seq2expr.data.genome.interactions import InteractionOptions
p, policy, out = json.loads(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
t0 = time.perf_counter()
opts = GeneOptions(interactions=InteractionOptions(p["interactions"], window=1000, max_distal=4, policy=policy))
table, report = build_gene_dataset(p["genome"], p["annotation"], p["expression"], opts, out=out, cache=p["cache"])
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": mem("VmHWM"), "rows": len(table),
                  "links": report["interactions"]["links"], "records": report["interactions"]["records"],
                  "genes": int(table["gene_id"].nunique()), "seq_len": len(table["dual_sequence"].iloc[0]),
                  "genes_without": report["interactions"]["genes_without_interactions"]}))
"""


def build_cost(data: Path, work: Path) -> dict:
    """Wall time and peak RSS of the two builds for 6,600 genes with ~50,000 loops, each in its own process."""
    from seq2expr.data.genome.planted import planted_loops

    t0 = time.perf_counter()
    p = planted_loops(data / GENOME, data / GTF, work / "loops50k", loop_fraction=0.85, mean_loops=9.5, seed=0)
    generate = time.perf_counter() - t0
    with open(p.interactions) as fh:
        n_loops = sum(1 for line in fh if not line.startswith("#"))
    spec = json.dumps({"interactions": str(p.interactions), "genome": str(p.genome), "annotation": str(p.annotation),
                       "expression": str(p.expression), "cache": str(work / "cache")})
    out: dict = {"loops": n_loops, "generate_seconds": round(generate, 1)}
    for policy in ("slots", "per-interaction"):
        load = [round(x, 2) for x in load_average()]
        run = subprocess.run([sys.executable, "-c", CHILD_MEM + BUILD_CHILD, spec, policy,
                              str(work / f"build_{policy}")], capture_output=True, text=True, check=True)
        out[policy] = {**json.loads(run.stdout.strip().splitlines()[-1]), "load_average_before": load}
    return out


# ----------------------------------------------------------------------------------------------- report
def _r(res: dict, target: str) -> tuple[float, float | None, float | None]:
    ci = res["ci"][target]
    return ci["r"], ci["lo"], ci["hi"]


def write(results: list[dict], motifs: list[dict], cost: dict, meta: dict, out: Path) -> None:
    from seq2expr.atomic import write_json, write_text

    lines = ["# Promoter + distal (DeepCBA) on the real yeast genome: planted-distal comparison and build cost", "",
             f"Machine: {meta['machine']['line']}.", "",
             f"`{meta['command']}`  ", f"Run {meta['started']} UTC, {meta['minutes']:.1f} min wall; load average "
             f"(1/5/15 min) at the start {_loads(meta['load_start'])}, at the end {_loads(meta['load_end'])} (2 "
             "cores shared with other work).", "", "## 1. Promoter-only vs promoter + distal, held-out chromosomes", "",
             f"Data: `planted_loops` on S. cerevisiae R64-1-1 (seeds {meta['seeds']}), built with `data genes "
             f"--single-window {sum(PROMOTER)} --single-upstream {PROMOTER[0]} --aggregate none --interactions "
             f"loops.bedpe --distal-window {W} --max-distal {K}`; test chromosomes {', '.join(TEST)}, validation "
             f"{', '.join(VALID)}; both models: one 32-filter convolution (k=9), global max pool, 16-unit head, "
             f"{meta['epochs']} epochs, batch 64, lr 0.01, RC augmentation and strand averaging (dual: each segment "
             "flipped in place). Targets: log TPM in two tissues (leaf: activator effect 1.0 log2 unit per active "
             "region; root: 0.5).", "",
             "Speeds are of a machine shared with other work: the load average (1/5/15 min) before and after each run "
             "is beside it; on 2 cores a load above 2 means the run had less than its 2 threads.", "",
             "| seed | model | leaf r | leaf 95% CI | root r | root 95% CI | test n | train seq/s | infer seq/s | "
             "peak RSS MB | load before / after |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        (lr, llo, lhi), (rr, rlo, rhi) = _r(res, "log_tpm_leaf"), _r(res, "log_tpm_root")
        lines.append(f"| {res['seed']} | {res['kind']} | {lr:.3f} | {_f(llo)}-{_f(lhi)} | {rr:.3f} | {_f(rlo)}-"
                     f"{_f(rhi)} | {res['n']['test']} | {res['train_seq_per_s']} | {res['infer_seq_per_s']} | "
                     f"{res['peak_rss_mb']} | {res.get('load_before', '-')} / {res.get('load_after', '-')} |")
    by = {k: [_r(x, "log_tpm_leaf")[0] for x in results if x["kind"] == k] for k in ("promoter", "dual")}
    lines += ["", f"Mean leaf r over seeds: promoter-only {np.mean(by['promoter']):.3f}, promoter + distal "
              f"{np.mean(by['dual']):.3f} (gain {np.mean(by['dual']) - np.mean(by['promoter']):+.3f}).", "",
              "TF-MoDISco per pathway of the dual model (first seed, 300 held-out genes with a distal input, saliency; "
              "planted: promoter `GCCACGTGGC`, distal activator `ATGACTCAT`):", "",
              "| pattern | consensus | seqlets |", "|---|---|---|"]
    lines += [f"| {m['pattern']} | {m['consensus']} | {m['seqlets']} |" for m in motifs[:12]]
    lines += ["", "## 2. Build cost: 6,600 genes, 50,000 loops", "",
              *([f"`{meta['build_run']['command']}`, run {meta['build_run']['started']} UTC, load average "
                 f"{meta['build_run']['load_start']} at the start.", ""] if "build_run" in meta else []),
              f"`planted_loops` wrote {cost['loops']:,} loops in {cost['generate_seconds']} s. Each build: DeepCRE "
              "gene windows (3,020 bp), 1-kb distal windows, in a fresh process (wall time includes imports, reading "
              "the genome, GTF and loops, and writing the parquet table).", "",
              "| policy | genes | rows | links | input bp | seconds | peak RSS MB | load before |", "|---|---|---|---|"
              "---|---|---|---|"]
    for policy in ("slots", "per-interaction"):
        c = cost[policy]
        lines.append(f"| {policy} (4 slots) | {c['genes']:,} | {c['rows']:,} | {c['links']:,} | {c['seq_len']:,} | "
                     f"{c['seconds']:.1f} | {c['peak_rss_mb']:.0f} | {c['load_average_before']} |"
                     if policy == "slots" else
                     f"| {policy} | {c['genes']:,} | {c['rows']:,} | {c['links']:,} | {c['seq_len']:,} | "
                     f"{c['seconds']:.1f} | {c['peak_rss_mb']:.0f} | {c['load_average_before']} |")
    write_text(out, "\n".join(lines) + "\n")
    write_json(out.with_suffix(".json"), {"meta": meta, "results": results, "motifs": motifs, "build": cost})


def _loads(values) -> list[float]:
    return [round(float(x), 2) for x in values]


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=MIRROR)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "interactions")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parts", nargs="+", choices=["compare", "build"], default=["compare", "build"],
                    help="a part not run keeps its results from the existing bench/results/interactions.json")
    args = ap.parse_args()
    import shutil

    import torch

    torch.set_num_threads(args.threads)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    out = ROOT / "bench" / "results" / "interactions.md"
    before = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").is_file() else {}
    meta = {"command": "python bench/interactions.py " + " ".join(sys.argv[1:]), "epochs": args.epochs,
            "seeds": args.seeds, "machine": machine(args.threads), "load_start": [round(x, 2) for x in load_average()],
            "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    t0 = time.perf_counter()
    results, motifs = before.get("results", []), before.get("motifs", [])
    if "compare" in args.parts:
        results, motifs = [], []
    for seed in args.seeds if "compare" in args.parts else []:
        table, report = planted_table(args.data, args.work, seed)
        for kind in ("promoter", "dual"):
            results.append(train_one(table, report, kind, args.work, args.epochs, args.threads, seed))
            print(json.dumps({k: results[-1][k] for k in ("kind", "seed", "train_seq_per_s")}), flush=True)
        if not motifs:
            motifs = pathway_motifs(results[-1], table)
    cost = build_cost(args.data, args.work) if "build" in args.parts else before.get("build", {})
    meta.update(load_end=[round(x, 2) for x in load_average()], minutes=(time.perf_counter() - t0) / 60)
    if "compare" not in args.parts:  # the comparison's own record stays with its numbers
        meta = {**before["meta"], "build_run": {k: meta[k] for k in ("command", "started", "load_start", "load_end",
                                                                     "minutes", "machine")}}
    write(results, motifs, cost, meta, out)


if __name__ == "__main__":
    main()
