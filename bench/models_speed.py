"""Parameter counts and training throughput of every model at its default size.

Measures forward+backward+Adam step on random one-hot batches (default: batch 128, 110 bp, 2 CPU
threads, the DREAM yeast promoter length) and writes ``bench/results/models_speed.md``.

    PYTHONPATH=. python bench/models_speed.py [--seq-len 110] [--batch 128] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from seq2expr.atomic import write_text
from seq2expr.data.sequences import one_hot
from seq2expr.models import build_model
from seq2expr.models.layers import n_params

MODELS = [("cnn", {}), ("rescnn", {"size": "mini"}), ("rescnn", {"size": "full"}), ("legnet", {}),
          ("hybrid", {}), ("dual", {})]


def throughput(model: torch.nn.Module, x: torch.Tensor, steps: int, warmup: int = 2) -> float:
    """Sequences per second for full training steps (forward, MSE backward, Adam update)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    y = torch.zeros(len(x), 1, device=x.device)
    model.train()

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    if x.is_cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return steps * len(x) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq-len", type=int, default=110)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "models_speed.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = one_hot(torch.randint(0, 4, (args.batch, args.seq_len))).to(args.device)
    rows = []
    for name, params in MODELS:
        model = build_model(name, seq_len=args.seq_len, **params).to(args.device)
        sps = throughput(model, x, args.steps)
        label = name + (f" ({params['size']})" if "size" in params else "")
        rows.append(f"| {label} | {n_params(model):,} | {sps:,.0f} |")
        print(rows[-1], flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    text = "\n".join([
        "# Model zoo: size and training throughput (default sizes)",
        "",
        f"`PYTHONPATH=. python bench/models_speed.py --seq-len {args.seq_len} --batch {args.batch} "
        f"--threads {args.threads} --device {args.device}`",
        "",
        f"torch {torch.__version__}, device {device}, {args.threads} threads, batch {args.batch}, "
        f"{args.seq_len} bp, {args.steps} timed steps (forward + backward + Adam); 1-min load average at the end "
        f"{load:.1f} (a shared machine: treat CPU numbers as rough).",
        "",
        "| model | parameters | sequences/s |",
        "|---|---:|---:|",
        *rows,
        "",
    ])
    write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
