"""fp32 versus bf16-mixed training (and inference) of the DREAM 2022 default config: does bf16 keep accuracy?

    SEQ2EXPR_DATA_MIRROR=/path/to/data PYTHONPATH=. python bench/dream_precision.py [--epochs 20] [--folds 0]

For each precision, one ``seq2expr train dream2022`` run (the listed cross-validation members, a fixed number of
epochs and no time cap, so both precisions do the same optimisation steps) in its own process, then the private
r^2 of the model predicted in fp32 and in bf16. Training seq/s from each member's ``finished.json``; the ratio of
the two precisions comes from the same run. Writes ``bench/results/dream_precision.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, load_average, machine

from seq2expr.atomic import write_json, write_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--folds", default="0", help="cross-validation members to train, e.g. 0 or 0,1,2")
    ap.add_argument("--precisions", default="32,bf16-mixed")
    ap.add_argument("--work", default=str(REPO / "bench" / "work" / "dream_precision"))
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "dream_precision"))
    args = ap.parse_args()
    from seq2expr.evaluation import evaluate

    rows, load_start = [], load_average()
    for p in args.precisions.split(","):
        out = Path(args.work) / p
        cmd = [sys.executable, "-m", "seq2expr", "train", "dream2022", "--quiet", "--no-resume",
               "--set", f"train.precision={p}", "--set", f"train.epochs={args.epochs}",
               "--set", "train.max_time_minutes=null", "--set", f"train.ensemble_folds=[{args.folds}]",
               "--set", f"output_dir={out}"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        metrics = json.loads((out / "metrics.json").read_text())
        fits = metrics["fit"]
        train_s = sum(f["train_seconds"] for f in fits)
        seq_s = metrics["n"]["train"] * sum(f["epochs_trained"] + 1 for f in fits) / len(fits) / train_s
        row = {"precision": p, "members": len(fits), "epochs": args.epochs, "train_seconds": train_s,
               "wall_seconds": round(wall, 1), "train_seq_per_s": seq_s,
               "valid_pearson": metrics["valid"]["overall"]["pearson_r"]}
        for inf in ("32", "bf16"):
            t1 = time.perf_counter()
            rep = evaluate(out / "model", "dream2022:test", n_boot=0, precision=inf)
            row[f"private_r2_infer_{inf}"] = rep["test"]["overall"]["r2"]
            row[f"private_spearman_infer_{inf}"] = rep["test"]["overall"]["spearman_rho"]
            row[f"infer_seq_per_s_{inf}"] = rep["n"] / (time.perf_counter() - t1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    load_end = load_average()
    base = rows[0]
    lines = ["# DREAM 2022 default config: fp32 versus bf16-mixed", "",
             f"Machine: {machine()['line']}.", "",
             f"`PYTHONPATH=. python bench/dream_precision.py --epochs {args.epochs} --folds {args.folds}` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average 1/5/15 min at start "
             f"{'/'.join(f'{v:.1f}' for v in load_start)}, end {'/'.join(f'{v:.1f}' for v in load_end)}).", "",
             f"Cross-validation member(s) {args.folds} of `configs/dream2022.yaml`, {args.epochs} epochs each (no time "
             "cap: both precisions take the same steps), private r^2 on the 62,058 private sequences predicted in "
             "fp32 and in bf16. Ratios are against the first row, measured in the same run.", "",
             "| train precision | private r^2 (fp32 inference) | private r^2 (bf16 inference) | Spearman (fp32) | "
             "valid r | train seq/s | train speed ratio | infer seq/s fp32 | infer seq/s bf16 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['precision']} | {r['private_r2_infer_32']:.4f} | {r['private_r2_infer_bf16']:.4f} | "
                     f"{r['private_spearman_infer_32']:.4f} | {r['valid_pearson']:.4f} | {r['train_seq_per_s']:,.0f} | "
                     f"{r['train_seq_per_s'] / base['train_seq_per_s']:.2f} | {r['infer_seq_per_s_32']:,.0f} | "
                     f"{r['infer_seq_per_s_bf16']:,.0f} |")
    write_text(args.out + ".md", "\n".join(lines) + "\n")
    write_json(args.out + ".json", {"rows": rows, "load_start": load_start, "load_end": load_end})
    print(f"wrote {args.out}.md")


if __name__ == "__main__":
    main()
