"""Saturation mutagenesis speed: seq2expr's fast ISM against tangermeme's ``saturation_mutagenesis``.

Same trained DREAM model, same 1,000 DREAM test sequences (110 bp, 330 mutants each), same target and the
same centring (each position's scores minus their mean over the 4 bases: tangermeme's ``hypothetical=True``,
our ``center=True``). Results must agree to 1e-5. Each method runs in its own child process (so its peak
memory is its own) one after the other in this run, with the same thread count; the load average is recorded
beside each timing because the machine's cores are shared.

Peers: tangermeme's default call (``fast=True``: its own fastISM through ``torch.export``) and tangermeme
with ``fast=False`` (plain batched ISM: every mutant through the whole network).

    SEQ2EXPR_DATA_MIRROR=/work/shared/data PYTHONPATH=. python bench/ism.py [--model DIR] [--n 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import count_flops, efficiency, load_average, machine_peak_flops, model_flops, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "ism"
METHODS = ("seq2expr", "tangermeme", "tangermeme_plain")


def default_model() -> Path:
    for p in (ROOT / "runs" / "dream2022" / "model", ROOT / "bench" / "work" / "interp_dream" / "model"):
        if (p / "model.safetensors").is_file():
            return p
    raise SystemExit("no DREAM model found: train one (see the docstring) or pass --model DIR")


def load_inputs(model_dir: Path, n: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """The saved model and the first ``n`` DREAM test sequences, one-hot with the model's policy."""
    from seq2expr.cli.train import load_split
    from seq2expr.data.sequences import encode, one_hot
    from seq2expr.models.saved import load_model

    saved = load_model(model_dir)
    rec = load_split("dream2022:test")
    codes = encode(list(rec.sequences[:n]), saved.policy)
    return saved.model.eval(), one_hot(codes, saved.policy.n_value)


def child(method: str, model_dir: Path, n: int, threads: int, batch_size: int) -> None:
    """Run one method, save its scores and timing to ``WORK``."""
    torch.set_num_threads(threads)
    model, x = load_inputs(model_dir, n)
    load0 = load_average()
    t0 = time.perf_counter()
    if method == "seq2expr":
        from seq2expr.interpret.ism import ism

        scores = ism(model, x, target=0, center=True, batch_size=batch_size)
    else:
        import warnings

        from tangermeme.saturation_mutagenesis import saturation_mutagenesis

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = saturation_mutagenesis(model, x, target=0, hypothetical=True, batch_size=batch_size,
                                            device="cpu", fast=method == "tangermeme").numpy()
        for w in caught:
            print(f"[{method}] warning: {w.message}", file=sys.stderr)
    seconds = time.perf_counter() - t0
    np.save(WORK / f"{method}.npy", scores.astype(np.float32))
    (WORK / f"{method}.json").write_text(json.dumps({
        "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "load_before": load0, "load_after": load_average()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=2048, help="mutants per forward pass (both tools)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--render", action="store_true", help="only rewrite ism.md from ism.json")
    args = ap.parse_args()
    if args.render:
        from seq2expr.atomic import write_text

        res = json.loads((ROOT / "bench" / "results" / "ism.json").read_text())
        write_text(ROOT / "bench" / "results" / "ism.md", render(res, res.get("argv", "")))
        return
    model_dir = (args.model or default_model()).resolve()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.child, model_dir, args.n, args.threads, args.batch_size)
        return

    methods = [m for m in args.methods.split(",") if m]
    runs = {}
    for m in methods:
        print(f"running {m} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--child", m, "--model", str(model_dir), "--n", str(args.n),
                        "--threads", str(args.threads), "--batch-size", str(args.batch_size)], check=True)
        runs[m] = json.loads((WORK / f"{m}.json").read_text())
        runs[m]["scores"] = np.load(WORK / f"{m}.npy")
        print(f"  {runs[m]['seconds']:.1f} s", flush=True)

    torch.set_num_threads(args.threads)
    model, x = load_inputs(model_dir, args.n)
    L = x.shape[-1]
    n_mut = args.n * 3 * L
    # FLOPs: plain ISM = one full forward per mutant (+ the reference); ours counted on a few sequences
    fwd = model_flops(model, x[:1])
    plain_flops = fwd * args.n * (3 * L + 1)
    from seq2expr.interpret.ism import ism

    k = min(8, args.n)
    ours_flops = count_flops(lambda: ism(model, x[:k], target=0, center=True, batch_size=args.batch_size)) * args.n / k
    result = {"model": str(model_dir.relative_to(ROOT) if model_dir.is_relative_to(ROOT) else model_dir),
              "n_sequences": args.n, "seq_len": L, "n_mutants": n_mut, "threads": args.threads,
              "batch_size": args.batch_size, "forward_flops_per_sequence": fwd, "argv": " ".join(sys.argv[1:]),
              "machine": machine_peak_flops(args.threads), "methods": {}}
    ref = runs.get("seq2expr", {}).get("scores")
    for m, r in runs.items():
        flops = ours_flops if m == "seq2expr" else plain_flops
        eff = efficiency(flops, r["seconds"], args.threads)
        row = {"seconds": r["seconds"], "sequences_per_s": args.n / r["seconds"], "mutants_per_s": n_mut / r["seconds"],
               "peak_rss_mb": r["peak_rss_mb"], "load_before": r["load_before"], "load_after": r["load_after"],
               "flops": flops, "achieved_gflops": eff["achieved_gflops"], "fraction_of_peak": eff["fraction_of_peak"],
               "plain_equivalent_gflops": plain_flops / r["seconds"] / 1e9}
        if ref is not None and m != "seq2expr":
            row["max_abs_diff_vs_seq2expr"] = float(np.abs(r["scores"] - ref).max())
            row["speedup_of_seq2expr"] = r["seconds"] / runs["seq2expr"]["seconds"]
        result["methods"][m] = row
    if "seq2expr" in runs:
        for m in methods:
            if m != "seq2expr":
                d = result["methods"][m]["max_abs_diff_vs_seq2expr"]
                assert d <= 1e-5, f"seq2expr ISM differs from {m} by {d:.3g} (> 1e-5)"
    from seq2expr.atomic import write_json, write_text

    out = ROOT / "bench" / "results"
    write_json(out / "ism.json", result)
    write_text(out / "ism.md", render(result, " ".join(sys.argv[1:])))
    print((out / "ism.md").read_text())


def render(r: dict, argv: str) -> str:
    """Markdown table of the results."""
    lines = ["# ISM benchmark: seq2expr fast ISM vs tangermeme `saturation_mutagenesis`", "",
             f"Command: `SEQ2EXPR_DATA_MIRROR=/work/shared/data PYTHONPATH=. python bench/ism.py {argv}`".rstrip(),
             "", f"Model `{r['model']}`; {r['n_sequences']} DREAM test sequences x {r['seq_len']} bp = "
             f"{r['n_mutants']:,} single-base mutants; target 0; scores centred over the 4 bases (tangermeme "
             f"`hypothetical=True`, ours `center=True`); {r['threads']} CPU threads, {r['batch_size']} mutants per "
             f"forward pass. One forward pass of one sequence: {r['forward_flops_per_sequence'] / 1e6:.1f} MFLOP. "
             f"Peak: {r['machine']['how']} = {r['machine']['peak_flops'] / 1e9:.0f} GFLOP/s.", "",
             "| method | seconds | sequences/s | mutants/s | speed-up of seq2expr | max abs diff vs seq2expr | "
             "peak RSS (MiB) | achieved GFLOP/s (fraction of peak) | plain-ISM-equivalent GFLOP/s | load avg "
             "before -> after |", "|---|---|---|---|---|---|---|---|---|---|"]
    for m, x in r["methods"].items():
        sp = f"{x['speedup_of_seq2expr']:.1f}x" if "speedup_of_seq2expr" in x else "-"
        diff = f"{x['max_abs_diff_vs_seq2expr']:.2g}" if "max_abs_diff_vs_seq2expr" in x else "-"
        lines.append(f"| {m} | {x['seconds']:.1f} | {x['sequences_per_s']:.1f} | {x['mutants_per_s']:,.0f} | {sp} | "
                     f"{diff} | {x['peak_rss_mb']:.0f} | {x['achieved_gflops']:.1f} ({x['fraction_of_peak']:.1%}) | "
                     f"{x['plain_equivalent_gflops']:.1f} | {x['load_before'][0]:.1f} -> {x['load_after'][0]:.1f} |")
    lines += ["", "`tangermeme` is its default call (`fast=True`, its own fastISM via `torch.export`); "
              "`tangermeme_plain` is `fast=False` (every mutant through the whole network). Achieved GFLOP/s counts "
              "the FLOPs each method really performs (ours measured with torch's FlopCounterMode on 8 sequences "
              "and scaled; tangermeme's counted as plain ISM, an upper bound for its fast path); the "
              "plain-ISM-equivalent column divides the plain-ISM FLOPs by each time. Timings were taken on a "
              "2-core machine shared with other jobs: see the load averages.", ""]
    lines += [f"Note: {n}" for n in r.get("notes", [])] + ([""] if r.get("notes") else [])
    ours = r["methods"].get("seq2expr")
    if ours:
        plain = r["forward_flops_per_sequence"] * r["n_sequences"] * (3 * r["seq_len"] + 1)
        lines += [f"Work saved by receptive-field reuse: our fast path performs {ours['flops'] / plain:.0%} of plain "
                  "ISM's FLOPs, so reuse alone can at most give a "
                  f"{plain / ours['flops']:.1f}x speed-up on this model: its 15-bp first convolution is cheap, and "
                  "after three max-pools the 9-wide convolutions of the last blocks see (almost) the whole "
                  "sequence, so every mutant must recompute them. The >= 10x target of the issue is therefore not "
                  "reachable on this architecture by reuse; it would need a model whose cost sits in early, "
                  "local layers.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
