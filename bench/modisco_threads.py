"""TF-MoDISco in a process that runs other threads (a notebook's kernel, a test worker), with and without
``run_modisco`` turning numba's disk cache on for modisco-lite's kernels (``cache_kernels``).

Each run is a fresh process: ``run_modisco`` on the saliency hypothetical contributions of the zoo's DREAM ``cnn`` for
the first N DREAM test sequences (computed once, here). Arms: one thread; a second thread alive with the cache left
off (the behaviour before ``cache_kernels``); a second thread alive with it on. Each arm runs ``--reps`` times in a
row, so the later runs of an arm show what a cache gives. Reported: seconds, peak RSS of the process, the patterns
(the same in every arm), the load average. TF-MoDISco has no FLOP count to report as a fraction of peak.

    SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/modisco_threads.py --n 600 --reps 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO, load_average, machine

CHILD = """
import json, resource, sys, threading, time
import numpy as np
import seq2expr.interpret.modisco as m
arm, path = sys.argv[1:]
if arm != "one thread":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
if arm == "second thread, cache off":
    m.cache_kernels = lambda: None  # the behaviour before cache_kernels
z = np.load(path)
t = time.perf_counter()
pats = m.run_modisco(z["x"], z["h"])
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "patterns": [[p.name, p.n_seqlets, p.consensus] for p in pats]}))
"""
ARMS = ["one thread", "second thread, cache off", "second thread, cache on"]


def inputs(n: int, path: Path) -> None:
    """One-hot and saliency hypothetical contributions of the first ``n`` DREAM test sequences (zoo cnn)."""
    import seq2expr as s2e
    from seq2expr.data.registry import load_split
    from seq2expr.inference import as_onehot

    model = s2e.load_model("zoo:dream2022-cnn")
    seqs = list(load_split("dream2022:test").sequences[:n])
    _, hyp = s2e.attribute(model, seqs, method="saliency", precision="32")
    np.savez(path, x=as_onehot(seqs, model).numpy(), h=hyp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.npz"
        inputs(args.n, path)
        for arm in ARMS:
            for rep in range(args.reps):
                load0 = load_average()
                out = subprocess.run([sys.executable, "-c", CHILD, arm, str(path)], capture_output=True, text=True,
                                     check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
                rows.append({"arm": arm, "run": rep + 1, **json.loads(out.stdout.splitlines()[-1]),
                             "load_before": load0[0], "load_after": load_average()[0]})
    same = len({json.dumps(r["patterns"]) for r in rows}) == 1
    res = {"machine": machine(), "n": args.n, "reps": args.reps, "rows": rows, "same_patterns": same,
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out = REPO / "bench" / "results"
    (out / "modisco_threads.json").write_text(json.dumps(res, indent=1))
    lines = ["# TF-MoDISco with a second thread alive: numba's disk cache on or off", "",
             "Command: `SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/modisco_threads.py "
             f"--n {args.n} --reps {args.reps}`", "", f"Machine: {res['machine']['line']}", "",
             f"Run {res['when']}; {args.n} DREAM test sequences, saliency hypothetical contributions of "
             "`zoo:dream2022-cnn`; each row a fresh process, the arms in this order. Patterns the same in every run: "
             f"{'yes' if same else 'NO'} ({len(rows[0]['patterns'])} patterns).", "",
             "| arm | run | seconds | peak RSS (MiB) | load avg before -> after |", "|---|---|---|---|---|"]
    lines += [f"| {r['arm']} | {r['run']} | {r['seconds']:.1f} | {r['rss_mb']:.0f} | {r['load_before']:.1f} -> "
              f"{r['load_after']:.1f} |" for r in rows]
    (out / "modisco_threads.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
