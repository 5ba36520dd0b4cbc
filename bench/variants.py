"""Variant-effect benchmark: truth on DREAM 2022 SNV pairs, speed and a peer on the yeast genome, flat memory.

1. **DREAM 2022 SNV pairs** (sequence-pair mode): every test pair one substitution apart (the published SNV pairs
   plus the rebuilt ones) whose two members are both private, so that the default model (trained on the public
   sequences) has measured neither. Pearson r and r^2 of predicted vs measured ``alt - ref``, beside Camformer
   and Camformer-Mini (their published predictions, in the shipped test file) on the same pairs.
2. **Yeast genome, gene mode**: every possible SNV in the 3,020-bp DeepCRE windows of the first ``--genes``
   genes of the held-out chromosomes (IV, XV), scored with the yeast bench's regression ``cnn`` (trained here if
   ``--gene-model`` is not given). Variants/s, peak memory, achieved FLOP/s; the peer is tangermeme's
   ``substitution_effect`` on the same model (wrapped to average both strands as seq2expr does) and the first
   ``--peer-n`` of those SNVs, timed in the same run; effects must agree.
3. **Memory flat in the number of variants**: ``seq2expr variants`` on 100,000 and on 1,000,000 random SNVs in the
   genes' windows, each in a fresh process; peak RSS (VmHWM) and variants/s of each.

    SEQ2EXPR_DATA_MIRROR=../shared/data python bench/variants.py --dream-model runs/dream2022/model

Writes ``bench/results/variants.md`` and ``.json``. FLOP/s: forward FLOPs of one window (torch's FlopCounterMode)
x forward passes per scored allele (2 with strand averaging; reference windows, predicted once per gene, not
counted) / wall seconds, against the fp32 and bf16 peaks of the cores used (``common.machine_peak_flops``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import (
    CHILD_MEM,
    MIRROR,
    bf16_peak_flops,
    efficiency,
    load_average,
    machine,
    machine_peak_flops,
    model_flops,
    peak_rss_mb,
)

from seq2expr.atomic import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "variants"
YEAST = ROOT / "bench" / "work" / "yeast_genes"


def _rel(path: Path) -> str:
    """A path as given on the command line, relative to the repository when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT)) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------ 1. DREAM pairs
def dream_pairs(model_dir: Path, batch_size: int) -> dict:
    from seq2expr.data.datasets.dream2022 import full_test_sets
    from seq2expr.data.registry import load_dataset
    from seq2expr.inference import load_model
    from seq2expr.variants import score_pairs

    _, prs, true = full_test_sets()
    full = load_dataset("dream2022")
    private = np.asarray(full.groups["split"]) == "test"
    pairs = prs["snv"]
    pairs = pairs[private[pairs[:, 0]] & private[pairs[:, 1]]]
    seqs = np.asarray(full.sequences, dtype=object)
    table = pd.DataFrame({"id": [f"{a}-{b}" for a, b in pairs], "ref_sequence": seqs[pairs[:, 1]],
                          "alt_sequence": seqs[pairs[:, 0]]})
    model = load_model(model_dir)
    t0 = time.perf_counter()
    scored = score_pairs(model, table, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    measured = true[pairs[:, 0]] - true[pairs[:, 1]]

    def corr(pred: np.ndarray) -> dict:
        r = float(np.corrcoef(pred, measured)[0, 1])
        return {"pearson_r": r, "r2": r * r}

    name = model.config.target_names[0]
    out = {"n_pairs": int(len(pairs)), "model": _rel(model_dir), "seq2expr": corr(scored[f"effect_{name}"].to_numpy()),
           "pairs_per_second": len(pairs) / seconds, "seconds": seconds}
    for col in ("camformer", "camformer_mini"):
        pred = np.asarray(full.groups[col], dtype=np.float64)
        out[col] = corr(pred[pairs[:, 0]] - pred[pairs[:, 1]])
    return out


# ------------------------------------------------------------------------------------------ 2. yeast genes
def gene_model(args) -> Path:
    """The yeast bench's regression cnn (trained on chromosomes other than IV, XV, XVI) with its gene windows."""
    if args.gene_model:
        return Path(args.gene_model)
    sys.path.insert(0, str(ROOT / "bench"))
    from yeast_genes import build_data, run_config

    from seq2expr.training import train

    build_data(Path(args.data), YEAST)
    ns = argparse.Namespace(data=args.data, epochs=args.gene_epochs, threads=args.threads, max_minutes=args.max_minutes,
                            w2v_epochs=1)
    cfg = run_config("regression", "cnn", YEAST / "genes" / "genes.parquet", YEAST, ns, "cnn_variants")
    model_dir = Path(cfg.output_dir) / "model"
    if not (model_dir / "config.json").is_file():
        _log(f"training the gene model ({args.gene_epochs} epochs) into {cfg.output_dir}")
        train(cfg, progress=False)
    return model_dir


def all_snvs(scorer, genes: pd.DataFrame) -> pd.DataFrame:
    """Every possible SNV at the ACGT positions of the genes' window parts (genomic coordinates, deduplicated)."""
    place, rows = scorer.place, []
    for i in genes.index:
        chrom = place.genes.at[i, "chrom"]
        seq = scorer.genome.sequence(chrom)
        for k in range(place.start.shape[1]):
            s, e = int(place.start[i, k]), int(place.end[i, k])
            for p in range(max(s, 0), min(e, len(seq))):
                b = seq[p]
                if b in "ACGT":
                    rows.extend((chrom, p + 1, b, a) for a in "ACGT" if a != b)
    return pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]).drop_duplicates(ignore_index=True)


class StrandAveraged(torch.nn.Module):
    """The model as seq2expr predicts with it (mean of both strands), for the peer."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) + self.model(x.flip(-2, -1))) / 2


def yeast_gene_mode(args, model_dir: Path) -> dict:
    from tangermeme.variant_effect import substitution_effect

    from seq2expr.inference import to_scale
    from seq2expr.variants import ScoreOptions, VariantScorer, write_variant_outputs

    genome = MIRROR / "yeast_genome" / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz"
    torch.set_num_threads(args.threads)
    scorer = VariantScorer(model_dir, genome, ScoreOptions(background=args.background, batch_size=args.batch_size))
    genes = scorer.place.genes
    held = genes[genes["chrom"].isin(["IV", "XV"])].sort_values(["chrom", "tss"]).head(args.genes)
    snvs = all_snvs(scorer, held)
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "yeast_snvs.tsv"
    snvs.assign(id=np.arange(len(snvs)).astype(str)).to_csv(path, sep="\t", index=False)
    _log(f"{len(snvs)} SNVs in the windows of {len(held)} held-out genes")
    load0 = load_average()
    t0 = time.perf_counter()
    shutil.rmtree(WORK / "yeast_out", ignore_errors=True)  # this bench's own scratch output, from an earlier run
    summary = write_variant_outputs(scorer, path, WORK / "yeast_out", chunk_size=100_000, attributions="none")
    seconds = time.perf_counter() - t0
    cfg = scorer.saved.config
    L = cfg.seq_len
    fwd = model_flops(scorer.saved.model.eval(), torch.zeros(1, 4, L)) * (2 if cfg.rc_average else 1)
    rate = summary["alleles"] / seconds
    out = {"genes": len(held), "snvs": int(len(snvs)), "rows": summary["rows"], "seconds": seconds,
           "snvs_per_second": rate, "rows_per_second": summary["rows"] / seconds, "peak_rss_mb": peak_rss_mb(),
           "efficiency": efficiency(fwd * summary["rows"], seconds, args.threads), "forward_flops_per_window": fwd,
           "load_start": load0, "load_end": load_average(), "model": _rel(model_dir)}

    # the peer and seq2expr on the same first N SNVs, same model, same process
    sub = snvs.head(args.peer_n).assign(id=lambda d: np.arange(len(d)).astype(str))
    sub_path = WORK / "peer_snvs.tsv"
    sub.to_csv(sub_path, sep="\t", index=False)
    fresh = VariantScorer(model_dir, genome, ScoreOptions(background=0, batch_size=args.batch_size))
    t0 = time.perf_counter()
    ours = pd.concat([t for t, _ in fresh.run(sub_path)], ignore_index=True)
    ours_s = time.perf_counter() - t0
    # tangermeme: one reference window per variant (as its API takes them), the base written in
    from seq2expr.inference import as_onehot, encode_for

    place = fresh.place
    gi = {g: i for i, g in enumerate(place.genes["gene_id"])}
    t0 = time.perf_counter()
    g_idx = ours["gene_id"].map(gi).to_numpy()
    windows = {int(g): place.ref_window(fresh.genome, int(g)) for g in np.unique(g_idx)}
    X = as_onehot(encode_for(fresh.saved, [windows[int(g)] for g in g_idx]), fresh.saved)
    p0 = ours["pos"].to_numpy() - 1
    idx = np.full(len(ours), -1)
    minus = np.zeros(len(ours), bool)
    for k in range(place.start.shape[1]):
        i, m = place.substitution_index(g_idx, p0, k)
        idx = np.where(idx < 0, i, idx)
        minus |= m
    code = {"A": 0, "C": 1, "G": 2, "T": 3}
    alt = np.array([code[a] for a in ours["alt"]])
    alt = np.where(minus, 3 - alt, alt)
    subs = torch.tensor(np.stack([np.arange(len(ours)), idx, alt], 1))
    peer_model = StrandAveraged(fresh.saved.model).eval()
    before, after = substitution_effect(peer_model, X, subs, batch_size=args.batch_size, device="cpu",
                                        verbose=False)
    peer_s = time.perf_counter() - t0
    peer_effect = to_scale(after.numpy(), cfg) - to_scale(before.numpy(), cfg)
    name = cfg.target_names[0]
    diff = float(np.abs(peer_effect[:, 0] - ours[f"effect_{name}"].to_numpy()).max())
    out["peer"] = {"name": "tangermeme.variant_effect.substitution_effect", "n_snvs": int(len(sub)),
                   "rows": int(len(ours)), "seq2expr_seconds": ours_s, "peer_seconds": peer_s,
                   "seq2expr_rows_per_second": len(ours) / ours_s, "peer_rows_per_second": len(ours) / peer_s,
                   "ratio": peer_s / ours_s, "max_abs_effect_difference": diff}
    return out


# ------------------------------------------------------------------------------------------ 3. memory
_CHILD = CHILD_MEM + """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[5]))
from seq2expr.variants import ScoreOptions, VariantScorer, write_variant_outputs
t = time.perf_counter()
s = VariantScorer(sys.argv[1], sys.argv[2], background=2000, batch_size=int(sys.argv[6]))
out = write_variant_outputs(s, sys.argv[3], sys.argv[4], attributions="none")
print(json.dumps({"alleles": out["alleles"], "rows": out["rows"], "seconds": time.perf_counter() - t,
                  "peak_rss_mb": mem("VmHWM")}))
"""


def memory_flatness(args, model_dir: Path) -> list[dict]:
    from seq2expr.variants import ScoreOptions, VariantScorer

    genome = MIRROR / "yeast_genome" / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz"
    scorer = VariantScorer(model_dir, genome, ScoreOptions(background=0))
    place, rng = scorer.place, np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        path = WORK / f"random_{n}.tsv"
        if not path.is_file():
            g = rng.integers(0, len(place.genes), n)
            k = rng.integers(0, place.start.shape[1], n)
            pos = place.start[g, k] + rng.integers(0, (place.end - place.start)[g, k])
            chrom = place.genes["chrom"].to_numpy()[g]
            frame = pd.DataFrame({"chrom": chrom, "pos": pos + 1})
            ref = np.empty(n, dtype=object)
            for c, ix in frame.groupby("chrom").indices.items():
                seq = scorer.genome.sequence(c)
                ref[ix] = [seq[p] if 0 <= p < len(seq) else "N" for p in pos[ix]]
            alt = np.array(["ACGT"[("ACGT".index(b) + int(s)) % 4] if b in "ACGT" else "A"
                            for b, s in zip(ref, rng.integers(1, 4, n), strict=True)])
            frame = frame.assign(ref=ref, alt=alt)[pd.Series(ref).isin(list("ACGT")).to_numpy()]
            frame.assign(id=np.arange(len(frame)).astype(str)).to_csv(path, sep="\t", index=False)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
        _log(f"memory run: {n} random SNVs")
        load0 = load_average()
        shutil.rmtree(WORK / f"random_{n}_out", ignore_errors=True)  # scratch output of an earlier run
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(model_dir), str(genome), str(path),
                               str(WORK / f"random_{n}_out"), str(args.threads), str(args.batch_size)],
                              capture_output=True, text=True, env=env)
        if proc.returncode:
            raise RuntimeError(proc.stderr[-3000:])
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append({"requested": n, **res, "snvs_per_second": res["alleles"] / res["seconds"],
                     "rows_per_second": res["rows"] / res["seconds"],
                     "load_start": load0, "load_end": load_average()})
    return rows


# ------------------------------------------------------------------------------------------ report
def write_report(res: dict, out: Path) -> None:
    cmds = sorted(set(res["commands"].values()))
    lines = ["# Variant effects", "", "Commands (each part names its own below): "
             + "; ".join(f"`{c}`" for c in cmds), "",
             f"Machine: {res['host']['line'] if 'host' in res else 'not recorded'}.", "",
             f"Peaks: {res['machine']['how']} (fp32 peak {res['machine']['peak_gflops_fp32']:.0f} GFLOP/s; "
             f"bf16 peak {res['machine']['peak_gflops_bf16']:.0f} GFLOP/s: AVX512-BF16 dot products do two bf16 "
             "multiply-adds per fp32 lane; 0 where bf16 is emulated). Load average at start: "
             f"{', '.join(f'{v:.2f}' for v in res['load_start'])}.", ""]
    d = res.get("dream")
    if d:
        lines += ["## 1. DREAM 2022 SNV pairs (sequence-pair mode)", "", f"`{res['commands']['dream']}`", "",
                  f"{d['n_pairs']:,} test pairs one substitution apart, both members private (unseen by the default "
                  f"model, `{d['model']}`). Predicted vs measured `alt - ref`:", "",
                  "| model | Pearson r | r^2 |", "|---|---|---|",
                  f"| seq2expr default (LegNet CV ensemble, 9,045 public sequences) | {d['seq2expr']['pearson_r']:.3f} "
                  f"| {d['seq2expr']['r2']:.3f} |",
                  f"| Camformer (published predictions, 6.7M training sequences) | {d['camformer']['pearson_r']:.3f} | "
                  f"{d['camformer']['r2']:.3f} |",
                  f"| Camformer-Mini (published) | {d['camformer_mini']['pearson_r']:.3f} | "
                  f"{d['camformer_mini']['r2']:.3f} |", "",
                  f"Speed: {d['pairs_per_second']:,.0f} pairs/s ({d['seconds']:.1f} s).", ""]
    y = res.get("yeast")
    if y:
        e, p = y["efficiency"], y["peer"]
        lines += ["## 2. Yeast genome, gene mode", "", f"`{res['commands']['yeast']}`", "",
                  f"Every possible SNV in the DeepCRE windows (3,020 bp) of the first {y['genes']} genes of the "
                  f"held-out chromosomes IV and XV: {y['snvs']:,} SNVs, {y['rows']:,} SNV x gene rows (neighbouring "
                  f"windows overlap). Model: the yeast bench's regression `cnn` (`{y['model']}`).", "",
                  "| measure | value |", "|---|---|",
                  f"| SNVs/s (read, REF check, placement, predict, table written) | {y['snvs_per_second']:,.0f} |",
                  f"| SNV x gene rows/s | {y['rows_per_second']:,.0f} |",
                  f"| peak RSS | {y['peak_rss_mb']:.0f} MiB |",
                  f"| achieved | {e['achieved_gflops']:.1f} GFLOP/s = {100 * e['fraction_of_peak']:.0f}% of fp32 peak, "
                  f"{50 * e['fraction_of_peak']:.0f}% of bf16 peak |", "",
                  f"Peer, same model, same first {p['n_snvs']:,} SNVs ({p['rows']:,} rows), same run: "
                  f"`{p['name']}` (the model wrapped to average both strands, one reference window per variant as its "
                  f"API takes them) {p['peer_rows_per_second']:,.0f} rows/s vs seq2expr "
                  f"{p['seq2expr_rows_per_second']:,.0f} rows/s: **{p['ratio']:.2f}x** (reference windows predicted "
                  "once per gene). Largest difference "
                  f"between the two effects: {p['max_abs_effect_difference']:.2g}.", ""]
    m = res.get("memory")
    if m:
        lines += ["## 3. Memory flat in the number of variants", "", f"`{res['commands']['memory']}`", "",
                  "`seq2expr variants` (library call in a fresh process, 100,000-allele chunks, attributions off) on "
                  "random SNVs in the genes' windows:", "",
                  "| SNVs | rows | seconds | SNVs/s | rows/s | peak RSS (VmHWM) | load at start |",
                  "|---|---|---|---|---|---|---|"]
        for r in m:
            lines.append(f"| {r['alleles']:,} | {r['rows']:,} | {r['seconds']:.0f} | {r['snvs_per_second']:,.0f} | "
                         f"{r['rows_per_second']:,.0f} | {r['peak_rss_mb']:.0f} MiB | {r['load_start'][0]:.2f} |")
        if len(m) >= 2:
            lines += ["", f"Peak memory ratio {m[-1]['alleles']:,} / {m[0]['alleles']:,} SNVs: "
                          f"**{m[-1]['peak_rss_mb'] / m[0]['peak_rss_mb']:.2f}x**."]
    write_text(out, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(MIRROR))
    ap.add_argument("--dream-model", default=str(ROOT / "runs" / "dream2022" / "model"))
    ap.add_argument("--gene-model", default=None, help="a yeast gene model folder (else trained here)")
    ap.add_argument("--gene-epochs", type=int, default=8)
    ap.add_argument("--max-minutes", type=float, default=None, help="a wall-clock cap on the gene model's training "
                                                                    "(default none: epochs)")
    ap.add_argument("--genes", type=int, default=40, help="held-out genes whose every SNV is scored")
    ap.add_argument("--peer-n", type=int, default=3000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--parts", default="dream,yeast,memory")
    ap.add_argument("--background", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "variants.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))
    json_path = Path(args.out).with_suffix(".json")
    res = json.loads(json_path.read_text()) if json_path.is_file() else {}
    peak = machine_peak_flops(args.threads)
    command = "python bench/variants.py " + " ".join(sys.argv[1:])
    res.update(load_start=list(load_average()), host=machine(args.threads),
               machine={**peak, "peak_gflops_fp32": peak["peak_flops"] / 1e9,
                        "peak_gflops_bf16": bf16_peak_flops(args.threads)["avx512_bf16_flops"] / 1e9})
    res.setdefault("commands", {}).update({p: command for p in parts})
    if "dream" in parts:
        _log("DREAM SNV pairs")
        res["dream"] = dream_pairs(Path(args.dream_model), args.batch_size)
    if parts & {"yeast", "memory"}:
        model_dir = gene_model(args)
        if "yeast" in parts:
            _log("yeast gene mode")
            res["yeast"] = yeast_gene_mode(args, model_dir)
        if "memory" in parts:
            res["memory"] = memory_flatness(args, model_dir)
    write_json(json_path, res)
    write_report(res, Path(args.out))
    _log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
