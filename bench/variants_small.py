"""The cost of a small VCF: `seq2expr variants` on 30 SNVs in yeast promoters with the zoo's gene model, before and
after the SNV-background cache, same machine, same run.

Three runs of the whole command (each its own process: import, model, genome, background, table, report):
``off`` (the cache disabled: what every run cost before), ``cold`` (the first run, which fills the cache) and
``warm`` (the second run, which reuses it); rounds alternate to spread the load. Writes
``bench/results/variants_small.{md,json}``.

    SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/variants_small.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MIRROR, REPO, load_average, machine  # noqa: E402

GENOME = MIRROR / "yeast_genome" / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz"
GTF = MIRROR / "yeast_genome" / "Saccharomyces_cerevisiae.R64-1-1.96.gtf.gz"
MODEL = "zoo:yeast-log-tpm"


def small_vcf(path: Path, genome: Path, n: int = 30, seed: int = 0) -> None:
    """``n`` SNVs 1-300 bp upstream of random genes' starts (inside the promoter windows), real reference bases."""
    from seq2expr.data.genome.fasta import Genome
    from seq2expr.inference import load_model
    from seq2expr.variants.place import load_genes

    saved = load_model(MODEL)
    g = Genome(genome)
    genes, _ = load_genes(saved.config.windows, g, annotation=GTF)
    rng = np.random.default_rng(seed)
    rows = []
    for i in rng.choice(len(genes), n, replace=False):
        r = genes.iloc[int(i)]
        pos = int(r.tss - rng.integers(1, 300)) if r.strand == "+" else int(r.tss + rng.integers(1, 300))
        ref = g.fetch(r.chrom, pos, pos + 1)[0].upper()
        if ref not in "ACGT":
            continue
        alt = "ACGT"[("ACGT".index(ref) + 1 + int(rng.integers(0, 3))) % 4]
        rows.append((r.chrom, pos + 1, f"v{i}", ref, alt))
    rows.sort()
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    path.write_text(header + "".join(f"{c}\t{p}\t{v}\t{a}\t{b}\t.\t.\t.\n" for c, p, v, a, b in rows))


def run(vcf: Path, out: Path, env: dict) -> dict:
    """One `seq2expr variants` process: wall seconds and peak resident memory (from /usr/bin/time)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "seq2expr", "variants", MODEL, str(vcf), "--genome",
           str(GENOME), "--annotation", str(GTF), "-o", str(out), "--attributions", "none"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode:
        raise SystemExit(res.stderr[-3000:])
    summary = json.loads((out / "summary.json").read_text())
    return {"seconds": seconds, "peak_mb": int(res.stderr.strip().splitlines()[-1]) / 1024,
            "scored": summary["scored_alleles"], "reused": summary.get("background_reused", False),
            "background_snvs": summary["background_snvs"], "load": load_average()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "variants_small"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="s2e-variants-small-"))
    vcf = work / "small.vcf"
    small_vcf(vcf, GENOME)
    base = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "SEQ2EXPR_PROGRESS": "0",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    results: dict[str, list[dict]] = {"off": [], "cold": [], "warm": []}
    for k in range(args.rounds):
        cache = work / f"cache{k}"
        results["off"].append(run(vcf, work / "out", {**base, "SEQ2EXPR_CACHE": str(cache),
                                                      "SEQ2EXPR_NO_BACKGROUND_CACHE": "1"}))
        results["cold"].append(run(vcf, work / "out", {**base, "SEQ2EXPR_CACHE": str(cache)}))
        results["warm"].append(run(vcf, work / "out", {**base, "SEQ2EXPR_CACHE": str(cache)}))
        print(k, {m: round(v[-1]["seconds"], 1) for m, v in results.items()}, flush=True)
    med = {m: float(np.median([r["seconds"] for r in v])) for m, v in results.items()}
    rec = {"machine": machine(args.threads), "model": MODEL, "variants": results["off"][0]["scored"],
           "background_snvs": results["off"][0]["background_snvs"], "rounds": args.rounds, "runs": results,
           "median_seconds": med, "speedup_warm_vs_off": med["off"] / med["warm"],
           "cold_vs_off": med["cold"] / med["off"]}
    assert all(r["reused"] for r in results["warm"]) and not any(r["reused"] for r in results["off"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(rec, indent=1))
    loads = [r["load"] for v in results.values() for r in v]
    lines = [
        "# A small VCF: the SNV-background cache", "",
        f"`seq2expr variants {MODEL} small.vcf --genome R64-1-1 --annotation R64-1-1.96.gtf -o OUT "
        f"--attributions none`, {rec['variants']} "
        f"SNVs in yeast promoters, {rec['background_snvs']:,} background SNVs, whole command (own process), median "
        f"of {args.rounds} alternating rounds.", "",
        f"Machine: {rec['machine']['line']}; load average during the runs {min(loads):.1f}-{max(loads):.1f}.", "",
        "| run | median s | peak memory MB | background |", "|---|---:|---:|---|",
    ]
    what = {"off": "computed (cache off: every run before)", "cold": "computed, then cached",
            "warm": "reused from the cache"}
    for m, v in results.items():
        lines.append(f"| {m} | {med[m]:.1f} | {max(r['peak_mb'] for r in v):.0f} | {what[m]} |")
    lines += ["", f"A second run of the same model and genome: **{rec['speedup_warm_vs_off']:.2f}x** faster than "
              f"before (warm / off). The first run computes the background as every run did before (cold / off "
              f"{rec['cold_vs_off']:.2f} here; the two differ by the load only) and writes the cache."]
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
