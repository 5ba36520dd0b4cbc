"""Yeast gene-level benchmark: DeepCRE windows -> high/low class and log-TPM, whole chromosomes held out.

Data: S. cerevisiae R64-1-1 genome + Ensembl 96 GTF + profDGE48 wild-type counts (48 replicates, mean TPM),
built with :func:`seq2expr.data.genome.build.build_gene_dataset` (windows: 1000 bp before + 500 bp after the
TSS, 20 N, 500 bp before + 1000 bp after the TTS = 3,020 bp; start/stop codons stand in for TSS/TTS).
Split: test = chromosomes IV and XV, validation = XVI, train = the rest (incl. Mito).
Tasks: classification (DeepCRE quartiles: bottom 25% of log-TPM = 0, top 25% = 1, middle dropped;
thresholds fitted on the training chromosomes) and regression on log1p(TPM) (standardised).
Models: ``cnn``, ``hybrid``, ``dual`` (branches = TSS window + TTS window), ``lm_cnn`` on 6-mer word2vec
vectors trained (gensim, 1 worker, fixed seed) on the training chromosomes only, and a shuffled-label
control (``cnn`` by default, ``--controls``; targets permuted within the training chromosomes).
Every run goes through ``seq2expr.training.fit.train`` in its own process (peak RSS per run).

    PYTHONPATH=. python bench/yeast_genes.py [--epochs 4] [--max-minutes 2] [--threads 1]

Writes ``bench/results/yeast_genes.md`` and ``.json``. Needs ``SEQ2EXPR_DATA_MIRROR`` (or ``--data``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEST_CHROMS, VALID_CHROMS = ["IV", "XV"], ["XVI"]
TSS_BP, TTS_BP, SPACER = 1500, 1500, 20
K, W2V_DIM = 6, 32

MODELS: dict[str, tuple[str, dict]] = {
    "cnn": ("cnn", {"channels": [32, 64, 32], "pool_sizes": 8, "convs_per_block": 1, "hidden": [64],
                    "kernel_sizes": 8}),
    "hybrid": ("hybrid", {"channels": [32, 64], "kernel_sizes": [15, 5], "pool_sizes": [4, 8], "n_layers": 2,
                          "n_heads": 4, "hidden": [64]}),
    "dual": ("dual", {"branch_lengths": [TSS_BP, TTS_BP], "spacer": SPACER, "channels": [32, 64, 32],
                      "pool_sizes": 4, "convs_per_block": 1, "hidden": [64]}),
    "lm_cnn": ("lm_cnn", {"mode": "kmer", "channels": [32, 32], "kernel_sizes": 9, "pool_sizes": 8,
                          "hidden": [32]}),
}
CONTROLS = ["cnn"]


# ----------------------------------------------------------------------------------------------- hardware
def cpu_peak_flops(cores: int) -> dict:
    """Nominal FP32 peak = cores x clock x FLOPs/cycle; FLOPs/cycle from the SIMD flags (2 FMA units assumed)."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.*)", text)
    mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", text)
    flags = set((re.search(r"flags\s*:\s*(.*)", text) or re.search(r"()", "")).group(1).split())
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma = 2 if "fma" in flags or "avx512f" in flags else 1
    per_cycle = lanes * fma * 2  # lanes x (multiply + add) x FMA units
    ghz = float(mhz.group(1)) / 1000 if mhz else float("nan")
    return {"cpu": model.group(1).strip() if model else platform.processor(), "cores": cores, "ghz": ghz,
            "flops_per_cycle": per_cycle, "simd": "avx512" if lanes == 16 else "avx2" if lanes == 8 else "sse",
            "peak_gflops": cores * ghz * per_cycle}


# ----------------------------------------------------------------------------------------------- data
def build_data(data_dir: Path, work: Path) -> dict:
    """Gene table (cached in ``work``) and its build report."""
    from seq2expr.data.genome.build import build_gene_dataset

    out = work / "genes"
    report_path = out / "report.json"
    if report_path.is_file() and (out / "genes.parquet").is_file():
        return json.loads(report_path.read_text())
    d = data_dir / "yeast_genome"
    _, report = build_gene_dataset(d / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz",
                                   d / "Saccharomyces_cerevisiae.R64-1-1.96.gtf.gz",
                                   d / "profDGE48_counts" / "WT_countdata.tar.gz", out=out,
                                   label_quantiles=(0.25, 0.75), species="S_cerevisiae", cache=work / "cache")
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


def kmer_embedding(data_dir: Path, work: Path, epochs: int) -> tuple[Path, dict]:
    """6-mer word2vec on the training chromosomes (held-out chromosomes never seen, even unlabelled)."""
    from seq2expr.embeddings.kmer import read_fasta_sequences, train_kmer_word2vec

    path = work / f"kmer{K}_d{W2V_DIM}_e{epochs}.safetensors"
    info_path = path.with_suffix(".json")
    if path.is_file() and info_path.is_file():
        return path, json.loads(info_path.read_text())
    fa = data_dir / "yeast_genome" / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz"
    seqs = [s for name, s in read_fasta_sequences(fa) if name not in TEST_CHROMS + VALID_CHROMS]
    t = time.perf_counter()
    emb = train_kmer_word2vec(seqs, k=K, vector_size=W2V_DIM, window=5, epochs=epochs, seed=0, workers=1)
    info = {"seconds": round(time.perf_counter() - t, 1), "bases": int(sum(map(len, seqs))), "k": K,
            "dim": W2V_DIM, "epochs": epochs, "window": 5, "kmers_seen": int((emb.table != 0).any(1).sum())}
    emb.save(path)
    info_path.write_text(json.dumps(info))
    return path, info


def run_config(task: str, model: str, table: Path, work: Path, args, embedding: Path, tag: str):
    from seq2expr.config import RunConfig

    name, params = MODELS[model]
    params = dict(params)
    if name == "lm_cnn":
        params.update(embedding=str(embedding), k=K, embed_dim=W2V_DIM)
    target = {"label_quantiles": [0.25, 0.75]} if task == "classification" else {"standardize": True}
    return RunConfig.model_validate({
        "data": {"path": str(table), "id_column": "id", "target_columns": ["log_tpm"], "group_columns": ["chromosome"],
                 "target": target, "cache_dir": str(work / "cache"),
                 "split": {"method": "group", "group_column": "chromosome", "valid_groups": VALID_CHROMS,
                           "test_groups": TEST_CHROMS}},
        "model": {"name": name, "params": params},
        "train": {"task": task, "loss": "bce" if task == "classification" else "mse", "epochs": args.epochs,
                  "batch_size": 64, "lr": 2e-3, "early_stopping_patience": 3, "seed": 0, "threads": args.threads,
                  "max_time_minutes": args.max_minutes, "rc_augment": True, "rc_average": True},
        "output_dir": str(work / "runs" / f"{task}_{tag}"),
    })


# ----------------------------------------------------------------------------------------------- one run
def _flops_per_seq(model, seq_len: int) -> tuple[float, float]:
    """(training = forward + backward, inference = forward) FLOPs per sequence, counted by FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from seq2expr.data.sequences import one_hot

    x = one_hot(torch.randint(0, 4, (4, seq_len)))
    model.train()
    with FlopCounterMode(display=False) as fc:
        model(x).sum().backward()
    train = fc.get_total_flops() / len(x)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    model.zero_grad(set_to_none=True)
    return train, fc.get_total_flops() / len(x)


def run_one(spec: dict) -> dict:
    """Train one model through ``train(cfg)`` and measure it; runs in a child process."""
    import lightning as L
    import torch

    from seq2expr.config import RunConfig
    from seq2expr.data.prepare import prepare_data
    from seq2expr.models.saved import load_model
    from seq2expr.training.fit import train
    from seq2expr.training.predict import predict

    class Timer(L.Callback):
        """Seconds and sequences inside training epochs (excludes validation and data preparation)."""

        def __init__(self):
            self.seconds, self.seqs, self._t = 0.0, 0, 0.0

        def on_train_epoch_start(self, trainer, module):
            self._t = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.seqs += len(batch[0])

        def on_train_epoch_end(self, trainer, module):
            self.seconds += time.perf_counter() - self._t

    cfg = RunConfig.model_validate(spec["cfg"])
    torch.set_num_threads(cfg.train.threads or 2)
    timer = Timer()
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
    return {
        "task": cfg.train.task, "tag": spec["tag"], "model": cfg.model.name,
        "n": metrics.get("n"), "epochs_trained": metrics["fit"][0].get("epochs_trained"),
        "best_valid": metrics["fit"][0].get("best_score"),
        "test": metrics.get("test", {}).get("overall"), "valid": metrics.get("valid", {}).get("overall"),
        "test_ci": metrics.get("test", {}).get("ci"),
        "params": int(sum(p.numel() for p in saved.model.parameters())),
        "total_seconds": round(total, 1), "train_seconds": round(timer.seconds, 1),
        "train_seqs_per_s": train_sps, "infer_seqs_per_s_rc_avg": infer_sps,
        "train_flops_per_seq": f_train, "infer_flops_per_seq": f_infer,
        "train_gflops_achieved": f_train * train_sps / 1e9,
        "infer_gflops_achieved": 2 * f_infer * infer_sps / 1e9,  # rc averaging: two forwards per sequence
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# ----------------------------------------------------------------------------------------------- report
def _fmt(v, nd=3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def write_report(results: list[dict], meta: dict, out_md: Path) -> None:
    from seq2expr.atomic import write_json, write_text

    peak = meta["hardware"]["peak_gflops"]
    lines = [
        "# Yeast gene-level benchmark (DeepCRE windows, chromosomes held out)",
        "",
        f"`{meta['command']}`  ",
        f"Run {meta['started']} UTC, {meta['wall_minutes']:.1f} min wall in all; torch {meta['torch']}, "
        f"{meta['threads']} threads; 1-min load average at the end {meta['load_end']:.1f} "
        "(a shared machine: timings are rough).",
        "",
        "## Data and split",
        "",
        f"* S. cerevisiae R64-1-1 + Ensembl 96 GTF, profDGE48 WT counts (48 replicates, mean TPM, log1p): "
        f"{meta['data']['kept']} protein-coding genes, windows {meta['data']['seq_len']} bp "
        "(1000 + 500 around the start codon, 20 N, 500 + 1000 around the stop codon; no UTRs in the GTF).",
        f"* Split by chromosome: **test = {', '.join(TEST_CHROMS)}**, **valid = {', '.join(VALID_CHROMS)}**, "
        "train = the other 13 nuclear chromosomes + Mito.",
        "* Classification: DeepCRE quartiles (bottom 25% of log-TPM = low/0, top 25% = high/1, middle dropped), "
        "thresholds from the training chromosomes. Regression: standardised log1p(TPM).",
        f"* `lm_cnn` uses {K}-mer word2vec vectors (D={W2V_DIM}, window 5, {meta['w2v']['epochs']} epochs, gensim, "
        f"1 worker, seed 0) trained on the training chromosomes only ({meta['w2v']['bases']:,} bp, "
        f"{meta['w2v']['seconds']} s).",
        "* Shuffled control: same model and settings, log-TPM permuted among training-chromosome genes "
        "(validation and test labels untouched).",
        f"* Training: AdamW lr 2e-3, one-cycle, batch 64, up to {meta['epochs']} epochs, early stopping on "
        "validation AUROC / Pearson (patience 3), RC augmentation, RC-averaged evaluation.",
        "",
    ]
    for task, cols in (("classification", ["accuracy", "auroc", "f1", "auprc"]),
                       ("regression", ["pearson_r", "spearman_rho", "r2_score"])):
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        lines += [f"## {task.capitalize()} (test = chromosomes {', '.join(TEST_CHROMS)})", "",
                  "| model | params | " + " | ".join(cols) + " | test n | epochs | train s | train seq/s "
                  "| infer seq/s (RC avg) | peak RSS MB | train GFLOP/s | % of peak |",
                  "|" + "---|" * (len(cols) + 10)]
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['tag']} | failed: {r['error'][:80]} |")
                continue
            t = r["test"] or {}
            lines.append(
                f"| {r['tag']} | {r['params']:,} | " + " | ".join(_fmt(t.get(c)) for c in cols)
                + f" | {t.get('n', '-')} | {r['epochs_trained']} | {r['train_seconds']:.0f} | "
                f"{r['train_seqs_per_s']:.0f} | {r['infer_seqs_per_s_rc_avg']:.0f} | {r['peak_rss_mb']:.0f} | "
                f"{r['train_gflops_achieved']:.2f} | {100 * r['train_gflops_achieved'] / peak:.1f} |")
        lines.append("")
    hw = meta["hardware"]
    lines += [
        "## Throughput notes",
        "",
        f"* Peak = {hw['cores']} cores x {hw['ghz']:.2f} GHz (cpuinfo) x {hw['flops_per_cycle']} FP32 FLOPs/cycle "
        f"({hw['simd']}, 2 FMA units assumed) = {peak:.0f} GFLOP/s ({hw['cpu']}).",
        "* FLOPs per sequence counted by `torch.utils.flop_counter.FlopCounterMode` (forward + backward for "
        "training; matmul/conv/attention only, so the k-mer gather of `lm_cnn` counts 0).",
        "* train seq/s: sequences / seconds inside training epochs (validation excluded); train s is that time. "
        "Inference: saved model, test chromosomes, batch 256, forward + reverse complement averaged.",
        "* Peak RSS: the whole training process (data preparation, Lightning, evaluation included).",
        "",
    ]
    write_text(out_md, "\n".join(lines))
    write_json(out_md.with_suffix(".json"), {"meta": meta, "results": results})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SEQ2EXPR_DATA_MIRROR", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--work", default=str(ROOT / "bench" / "work" / "yeast_genes"))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (1 beats 2 on a contended host)")
    ap.add_argument("--max-minutes", type=float, default=2.0, help="per training run (Lightning max_time)")
    ap.add_argument("--w2v-epochs", type=int, default=1)
    ap.add_argument("--models", default="cnn,hybrid,dual,lm_cnn")
    ap.add_argument("--tasks", default="classification,regression")
    ap.add_argument("--controls", default=",".join(CONTROLS), help="models also trained on shuffled labels")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "yeast_genes.md"))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one spec (JSON file) in this process
    args = ap.parse_args()
    if args.one:
        spec = json.loads(Path(args.one).read_text())
        res = run_one(spec)
        Path(spec["result"]).write_text(json.dumps(res, default=float))
        return

    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    data_dir, work = Path(args.data), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "yeast_genome").is_dir():
        sys.exit(f"{data_dir}/yeast_genome not found; set SEQ2EXPR_DATA_MIRROR or --data")
    report = build_data(data_dir, work)
    print(f"data: {report['kept']} genes, {report['seq_len']} bp, labels {report.get('labels')}", flush=True)
    models = [m for m in args.models.split(",") if m]
    embedding, w2v = (kmer_embedding(data_dir, work, args.w2v_epochs) if "lm_cnn" in models
                      else (Path(), {"epochs": 0, "bases": 0, "seconds": 0}))
    print(f"word2vec: {w2v}", flush=True)
    table = work / "genes" / "genes.parquet"
    shuffled = shuffled_table(work)
    runs = [(task, m, table, m) for task in args.tasks.split(",") for m in models]
    runs += [(task, m, shuffled, f"{m} (shuffled labels)") for task in args.tasks.split(",")
             for m in args.controls.split(",") if m in models]
    results = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for task, model, tab, tag in runs:
        safe = re.sub(r"[^A-Za-z0-9_]+", "_", tag).strip("_")
        cfg = run_config(task, model, tab, work, args, embedding, safe)
        spec_path, res_path = work / f"spec_{task}_{safe}.json", work / f"result_{task}_{safe}.json"
        spec_path.write_text(json.dumps({"cfg": cfg.model_dump(mode="json"), "tag": tag, "result": str(res_path)}))
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

    meta = {"command": "PYTHONPATH=. python bench/yeast_genes.py " + " ".join(sys.argv[1:]), "started": started,
            "wall_minutes": (time.perf_counter() - t_start) / 60, "torch": torch.__version__,
            "threads": args.threads, "epochs": args.epochs, "max_minutes": args.max_minutes,
            "load_end": os.getloadavg()[0],
            "hardware": cpu_peak_flops(2), "w2v": w2v,
            "data": {k: report.get(k) for k in ("kept", "seq_len", "labels", "dropped", "chromosomes_kept")},
            "split": {"test": TEST_CHROMS, "valid": VALID_CHROMS}}
    write_report(results, meta, Path(args.out))
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
