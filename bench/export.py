"""``predict`` throughput, torch eager vs the ONNX Runtime engine, for cnn, LegNet and the DREAM ensemble; the files.

Three project models of the zoo (their weights ship in the package): ``dream2022-cnn``, one LegNet (member 0 of
``dream2022-legnet``) and the whole 5-member ``dream2022-legnet`` ensemble, each on random 110-nt DREAM constructs
with strands averaged as trained. ``predict`` runs with ``engine="torch"`` (float32, batch norm folded, CPU passes
sized by ``cpu_forward_rows``) and ``engine="onnxruntime"`` (the same graph exported once, ONNX Runtime on the CPU,
float32, the same threads), alternating in one process: each cell is the best of ``--reps`` rounds, so the ratio in
a row comes from the same run. The ONNX engine's one-off export is timed apart. Also: the largest difference
between the engines, FLOP/s as a fraction of the fp32 peak, and the size of the saved and exported files
(``models export --format onnx|torch``). Writes ``bench/results/export.md`` (``_avx2`` under the AVX2 limits) and
``.json``.

    PYTHONPATH=. python bench/export.py [--threads 2] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from common import load_average, machine, machine_peak_flops, model_flops, peak_rss_mb, result_name

from seq2expr.atomic import write_text
from seq2expr.convert.export import export_model
from seq2expr.data.sequences import one_hot
from seq2expr.inference import load_model, predict

ENGINE = sys.modules["seq2expr.inference.engine"]
LEFT, RIGHT = "TGCATTTTTTTCACATC", "GGTTACGGCTGTT"
BATCH = 512


def _models() -> list[tuple[str, object, int]]:
    """(label, saved model, sequences to time) for each case."""
    legnet = load_model("zoo:dream2022-legnet")
    return [("cnn (dream2022-cnn)", load_model("zoo:dream2022-cnn"), 8192),
            ("LegNet (dream2022-legnet member 0)", legnet.members[0], 2048),
            ("DREAM ensemble (dream2022-legnet, 5 LegNets)", legnet, 512)]


def _codes(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    flank = np.frombuffer(b"ACGT", dtype=np.uint8)
    left = np.searchsorted(flank, np.frombuffer(LEFT.encode(), dtype=np.uint8)).astype(np.uint8)
    right = np.searchsorted(flank, np.frombuffer(RIGHT.encode(), dtype=np.uint8)).astype(np.uint8)
    middle = rng.integers(0, 4, (n, 110 - len(LEFT) - len(RIGHT))).astype(np.uint8)
    return np.concatenate([np.tile(left, (n, 1)), middle, np.tile(right, (n, 1))], axis=1)


def _rate(saved, codes: np.ndarray, engine: str, batch: int) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    out = predict(saved, codes, engine=engine, precision="32", batch_size=batch)
    return len(codes) / (time.perf_counter() - t0), out


def _sizes(saved) -> dict[str, int]:
    """Bytes of the weights in float32 and of each export's graph file."""
    sizes = {"weights, float32": 4 * sum(p.numel() for p in saved.model.parameters())}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, file in (("onnx", "model.onnx"), ("torch", "model.pt2")):
            out = export_model(saved, Path(tmp) / fmt, format=fmt)
            sizes[f"export {file}"] = (out / file).stat().st_size
    return sizes


def measure(label: str, saved, n: int, reps: int, threads: int) -> dict:
    codes = _codes(n)
    fwd = model_flops(saved.model, one_hot(codes[:8], 0.0)) / 8 * (2 if saved.config.rc_average else 1)
    ENGINE._SESSIONS.clear()
    t0 = time.perf_counter()
    predict(saved, codes[:8], engine="onnxruntime")  # the one-off export of the engine's graph
    export_s = time.perf_counter() - t0
    predict(saved, codes[:BATCH], engine="torch", precision="32")  # warm-up (folding, pass sizes)
    cells: dict[str, list[float]] = {"torch": [], "onnxruntime": [], "onnxruntime_64": []}
    outs = {}
    for _ in range(reps):
        for key, engine, batch in (("torch", "torch", BATCH), ("onnxruntime", "onnxruntime", BATCH),
                                   ("onnxruntime_64", "onnxruntime", 64)):
            rate, outs[key] = _rate(saved, codes, engine, batch)
            cells[key].append(rate)
    best = {k: max(v) for k, v in cells.items()}
    diff = float((np.abs(outs["onnxruntime"] - outs["torch"]) / np.maximum(1, np.abs(outs["torch"]))).max())
    peak = machine_peak_flops(threads)["peak_flops"]
    return {"model": label, "n": n, "seq_per_s": best, "all_rounds": cells,
            "ratio": best["onnxruntime"] / best["torch"], "ratio_64": best["onnxruntime_64"] / best["torch"],
            "engine_export_s": export_s,
            "max_rel_difference": diff, "flop_per_seq": fwd,
            "fraction_of_peak": {k: v * fwd / peak for k, v in best.items()}, "sizes": _sizes(saved)}


def write(rows: list[dict], args, load: tuple, out: Path) -> None:
    mach = machine(args.threads)
    peak = machine_peak_flops(args.threads)
    lines = [
        "# Export: predict through torch eager vs the ONNX Runtime engine", "",
        f"Machine: {mach['line']}; onnxruntime {onnxruntime.__version__} (CPUExecutionProvider, the same "
        f"{args.threads} intra-op threads). Measured {time.strftime('%Y-%m-%d')}.", "",
        f"`PYTHONPATH=. python bench/export.py --threads {args.threads} --reps {args.reps}`", "",
        "`predict` on random 110-nt DREAM constructs (17-nt and 13-nt adapters around 80 random bases), strands "
        "averaged as each model was trained, float32, batch 512 (and 64-row batches for ONNX Runtime). Seq/s, best of "
        f"{args.reps} alternating rounds in one process: the ratio in a row comes from the same run. The engine's "
        "export (torch.export + ONNX conversion, once per model and process) is timed apart and not in the rates. "
        f"FLOP/s: torch's FlopCounterMode count of one forward pass x strands x seq/s, as a fraction of the fp32 "
        f"peak, {peak['how']} = {peak['peak_flops'] / 1e9:.0f} GFLOP/s. 1/5/15-min load average at the start "
        f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, at the end {os_load()} ({args.threads} threads on a shared "
        f"2-core machine: above 2 the timings ran under contention). Peak RSS of the run {peak_rss_mb():,.0f} MiB.",
        "",
        "| model | seq | torch seq/s | onnxruntime seq/s | onnxruntime / torch | onnxruntime, 64-row batches "
        "| that / torch | % of fp32 peak (torch, ort) | engine export s | largest difference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, f = r["seq_per_s"], r["fraction_of_peak"]
        lines.append(f"| {r['model']} | {r['n']:,} | {s['torch']:,.0f} | {s['onnxruntime']:,.0f} | "
                     f"**{r['ratio']:.2f}x** | {s['onnxruntime_64']:,.0f} | {r['ratio_64']:.2f}x | "
                     f"{100 * f['torch']:.1f}, {100 * f['onnxruntime']:.1f} | {r['engine_export_s']:.1f} | "
                     f"{r['max_rel_difference']:.1e} |")
    lines += ["", "Sizes (bytes): the parameters in float32 (the zoo stores them in half precision) and each export's "
              "graph file (float32, the whole contract: for the ensemble all five members; batch norm folded).", "",
              "| model | " + " | ".join(rows[0]["sizes"]) + " |", "|---|" + "---:|" * len(rows[0]["sizes"])]
    for r in rows:
        lines.append(f"| {r['model']} | " + " | ".join(f"{v:,}" for v in r["sizes"].values()) + " |")
    write_text(out, "\n".join(lines) + "\n")
    write_text(out.with_suffix(".json"), json.dumps({"machine": mach, "rows": rows, "load_start": load}, indent=1))


def os_load() -> str:
    one, five, fifteen = load_average()
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / f"{result_name('export')}.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = load_average()
    rows = []
    for label, saved, n in _models():
        rows.append(measure(label, saved, n, args.reps, args.threads))
        print(json.dumps({k: rows[-1][k] for k in ("model", "seq_per_s", "ratio", "max_rel_difference")}), flush=True)
    write(rows, args, load, Path(args.out))
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
