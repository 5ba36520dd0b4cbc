"""Yeast gene-level benchmark: DeepCRE windows -> high/low class and log-TPM, whole chromosomes held out.

Data: S. cerevisiae R64-1-1 genome + Ensembl 96 GTF + profDGE48 wild-type counts (48 replicates, mean TPM),
built with :func:`seq2expr.data.genome.build.build_gene_dataset` (windows: 1000 bp before + 500 bp after the
TSS, 20 N, 500 bp before + 1000 bp after the TTS = 3,020 bp; start/stop codons stand in for TSS/TTS).
Split: test = chromosomes IV and XV, validation = XVI, train = the rest (incl. Mito).
Tasks: classification (DeepCRE quartiles: bottom 25% of log-TPM = 0, top 25% = 1, middle dropped;
thresholds fitted on the training chromosomes) and regression on log1p(TPM) (standardised).
Models: ``cnn``, ``hybrid``, ``dual`` (branches = TSS window + TTS window, each globally avg+max pooled),
``lm_cnn`` on 6-mer word2vec vectors (DeepLncLoc: averaged over 50-bp subsequences) trained with gensim (1 worker,
fixed seed) on the training chromosomes only, through the model's own params (``embedding`` = the genome FASTA,
``w2v_exclude`` = held-out chromosomes; cached on disk), and shuffled-label controls (``cnn`` and ``lm_cnn`` by
default, ``--controls``; log-TPM permuted within the training chromosomes). Peer: the ``cnn`` classification
run is also timed as a bare PyTorch loop on the same data, batch and threads (``--peer``).
Every run goes through ``seq2expr.training.train`` in its own process (peak RSS per run).

    SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. nice -n 10 python bench/yeast_genes.py \\
        --epochs 12

Writes ``bench/results/yeast_genes.md`` and ``.json``. Needs ``SEQ2EXPR_DATA_MIRROR`` (or ``--data``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import (
    efficiency,
    load_average,
    machine,
    machine_peak_flops,
    model_flops,
    peak_rss_mb,
    train_timer,
)

ROOT = Path(__file__).resolve().parents[1]
TEST_CHROMS, VALID_CHROMS = ["IV", "XV"], ["XVI"]
TSS_BP, TTS_BP, SPACER = 1500, 1500, 20
K, W2V_DIM, SEGMENT = 6, 32, 50  # 6-mers, 32-d vectors, averaged over 50-bp subsequences

MODELS: dict[str, tuple[str, dict]] = {
    "cnn": ("cnn", {"channels": [32, 64, 32], "pool_sizes": 8, "convs_per_block": 1, "hidden": [64],
                    "kernel_sizes": 8}),
    "hybrid": ("hybrid", {"channels": [32, 64], "kernel_sizes": [15, 5], "pool_sizes": [4, 8], "n_layers": 2,
                          "n_heads": 4, "hidden": [64]}),
    "dual": ("dual", {"branch_lengths": [TSS_BP, TTS_BP], "spacer": SPACER, "channels": [32, 64, 32],
                      "pool_sizes": 4, "convs_per_block": 1, "hidden": [64], "branch_pool": "avgmax"}),
    "lm_cnn": ("lm_cnn", {"mode": "kmer", "segment_pool": SEGMENT, "channels": [64, 64], "kernel_sizes": 5,
                          "pool_sizes": 2, "hidden": [64]}),
}
CONTROLS = ["cnn", "lm_cnn"]


# ----------------------------------------------------------------------------------------------- data
def build_data(data_dir: Path, work: Path) -> dict:
    """Gene table (cached in ``work``) and its build report."""
    from seq2expr.data.genome.build import GeneOptions, build_gene_dataset

    out = work / "genes"
    report_path = out / "report.json"
    if report_path.is_file() and (out / "genes.parquet").is_file():
        return json.loads(report_path.read_text())
    d = data_dir / "yeast_genome"
    shutil.rmtree(out, ignore_errors=True)  # an incomplete scratch output of an earlier run
    _, report = build_gene_dataset(d / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz",
                                   d / "Saccharomyces_cerevisiae.R64-1-1.96.gtf.gz",
                                   d / "profDGE48_counts" / "WT_countdata.tar.gz",
                                   GeneOptions(label_quantiles=(0.25, 0.75), species="S_cerevisiae"), out=out,
                                   cache=work / "cache")
    return report


def shuffled_table(work: Path, seed: int = 0) -> Path:
    """The gene table with ``log_tpm`` permuted among training-chromosome genes (valid/test untouched)."""
    import pandas as pd

    from seq2expr.atomic import atomic_path

    path = work / "genes_shuffled.parquet"
    if path.is_file():
        return path
    df = pd.read_parquet(work / "genes" / "genes.parquet")
    train = ~df["chromosome"].isin(TEST_CHROMS + VALID_CHROMS).to_numpy()
    vals = df["log_tpm"].to_numpy().copy()
    vals[train] = np.random.default_rng(seed).permutation(vals[train])
    df["log_tpm"] = vals
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def genome_path(data_dir: Path) -> Path:
    return data_dir / "yeast_genome" / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz"


def kmer_embedding(data_dir: Path, work: Path, epochs: int) -> dict:
    """6-mer word2vec on the training chromosomes (held-out chromosomes never seen, even unlabelled).

    Trained here through the same cached call ``lm_cnn`` makes from its params (``embedding`` = the genome
    FASTA, ``w2v_exclude`` = valid + test chromosomes), so the runs find it in the cache; timed here.
    """
    from seq2expr.embeddings.kmer import genome_kmer_embedding

    t = time.perf_counter()
    emb, path = genome_kmer_embedding(genome_path(data_dir), K, W2V_DIM, window=5, epochs=epochs,
                                      exclude=tuple(TEST_CHROMS + VALID_CHROMS), cache_dir=work / "kmer")
    seconds, timing = time.perf_counter() - t, path.with_suffix(".timing.json")
    if seconds > 2 or not timing.is_file():  # trained now: keep the training time beside the cached table
        timing.write_text(json.dumps({"seconds": round(seconds, 1), "load_average": list(load_average())}))
    return {"seconds_or_cached": json.loads(timing.read_text())["seconds"], "file": str(path), "k": K,
            "dim": W2V_DIM, "epochs": epochs, "window": 5, "kmers_seen": int((emb.table != 0).any(1).sum())}


def run_config(task: str, model: str, table: Path, work: Path, args, tag: str):
    from seq2expr.config import RunConfig

    name, params = MODELS[model]
    params = dict(params)
    if name == "lm_cnn":
        params.update(embedding=str(genome_path(Path(args.data))), k=K, embed_dim=W2V_DIM, w2v_epochs=args.w2v_epochs,
                      w2v_exclude=TEST_CHROMS + VALID_CHROMS, cache_dir=str(work / "kmer"))
    target = {"label_quantiles": [0.25, 0.75]} if task == "classification" else {"standardize": True}
    return RunConfig.model_validate({
        "data": {"path": str(table), "id_column": "id", "target_columns": ["log_tpm"], "group_columns": ["chromosome"],
                 "target": target, "cache_dir": str(work / "cache"),
                 "split": {"method": "group", "group_column": "chromosome", "valid_groups": VALID_CHROMS,
                           "test_groups": TEST_CHROMS}},
        "model": {"name": name, "params": params},
        "train": {"task": task, "loss": "bce" if task == "classification" else "mse", "epochs": args.epochs,
                  "batch_size": 64, "lr": 2e-3, "early_stopping_patience": 3, "seed": 0, "threads": args.threads,
                  "max_time_minutes": args.max_minutes,
                  # dual: the reverse complement would swap its TSS and TTS segments (refused by RunConfig)
                  "rc_augment": name != "dual", "rc_average": name != "dual"},
        "output_dir": str(work / "runs" / f"{task}_{tag}"),
    })


# ----------------------------------------------------------------------------------------------- one run
def _flops_per_seq(model, seq_len: int) -> tuple[float, float]:
    """(training = forward + backward, inference = forward) FLOPs per sequence (bench/common.py counter)."""
    import torch

    from seq2expr.data.sequences import one_hot

    x = one_hot(torch.randint(0, 4, (4, seq_len)))
    model.train()
    train = model_flops(model, x, backward=True) / len(x)
    model.eval()
    infer = model_flops(model, x) / len(x)
    model.zero_grad(set_to_none=True)
    return train, infer


def plain_loop_seqs_per_s(cfg, bundle, n_batches: int = 40, warmup: int = 3) -> dict:
    """Peer: the same architecture trained by a bare PyTorch loop (AdamW + BCE/MSE, no Lightning, no RC aug).

    Same data (training split, batch size, threads) as the seq2expr run; timed over ``n_batches`` after
    ``warmup``. The ratio seq2expr / plain shows what the Lightning layer, the memmap loader and RC
    augmentation cost per sequence.
    """
    import torch

    from seq2expr.data.sequences import one_hot
    from seq2expr.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(cfg.model.name, seq_len=bundle.seq_len, n_targets=1, **cfg.model.params).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss() if cfg.train.task == "classification" else torch.nn.MSELoss()
    idx = np.random.default_rng(0).permutation(bundle.splits["train"])
    bs, seqs, t = cfg.train.batch_size, 0, 0.0
    for i in range(warmup + n_batches):
        rows = np.sort(idx[(i * bs) % len(idx):][:bs])
        if i == warmup:
            t = time.perf_counter()
        x = one_hot(np.asarray(bundle.codes[rows]))
        y = torch.from_numpy(np.asarray(bundle.targets[rows], dtype=np.float32))
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            seqs += len(rows)
    return {"seqs": seqs, "seconds": time.perf_counter() - t, "seqs_per_s": seqs / (time.perf_counter() - t)}


def run_one(spec: dict) -> dict:
    """Train one model through ``train(cfg)`` and measure it; runs in a child process."""
    import torch

    from seq2expr.config import RunConfig
    from seq2expr.data.prepare import prepare_data
    from seq2expr.inference import load_model, predict
    from seq2expr.training import train

    cfg = RunConfig.model_validate(spec["cfg"])
    threads = cfg.train.threads or 2
    torch.set_num_threads(threads)
    load_before = list(load_average())
    timer = train_timer()
    t0 = time.perf_counter()
    model_dir = train(cfg, resume=False, progress=False, callbacks=[timer])
    total = time.perf_counter() - t0
    metrics = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())
    saved = load_model(model_dir)
    bundle = prepare_data(cfg.data, cfg.train.task)
    test_idx = bundle.splits["test"]
    codes = np.asarray(bundle.codes[test_idx])
    predict(saved.model, codes[:64], batch_size=64, rc_average=True)  # warm-up
    t = time.perf_counter()
    predict(saved.model, codes, batch_size=256, rc_average=True)
    infer_sps = len(codes) / (time.perf_counter() - t)
    f_train, f_infer = _flops_per_seq(saved.model, bundle.seq_len)
    train_sps = timer.seqs / timer.seconds if timer.seconds else float("nan")
    peer = plain_loop_seqs_per_s(cfg, bundle) if spec.get("peer") else None
    if peer:
        peer["ratio_seq2expr_over_plain"] = train_sps / peer["seqs_per_s"]
    return {"peer": peer,
        "task": cfg.train.task, "tag": spec["tag"], "model": cfg.model.name,
        "n": metrics.get("n"), "epochs_trained": metrics["fit"][0].get("epochs_trained"),
        "best_valid": metrics["fit"][0].get("best_score"),
        "test": metrics.get("test", {}).get("overall"), "valid": metrics.get("valid", {}).get("overall"),
        "test_ci": metrics.get("test", {}).get("ci"),
        "params": int(sum(p.numel() for p in saved.model.parameters())),
        "total_seconds": round(total, 1), "train_seconds": round(timer.seconds, 1),
        "train_seqs_per_s": train_sps, "infer_seqs_per_s_rc_avg": infer_sps,
        "train_flops_per_seq": f_train, "infer_flops_per_seq": f_infer,
        "train_efficiency": efficiency(f_train * timer.seqs, timer.seconds, threads),
        # rc averaging: two forwards per sequence
        "infer_efficiency": efficiency(2 * f_infer * len(codes), len(codes) / infer_sps, threads),
        "peak_rss_mb": peak_rss_mb(), "load_before": load_before, "load_after": list(load_average()),
    }


# ----------------------------------------------------------------------------------------------- report
def _fmt(v, nd=3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _margin(results: list[dict], task: str, metric: str) -> dict | None:
    """Best real model vs the shuffled-label control(s) on the test chromosomes."""
    real = [r for r in results if r["task"] == task and "error" not in r and "shuffled" not in r["tag"]]
    ctrl = [r for r in results if r["task"] == task and "error" not in r and "shuffled" in r["tag"]]
    if not real or not ctrl:
        return None
    best = max(real, key=lambda r: (r["test"] or {}).get(metric, float("-inf")))
    top_ctrl = max(ctrl, key=lambda r: (r["test"] or {}).get(metric, float("-inf")))
    b, c = best["test"][metric], top_ctrl["test"][metric]
    return {"metric": metric, "best": best["tag"], "best_value": b, "best_ci": best.get("test_ci"),
            "control": top_ctrl["tag"], "control_value": c, "control_ci": top_ctrl.get("test_ci"), "margin": b - c}


def write_report(results: list[dict], meta: dict, out_md: Path) -> None:
    from seq2expr.atomic import write_json, write_text

    hw = meta["hardware"]
    w2v = meta["w2v"]
    lines = [
        "# Yeast gene-level benchmark (DeepCRE windows, chromosomes held out)",
        "",
        f"Machine: {meta['host']['line'] if 'host' in meta else 'not recorded'}.",
        "",
        f"`{meta['command']}`  ",
        f"Run {meta['started']} UTC, {meta['wall_minutes']:.1f} min wall in all; torch {meta['torch']}, "
        f"{meta['threads']} thread(s) per run, each run "
        + (f"capped at {meta['max_minutes']} min / {meta['epochs']} epochs; " if meta.get("max_minutes") else
           f"at most {meta['epochs']} epochs (no time cap); ") +
        f"load average (1/5/15 min) at the start {meta['load_start']}, at the end {meta['load_end']} on "
        f"{os.cpu_count()} cores" + (" (other jobs were running: timings are contended and rough)."
                                     if meta["load_start"][0] > 0.5 * os.cpu_count() else " (idle at the start)."),
        "",
        "## Data and split",
        "",
        f"* S. cerevisiae R64-1-1 + Ensembl 96 GTF, profDGE48 WT counts (48 replicates, mean TPM, log1p), built "
        f"with `seq2expr.data.genome.build.build_gene_dataset`: {meta['data']['kept']} protein-coding genes kept, "
        f"dropped: {meta['data'].get('dropped')}; windows {meta['data']['seq_len']} bp (1000 + 500 around the "
        "start codon, 20 N, 500 + 1000 around the stop codon; the GTF has no UTRs).",
        f"* Split by whole chromosomes: **test = {', '.join(TEST_CHROMS)}**, **valid = {', '.join(VALID_CHROMS)}** "
        "(early stopping), train = the other 13 nuclear chromosomes + Mito.",
        "* Classification: DeepCRE quartiles (bottom 25% of log-TPM = low/0, top 25% = high/1, middle dropped), "
        "thresholds from the training chromosomes. Regression: standardised log1p(TPM), all genes.",
        f"* `lm_cnn` (DeepLncLoc): {K}-mer word2vec (D={W2V_DIM}, window 5, {w2v['epochs']} epoch(s), gensim, "
        f"1 worker, seed 0) trained on the training chromosomes only ({w2v['kmers_seen']} k-mers seen; "
        f"{w2v['seconds_or_cached']} s to train, 1 core, under load), vectors averaged over {SEGMENT}-bp "
        "subsequences, then a CNN. "
        "It is configured like any run (`model.params.embedding: <genome FASTA>`, `w2v_exclude: [IV, XV, XVI]`); "
        "the table is cached on disk.",
        "* Shuffled-label control: same model and settings, log-TPM permuted among training-chromosome genes "
        "(validation and test labels untouched).",
        f"* Training: `seq2expr.training.train`, AdamW lr 2e-3, one-cycle, batch 64, up to {meta['epochs']} "
        "epochs, early stopping on validation AUROC / Pearson (patience 3), RC augmentation, RC-averaged evaluation.",
        "",
    ]
    m = _margin(results, "classification", "auroc")
    if m:
        best = next(r for r in results if r["task"] == "classification" and r["tag"] == m["best"])
        ctrl = next(r for r in results if r["task"] == "classification" and r["tag"] == m["control"])
        ci, cci = m["best_ci"] or {}, m["control_ci"] or {}
        onehot_epochs = [r["epochs_trained"] for r in results if "error" not in r and r["model"] != "lm_cnn"] or [0]
        lines += [
            "## Headline", "",
            f"On the held-out chromosomes {', '.join(TEST_CHROMS)} the best model, `{m['best']}`, separates high from "
            f"low genes with AUROC {m['best_value']:.3f} (95% CI {_fmt(ci.get('lo'))}-{_fmt(ci.get('hi'))}) and "
            f"accuracy {best['test']['accuracy']:.3f}, against AUROC {m['control_value']:.3f} "
            f"({_fmt(cci.get('lo'))}-{_fmt(cci.get('hi'))}) and accuracy {ctrl['test']['accuracy']:.3f} for the best "
            f"shuffled-label control ({m['control']}): a margin of {m['margin']:+.3f} AUROC "
            + ("with non-overlapping intervals. " if (ci.get("lo") or 0) > (cci.get("hi") or 1) else
               "(the intervals overlap). ")
            + "DeepCRE reports >80% accuracy on plant genomes (tens of thousands of genes per species); here "
            + (f"each model had at most {meta['max_minutes']} min on one contended core: the one-hot models "
               f"trained only {min(onehot_epochs)}-{max(onehot_epochs)} epochs before the cap, so their numbers are "
               "a floor, not a ceiling." if meta.get("max_minutes") else
               f"the one-hot models trained {min(onehot_epochs)}-{max(onehot_epochs)} epochs."),
            ""]
    for task, cols, metric in (("classification", ["accuracy", "auroc", "f1", "auprc"], "auroc"),
                               ("regression", ["pearson_r", "spearman_rho", "r2_score"], "pearson_r")):
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        lines += [f"## {task.capitalize()} (test = chromosomes {', '.join(TEST_CHROMS)})", "",
                  "| model | params | " + " | ".join(cols) + f" | {metric} 95% CI | test n | epochs | train s "
                  "| train seq/s | infer seq/s (RC avg) | peak RSS MB | train GFLOP/s | % of peak |",
                  "|" + "---|" * (len(cols) + 11)]
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['tag']} | failed: {r['error'][:80]} |")
                continue
            t, ci, eff = r["test"] or {}, r.get("test_ci") or {}, r["train_efficiency"]
            lines.append(
                f"| {r['tag']}{' (b)' if r.get('rerun') else ''} | {r['params']:,} | "
                + " | ".join(_fmt(t.get(c)) for c in cols)
                + f" | {_fmt(ci.get('lo'))}-{_fmt(ci.get('hi'))} | {t.get('n', '-')} | {r['epochs_trained']} | "
                f"{r['train_seconds']:.0f} | {r['train_seqs_per_s']:.0f} | {r['infer_seqs_per_s_rc_avg']:.0f} | "
                f"{r['peak_rss_mb']:.0f} | {eff['achieved_gflops']:.2f} | {100 * eff['fraction_of_peak']:.2f} |")
        m = _margin(results, task, metric)
        if m:
            lines += ["", f"**Best vs shuffled control ({metric}):** {m['best']} {m['best_value']:.3f} vs "
                      f"{m['control']} {m['control_value']:.3f}: margin {m['margin']:+.3f}."]
        lines.append("")
    peers = [r for r in results if r.get("peer")]
    lines += ["## Peer comparison", ""]
    for r in peers:
        p = r["peer"]
        lines.append(f"* `{r['tag']}` ({r['task']}): seq2expr training (Lightning layer, memmap loader, RC "
                     f"augmentation) {r['train_seqs_per_s']:.0f} seq/s vs a bare PyTorch loop on the same "
                     f"architecture, data, batch and threads {p['seqs_per_s']:.0f} seq/s "
                     f"(ratio **{p['ratio_seq2expr_over_plain']:.2f}**; measured in the same process, one after "
                     "the other).")
    lines += [
        "",
        "## Throughput notes",
        "",
        f"* Peak: {hw['how']} = {hw['peak_flops'] / 1e9:.0f} GFLOP/s for the {meta['threads']} thread(s) a run "
        "uses (bench/common.py).",
        "* FLOPs per sequence counted by `torch.utils.flop_counter.FlopCounterMode` (forward + backward for "
        "training; matmul/conv/attention only, so the k-mer gather and averaging of `lm_cnn` count 0).",
        "* train seq/s: sequences / seconds inside training epochs (validation excluded); train s is that time. "
        "Inference: saved model, test chromosomes, batch 256, forward + reverse complement averaged.",
        "* Peak RSS: the whole training process (data preparation, Lightning, evaluation included).",
    ]
    if meta.get("reruns"):
        rr = meta["reruns"]
        lines.append(f"* (b): rerun {rr['started']} UTC (load {rr['load_start']} -> {rr['load_end']}) with the same "
                     "seed and settings, because the first run's timer still counted the validation pass and the "
                     "host was then so contended that the one-hot models reached only 3-5 epochs within the time "
                     f"cap. First-run values of these rows: {rr.get('first', {})}. The metrics differ only through "
                     "the number of epochs reached in the cap (runs are deterministic on CPU otherwise).")
    lines.append("")
    write_text(out_md, "\n".join(lines))
    write_json(out_md.with_suffix(".json"), {"meta": meta, "results": results})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SEQ2EXPR_DATA_MIRROR", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--work", default=str(ROOT / "bench" / "work" / "yeast_genes"))
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (1 beats 2 on a contended host)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="a wall-clock cap per training run (default none: budgets are epochs; a cut run is marked "
                         "truncated)")
    ap.add_argument("--w2v-epochs", type=int, default=1)
    ap.add_argument("--models", default="cnn,hybrid,dual,lm_cnn")
    ap.add_argument("--tasks", default="classification,regression")
    ap.add_argument("--controls", default=",".join(CONTROLS), help="models also trained on shuffled labels")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "yeast_genes.md"))
    ap.add_argument("--peer", default="cnn", help="model whose classification run is also timed as a bare loop")
    ap.add_argument("--runs", default="", help="only these task:model runs (e.g. regression:cnn), controls apart")
    ap.add_argument("--rewrite", action="store_true", help="rewrite the .md from the .json of an earlier run")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one spec (JSON file) in this process
    args = ap.parse_args()
    if args.one:
        spec = json.loads(Path(args.one).read_text())
        res = run_one(spec)
        Path(spec["result"]).write_text(json.dumps(res, default=float))
        return

    if args.rewrite:
        saved = json.loads(Path(args.out).with_suffix(".json").read_text())
        saved["meta"]["w2v"] = kmer_embedding(Path(args.data), Path(args.work), saved["meta"]["w2v"]["epochs"])
        write_report(saved["results"], saved["meta"], Path(args.out))
        return

    t_start = time.perf_counter()
    load_start = [round(v, 2) for v in load_average()]
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    data_dir, work = Path(args.data), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "yeast_genome").is_dir():
        sys.exit(f"{data_dir}/yeast_genome not found; set SEQ2EXPR_DATA_MIRROR or --data")
    report = build_data(data_dir, work)
    print(f"data: {report['kept']} genes, {report['seq_len']} bp, labels {report.get('labels')}", flush=True)
    models = [m for m in args.models.split(",") if m]
    w2v = (kmer_embedding(data_dir, work, args.w2v_epochs) if "lm_cnn" in models
           else {"epochs": 0, "kmers_seen": 0, "seconds_or_cached": 0})
    print(f"word2vec: {w2v}", flush=True)
    table = work / "genes" / "genes.parquet"
    shuffled = shuffled_table(work)
    runs = [(task, m, table, m) for task in args.tasks.split(",") for m in models
            if not args.runs or f"{task}:{m}" in args.runs.split(",")]
    runs += [(task, m, shuffled, f"{m} (shuffled labels)") for task in args.tasks.split(",")
             for m in args.controls.split(",") if m in models]
    results = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for task, model, tab, tag in runs:
        safe = re.sub(r"[^A-Za-z0-9_]+", "_", tag).strip("_")
        cfg = run_config(task, model, tab, work, args, safe)
        spec_path, res_path = work / f"spec_{task}_{safe}.json", work / f"result_{task}_{safe}.json"
        peer = tag == args.peer and task == "classification"
        spec_path.write_text(json.dumps({"cfg": cfg.model_dump(mode="json"), "tag": tag, "result": str(res_path),
                                         "peer": peer}))
        res_path.unlink(missing_ok=True)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--one", str(spec_path)], env=env, capture_output=True,
                              text=True)
        if proc.returncode != 0 or not res_path.is_file():
            err = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown error"]
            results.append({"task": task, "tag": tag, "error": err[0]})
            (work / f"log_{task}_{safe}.txt").write_text(proc.stdout + proc.stderr)
        else:
            results.append(json.loads(res_path.read_text()))
        print(f"{task:14s} {tag:28s} {time.perf_counter() - t:6.0f} s  "
              f"{results[-1].get('test') or results[-1].get('error')}", flush=True)
    import torch

    meta = {"command": "SEQ2EXPR_DATA_MIRROR=../shared/data python bench/yeast_genes.py "
            + " ".join(sys.argv[1:]), "started": started,
            "wall_minutes": (time.perf_counter() - t_start) / 60, "torch": torch.__version__,
            "threads": args.threads, "epochs": args.epochs, "max_minutes": args.max_minutes,
            "load_start": load_start, "load_end": [round(v, 2) for v in load_average()],
            "hardware": machine_peak_flops(args.threads), "host": machine(args.threads), "w2v": w2v,
            "data": {k: report.get(k) for k in ("kept", "seq_len", "labels", "dropped", "chromosomes_kept")},
            "split": {"test": TEST_CHROMS, "valid": VALID_CHROMS}}
    write_report(results, meta, Path(args.out))
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
