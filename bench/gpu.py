"""Train the DREAM 2022 config on one CUDA device in bf16 (and fp32 for comparison) and report seq/s and the
fraction of the GPU's peak.

    SEQ2EXPR_DATA_MIRROR=/path/to/data PYTHONPATH=. python bench/gpu.py [--epochs 20] [--members 1]

Each row is one ``seq2expr.training.train`` run of ``configs/dream2022.yaml`` with ``train.accelerator=gpu
train.precision=...`` (one cross-validation member unless ``--members``), then ``seq2expr evaluate`` on the 62,058
private sequences. Train seq/s = training rows x epochs / the member's train seconds (``finished.json``); FLOPs per
training sequence are counted once with torch's FlopCounterMode (forward + backward) and divided by the measured
time, as a fraction of the GPU's dense peak at that precision (a table of data-sheet peaks below; an unknown GPU is
reported without one). Writes ``bench/results/gpu.md`` and ``.json``. Without a CUDA device it stops with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from common import REPO, load_average, machine, model_flops

from seq2expr.atomic import write_json, write_text

# dense (no sparsity) data-sheet peaks in TFLOP/s: (fp32 non-tensor, tf32 tensor, bf16 tensor)
PEAKS = {"H200": (67, 495, 989), "H100 SXM": (67, 495, 989), "H100 PCIe": (51, 378, 756), "H100": (67, 495, 989),
         "A100": (19.5, 156, 312), "L40S": (91.6, 183, 362), "L4": (30.3, 60, 121), "A10": (31.2, 62.5, 125),
         "V100": (15.7, 0, 125), "T4": (8.1, 0, 65)}


def gpu_peaks(name: str) -> tuple[float, float, float] | None:
    for key, peaks in PEAKS.items():
        if key in name:
            return peaks
    return None


def run(precision: str, epochs: int, members: int, out: Path, batch: int | None) -> dict:
    from seq2expr.config import load_config
    from seq2expr.evaluation import evaluate
    from seq2expr.models import build_model
    from seq2expr.training import train

    overrides = [f"train.precision={precision}", "train.accelerator=gpu", "train.devices=1", f"train.epochs={epochs}",
                 "train.max_time_minutes=null", f"train.ensemble_folds={list(range(members))}", f"output_dir={out}"]
    if batch:
        overrides.append(f"train.batch_size={batch}")
    cfg = load_config("dream2022", overrides)
    t0 = time.perf_counter()
    model_dir = train(cfg, progress=False, resume=False)
    wall = time.perf_counter() - t0
    fits = json.loads((out / "metrics.json").read_text())["fit"]
    n_train = json.loads((out / "metrics.json").read_text())["n"]["train"]
    train_s = sum(f["train_seconds"] for f in fits)
    epochs_done = sum(f["epochs_trained"] + 1 for f in fits)
    seq_s = n_train * epochs_done / members / train_s if train_s else float("nan")
    m = build_model(cfg.model.name, seq_len=110, n_targets=1, **cfg.model.params).cuda()
    x = torch.zeros(cfg.train.batch_size, 4, 110, device="cuda")
    flops = model_flops(m, x, backward=True) / len(x)
    t1 = time.perf_counter()
    report = evaluate(model_dir, "dream2022:test", n_boot=0, device="cuda",
                      precision="bf16" if precision.startswith("bf16") else "32")
    infer_s = time.perf_counter() - t1
    private = report["test"]["overall"]
    return {"precision": precision, "epochs": epochs, "members": members, "train_seconds": train_s,
            "wall_seconds": wall, "train_seq_per_s": seq_s, "train_flop_per_seq": flops,
            "achieved_tflops": seq_s * flops / 1e12, "infer_seq_per_s": report["n"] / infer_s,
            "private_r2": private.get("r2"), "private_spearman": private.get("spearman_rho"),
            "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--members", type=int, default=1)
    ap.add_argument("--batch", type=int, default=None, help="train.batch_size (default: the config's)")
    ap.add_argument("--precisions", default="bf16-mixed,32")
    ap.add_argument("--work", default=str(REPO / "bench" / "work" / "gpu"))
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "gpu"))
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA device (none found)")
    name = torch.cuda.get_device_name()
    peaks = gpu_peaks(name)
    rows = []
    for p in args.precisions.split(","):
        r = run(p, args.epochs, args.members, Path(args.work) / p, args.batch)
        if peaks:
            peak = peaks[2] if p.startswith("bf16") else peaks[0]
            r["peak_tflops"] = peak
            r["fraction_of_peak"] = r["achieved_tflops"] / peak
        rows.append(r)
        print(json.dumps(r), flush=True)
    load = load_average()
    lines = [f"# DREAM 2022 config on {name}", "",
             f"`PYTHONPATH=. python bench/gpu.py --epochs {args.epochs} --members {args.members}` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__}, load {load[0]:.1f}).",
             "", f"Machine: {machine(device='cuda')['line']}.", "",
             "Peaks are data-sheet dense peaks (fp32: CUDA cores; bf16: tensor cores)"
             + (f": {peaks[0]} / {peaks[2]} TFLOP/s." if peaks else ": unknown GPU, no fraction reported."),
             "",
             "| precision | private r^2 | Spearman | train seq/s | TFLOP/s | % of peak | infer seq/s | train s | "
             "peak GPU GiB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        frac = f"{100 * r['fraction_of_peak']:.1f}" if "fraction_of_peak" in r else "-"
        lines.append(f"| {r['precision']} | {r['private_r2']:.3f} | {r['private_spearman']:.3f} | "
                     f"{r['train_seq_per_s']:,.0f} | {r['achieved_tflops']:.2f} | {frac} | "
                     f"{r['infer_seq_per_s']:,.0f} | "
                     f"{r['train_seconds']:.0f} | {r['peak_mem_gib']:.1f} |")
    write_text(args.out + ".md", "\n".join(lines) + "\n")
    write_json(args.out + ".json", {"gpu": name, "rows": rows, "env": {"CUDA_VISIBLE_DEVICES":
                                                                        os.environ.get("CUDA_VISIBLE_DEVICES")}})
    print(f"wrote {args.out}.md")


if __name__ == "__main__":
    main()
