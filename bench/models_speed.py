"""Parameter counts, training and inference throughput, FLOP/s and memory of every model at its default size.

Measures forward+backward+Adam steps and RC-averaged inference (``seq2expr.inference.predict``) on random
batches (default: batch 128, 110 bp, 2 CPU threads, the DREAM yeast promoter length). FLOPs are counted with
torch's FlopCounterMode (``bench/common.py``) and divided by the measured time, as a fraction of the CPU's
nominal fp32 peak. Peak RSS is the process's, read after each model (it only grows). Writes
``bench/results/models_speed.md``.

    PYTHONPATH=. python bench/models_speed.py [--seq-len 110] [--batch 128] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from common import bf16_peak_flops, load_average, machine, machine_peak_flops, model_flops, peak_rss_mb, result_name

from seq2expr.atomic import write_text
from seq2expr.data.sequences import one_hot
from seq2expr.inference import autocast, predict
from seq2expr.models import build_model
from seq2expr.models.layers import n_params

MODELS = [("cnn", {}), ("rescnn", {"size": "mini"}), ("rescnn", {"size": "full"}), ("legnet", {}),
          ("hybrid", {}), ("dual", {})]


def throughput(model: torch.nn.Module, x: torch.Tensor, steps: int, warmup: int = 2, precision: str = "32") -> float:
    """Sequences per second for full training steps (forward, MSE backward, Adam update); ``bf16``: the forward
    pass under bfloat16 autocast, as Lightning's ``bf16-mixed`` does."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    y = torch.zeros(len(x), 1, device=x.device)
    model.train()

    def step():
        opt.zero_grad()
        with autocast(precision, x.device):
            out = model(x)
        torch.nn.functional.mse_loss(out.float(), y).backward()
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


def inference_throughput(model: torch.nn.Module, codes: np.ndarray, batch: int, device: str,
                         precision: str = "32") -> float:
    """Sequences per second of RC-averaged prediction from uint8 codes (one warm-up batch)."""
    predict(model, codes[:batch], batch_size=batch, device=device, rc_average=True, precision=precision)
    t = time.perf_counter()
    predict(model, codes, batch_size=batch, device=device, rc_average=True, precision=precision)
    return len(codes) / (time.perf_counter() - t)


def env_prefix() -> str:
    """The ISA-limiting variables this run was started with (``ATEN_CPU_CAPABILITY=avx2 ...``), for its command."""
    keys = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
    return "".join(f"{k}={os.environ[k]} " for k in keys if os.environ.get(k))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq-len", type=int, default=110)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--infer-n", type=int, default=2048, help="sequences predicted per model")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precisions", default="32,bf16", help="32 and/or bf16 (autocast), a row each")
    ap.add_argument("--infer-batch", type=int, default=512, help="predict's batch size")
    ap.add_argument("--models", default="", help="only these rows, e.g. 'cnn,rescnn (mini)' (default: all)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / f"{result_name('models_speed')}.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = one_hot(torch.randint(0, 4, (args.batch, args.seq_len))).to(args.device)
    codes = np.random.default_rng(0).integers(0, 4, (args.infer_n, args.seq_len)).astype(np.uint8)
    peak = machine_peak_flops(args.threads)
    bpeak = bf16_peak_flops(args.threads)
    rows = []
    only = {m.strip() for m in args.models.split(",") if m.strip()}
    for name, params in MODELS:
        if only and name + (f" ({params['size']})" if "size" in params else "") not in only:
            continue
        model = build_model(name, seq_len=args.seq_len, **params).to(args.device)
        train_flops = model_flops(model, x, backward=True) / len(x)
        fwd_flops = model_flops(model.eval(), x) / len(x)
        label = name + (f" ({params['size']})" if "size" in params else "")
        for precision in args.precisions.split(","):
            sps = throughput(model, x, args.steps, precision=precision)
            ips = inference_throughput(model, codes, args.infer_batch, args.device, precision)
            achieved_train, achieved_inf = train_flops * sps, 2 * fwd_flops * ips  # 2: both strands
            if precision == "32":
                fr = f"{100 * achieved_train / peak['peak_flops']:.1f} | {100 * achieved_inf / peak['peak_flops']:.1f}"
            else:
                avx, amx = bpeak["avx512_bf16_flops"], bpeak["amx_bf16_flops"]
                fr = "- (emulated) | - (emulated)"
                if avx:
                    fr = " | ".join(f"{100 * a / avx:.1f}" + (f" (AMX {100 * a / amx:.1f})" if amx else "")
                                    for a in (achieved_train, achieved_inf))
            rows.append(f"| {label} | {precision} | {n_params(model):,} | {train_flops / 1e6:,.1f} | {sps:,.0f} | "
                        f"{ips:,.0f} | {fr} | {peak_rss_mb():,.0f} |")
            print(rows[-1], flush=True)
    load = load_average()[0]
    where = machine(args.threads, args.device)
    text = "\n".join([
        "# Model zoo: size and training throughput (default sizes)",
        "",
        f"`{env_prefix()}PYTHONPATH=. python bench/models_speed.py --seq-len {args.seq_len} --batch {args.batch} "
        f"--threads {args.threads} --device {args.device} --steps {args.steps} --infer-n {args.infer_n} "
        f"--infer-batch {args.infer_batch} --precisions {args.precisions}"
        + (f" --models '{args.models}'" if args.models else "") + "`",
        "",
        f"Machine: {where['line']}.",
        "",
        f"Device {args.device}, {args.threads} threads, batch {args.batch}, "
        f"{args.seq_len} bp, {args.steps} timed steps (forward + backward + Adam); inference: "
        f"`predict` on {args.infer_n} random sequences, batch {args.infer_batch}, forward and reverse complement "
        f"averaged. FLOPs counted by torch's FlopCounterMode (fp32 graph; the same count for bf16). fp32 rows: % of "
        f"the fp32 peak, {peak['how']} = {peak['peak_flops'] / 1e9:.0f} GFLOP/s. bf16 rows (forward passes under "
        f"bfloat16 autocast, weights fp32): % of the bf16 peak, {bpeak['how']} = "
        f"{bpeak['avx512_bf16_flops'] / 1e9:.0f} GFLOP/s"
        + (f" (AMX: {bpeak['amx_bf16_flops'] / 1e9:.0f} GFLOP/s, in brackets)" if bpeak["amx_bf16_flops"] else "")
        + f". Ratios between rows come from the same run. 1-min load average at the end {load:.1f} (2 cores: above "
        f"2 the timings ran under contention); the process ran on CPU core(s) {sorted(os.sched_getaffinity(0))}.",
        "",
        "| model | precision | parameters | train MFLOP/seq | train seq/s | inference seq/s | train % of peak | "
        "inference % of peak | peak RSS MiB (cumulative) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ])
    write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
