"""How much does each extra ensemble member add on DREAM 2022? The private r^2 of every subset of a trained ensemble.

    SEQ2EXPR_DATA_MIRROR=/path/to/data PYTHONPATH=. python bench/dream_members.py [--model runs/dream2022/model]

Each member of the saved ensemble predicts the 62,058 private sequences once (``--precision``, bf16 by default:
the same r^2 as fp32 to 1e-4, ``bench/results/dream_precision.md``); the r^2 (squared Pearson r) of the mean of
every subset of k members is then averaged for each k. The mean over subsets is fitted with the textbook form of
an average of k members with independent errors, ``r2(k) = a - b / k`` (least squares on k = 1..K): ``a`` is the
r^2 an unlimited number of such members would reach. Writes ``bench/results/dream_members.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, load_average, machine

from seq2expr.atomic import write_json, write_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "runs" / "dream2022" / "model"))
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "dream_members"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from seq2expr.data.registry import load_split
    from seq2expr.inference import load_model, predict

    saved = load_model(args.model)
    rec = load_split("dream2022:test")
    y = np.asarray(rec.targets[:, 0], np.float64)
    load0, preds, members = load_average(), [], []
    for i, member in enumerate(saved.members):
        t0 = time.perf_counter()
        p = predict(member, list(rec.sequences), batch_size=1024, precision=args.precision)[:, 0]
        preds.append(p.astype(np.float64))
        members.append({"member": i, "r2": float(np.corrcoef(p, y)[0, 1] ** 2),
                        "seconds": round(time.perf_counter() - t0, 1)})
        print(members[-1], flush=True)
    P = np.stack(preds)
    by_k = []
    for k in range(1, len(P) + 1):
        r2 = [float(np.corrcoef(P[list(c)].mean(0), y)[0, 1] ** 2) for c in itertools.combinations(range(len(P)), k)]
        by_k.append({"k": k, "subsets": len(r2), "mean_r2": float(np.mean(r2)), "min_r2": min(r2), "max_r2": max(r2)})
    ks = np.array([r["k"] for r in by_k], float)
    means = np.array([r["mean_r2"] for r in by_k])
    (a, minus_b), *_ = np.linalg.lstsq(np.stack([np.ones_like(ks), 1 / ks], 1), means, rcond=None)
    fit = {"a": float(a), "b": float(-minus_b),
           "max_abs_residual": float(np.abs(a + minus_b / ks - means).max()),
           **{f"r2_at_{k}": float(a + minus_b / k) for k in (10, 20)}}
    res = {"model": args.model, "n_private": len(y), "precision": args.precision, "threads": args.threads,
           "members": members, "by_k": by_k, "fit": fit, "load_average": {"start": load0, "end": load_average()},
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": machine(args.threads)}
    out = Path(args.out)
    write_json(out.with_suffix(".json"), res)
    write_text(out.with_suffix(".md"), render(res))
    print(render(res))


def render(r: dict) -> str:
    f = r["fit"]
    lines = ["# DREAM 2022: private r^2 against the number of ensemble members", "",
             f"Machine: {r['host']['line'] if 'host' in r else 'not recorded'}.", "",
             f"`python bench/dream_members.py --model {r['model']}` ({r['date']}; {r['n_private']:,} private "
             f"sequences, inference in {r['precision']}, {r['threads']} threads)", "",
             "| members k | subsets | mean private r^2 | min | max | fit a - b/k |", "|---|---|---|---|---|---|"]
    for row in r["by_k"]:
        lines.append(f"| {row['k']} | {row['subsets']} | {row['mean_r2']:.4f} | {row['min_r2']:.4f} | "
                     f"{row['max_r2']:.4f} | {f['a'] - f['b'] / row['k']:.4f} |")
    lines += ["", "Single members: " + ", ".join(f"{m['r2']:.4f}" for m in r["members"]) + ".", "",
              f"Fit r2(k) = a - b/k on the means: a = **{f['a']:.4f}**, b = {f['b']:.4f} (largest residual "
              f"{f['max_abs_residual']:.4f}); predicted 10 members {f['r2_at_10']:.4f}, 20 members "
              f"{f['r2_at_20']:.4f}. So members of this quality level off near a: more of them cannot reach a "
              "private r^2 of 0.86; only better single members can.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
