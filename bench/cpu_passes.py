"""How many rows a CPU forward pass should take: ``predict`` throughput by pass-size rule, models and lengths.

``predict`` splits each batch into passes of ``cpu_forward_rows`` rows (``seq2expr/inference/predict.py``): a
power of two, at most ``CPU_FORWARD_ROWS``, whose largest activation stays within ``CPU_PASS_BYTES``. This bench
times ``predict`` (batch 512, both strands averaged) with the byte budget set to 4-32 MiB, with no byte budget
(passes of ``CPU_FORWARD_ROWS`` rows, the rule before), and a plain PyTorch loop as the peer (``no_grad``, the
unfolded eval model on whole 512-row batches, both strands). Each cell is the best of ``--reps`` alternating
rounds in one process, so ratios within a row come from the same run. Writes ``bench/results/cpu_passes.md``.

    PYTHONPATH=. python bench/cpu_passes.py [--threads 2] [--reps 2]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import load_average, machine, machine_peak_flops, model_flops, peak_rss_mb

from seq2expr.atomic import write_text
from seq2expr.data.sequences import one_hot, reverse_complement_onehot
from seq2expr.inference import CPU_FORWARD_ROWS, CPU_PASS_BYTES, cpu_forward_rows, folded, predict
from seq2expr.models import build_model

PASSES = sys.modules["seq2expr.inference.predict"]  # the module (the package exports the function as `predict`)
CASES = [("legnet", {}, 110), ("legnet", {}, 440), ("legnet", {}, 1000), ("cnn", {}, 110),
         ("rescnn", {"size": "mini"}, 110), ("hybrid", {}, 110)]
BUDGETS_MIB = [4, 8, 16, 32]
BATCH = 512


def _largest_per_row(model: torch.nn.Module, length: int) -> int:
    """Bytes of the largest activation of one row (what ``cpu_forward_rows`` divides the budget by)."""
    return PASSES._largest_activation(folded(model), torch.zeros(1, 4, length))


def _predict_rate(model: torch.nn.Module, codes: np.ndarray, budget: int | None) -> float:
    PASSES.CPU_PASS_BYTES = budget if budget is not None else 1 << 62
    PASSES._ROWS.clear()
    t0 = time.perf_counter()
    predict(model, codes, scale="model", rc_average=True, batch_size=BATCH)
    return len(codes) / (time.perf_counter() - t0)


@torch.inference_mode()
def _plain_rate(model: torch.nn.Module, codes: np.ndarray) -> float:
    """The peer: what a user writes in plain PyTorch (whole batches, unfolded eval model, both strands)."""
    model.eval()
    t0 = time.perf_counter()
    for start in range(0, len(codes), BATCH):
        x = one_hot(torch.from_numpy(codes[start:start + BATCH]), 0.0)
        _ = ((model(x) + model(reverse_complement_onehot(x))) / 2).numpy()
    return len(codes) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2, help="alternating rounds per case; each cell is the best")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "cpu_passes.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    default = CPU_PASS_BYTES
    peak = machine_peak_flops(args.threads)
    rows = []
    for name, params, length in CASES:
        model = build_model(name, seq_len=length, n_targets=1, **params).eval()
        n = max(256, 2048 * 110 // length)
        codes = np.random.default_rng(0).integers(0, 4, (n, length)).astype(np.uint8)
        fwd = model_flops(model, one_hot(torch.from_numpy(codes[:8]), 0.0)) / 8
        per_row = _largest_per_row(model, length)
        predict(model, codes[:BATCH], scale="model", rc_average=True)  # warm-up
        rates: dict[str, list[float]] = {}
        for _ in range(args.reps):
            for mib in BUDGETS_MIB:
                rates.setdefault(f"{mib}", []).append(_predict_rate(model, codes, mib << 20))
            rates.setdefault("rows", []).append(_predict_rate(model, codes, None))
            rates.setdefault("plain", []).append(_plain_rate(model, codes))
        best = {k: max(v) for k, v in rates.items()}
        PASSES.CPU_PASS_BYTES = default
        PASSES._ROWS.clear()
        chosen = cpu_forward_rows(folded(model), torch.zeros(1, 4, length))
        here = best[f"{default >> 20}"]
        cells = " | ".join(f"{best[f'{m}']:,.0f}" for m in BUDGETS_MIB)
        rows.append(f"| {name}{' (' + params['size'] + ')' if params else ''} | {length} | {per_row / 1024:,.0f} | "
                    f"{chosen} | {cells} | {best['rows']:,.0f} | {best['plain']:,.0f} | "
                    f"{here / best['rows']:.2f}x | {here / best['plain']:.2f}x | "
                    f"{100 * 2 * fwd * here / peak['peak_flops']:.1f} |")
        print(rows[-1], flush=True)
    PASSES.CPU_PASS_BYTES = default
    load = load_average()[0]
    text = "\n".join([
        "# CPU forward passes: rows per pass by the size of the largest activation",
        "",
        f"Machine: {machine(args.threads)['line']}.",
        "",
        f"`PYTHONPATH=. python bench/cpu_passes.py --threads {args.threads} --reps {args.reps}`",
        "",
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} threads. "
        f"`predict` (batch {BATCH}, forward and reverse complement averaged, random sequences: 2,048 of 110 bp, "
        f"fewer of longer) with passes sized by a byte budget for the largest activation (4-32 MiB; "
        f"{default >> 20} MiB is the default, `CPU_PASS_BYTES`), by a fixed {CPU_FORWARD_ROWS} rows (no byte "
        "budget, the rule before), and the peer: a plain PyTorch loop (`no_grad`, the unfolded eval model on "
        f"whole {BATCH}-row batches). Seq/s, best of {args.reps} alternating rounds in one process; ratios "
        f"within a row come from the same run. FLOP/s: torch's FlopCounterMode count of one forward pass x 2 "
        f"strands x seq/s at the default budget, as a fraction of the fp32 peak, {peak['how']} = "
        f"{peak['peak_flops'] / 1e9:.0f} GFLOP/s. Peak RSS of the whole run {peak_rss_mb():,.0f} MiB; 1-min load "
        f"average at the end {load:.1f} (2 cores: above 2 the timings ran under contention).",
        "",
        "| model | bp | largest activation KiB/row | rows per pass (default) | 4 MiB | 8 MiB | 16 MiB | 32 MiB | "
        f"{CPU_FORWARD_ROWS} rows | plain loop (peer) | default / {CPU_FORWARD_ROWS} rows | default / peer | "
        "default % of fp32 peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ])
    write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
