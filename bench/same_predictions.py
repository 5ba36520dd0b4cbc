"""Predictions of saved models under one code version, to compare two versions of the package (a rework must not
change a number): run it once per checkout, then compare the two files.

    PYTHONPATH=/path/to/old/checkout python bench/same_predictions.py save old.npz MODEL_DIR...
    PYTHONPATH=. python bench/same_predictions.py save new.npz MODEL_DIR...
    python bench/same_predictions.py compare old.npz new.npz

Each model predicts (float32, strands as trained, original scale) 3,000 sequences of ``dream2022:test`` when its
input is 110 nt (the DREAM construct), else 500 seeded random sequences of its length.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np


def save(out: str, models: list[str]) -> None:
    from seq2expr.data.registry import load_split
    from seq2expr.inference import load_model, predict

    res = {}
    for folder in models:
        model = load_model(folder)
        length = model.config.seq_len
        if length == 110 and os.environ.get("SEQ2EXPR_DATA_MIRROR"):
            seqs = load_split("dream2022:test").sequences
            pick = np.sort(np.random.default_rng(0).choice(len(seqs), 3000, replace=False))
            xs = [seqs[i] for i in pick]
        else:
            codes = np.random.default_rng(1).integers(0, 4, (500, length))
            xs = ["".join("ACGT"[k] for k in row) for row in codes]
        res[Path(folder).as_posix().replace("/", "|")] = predict(model, xs, precision="32")
    np.savez(out, **res)
    print(f"{out}: " + ", ".join(f"{k.split('|')[-2:]} {v.shape}" for k, v in res.items()))


def compare(a: str, b: str) -> None:
    x, y = np.load(a), np.load(b)
    worst = 0.0
    for k in x.files:
        d = float(np.abs(x[k] - y[k]).max())
        worst = max(worst, d)
        print(f"{k.replace('|', '/')}: {x[k].shape[0]} predictions, max |difference| {d:.3g}")
    print(f"largest difference {worst:.3g}")
    sys.exit(0 if worst <= 1e-6 else 1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["save", "compare"])
    ap.add_argument("out")
    ap.add_argument("rest", nargs="+")
    args = ap.parse_args()
    save(args.out, args.rest) if args.what == "save" else compare(args.out, args.rest[0])
