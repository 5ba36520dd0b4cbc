"""Saturation mutagenesis speed: seq2expr's fast ISM against tangermeme's ``saturation_mutagenesis``.

Same trained DREAM model, same 1,000 DREAM test sequences (110 bp, 330 mutants each), same target and the
same centring (each position's scores minus their mean over the 4 bases: tangermeme's ``hypothetical=True``,
our ``center=True``). Results must agree to 1e-5. Each method runs in its own child process (so its peak
memory is its own) one after the other in this run, with the same thread count; the load average is recorded
beside each timing because the machine's cores are shared.

``seq2expr_bf16`` is our ISM with ``precision="bf16"`` (bfloat16 autocast); its max abs difference from the exact
fp32 scores is reported. Peers: tangermeme's default call (``fast=True``: its own fastISM through
``torch.export``) and tangermeme with ``fast=False`` (plain batched ISM: every mutant through the whole network).

    SEQ2EXPR_DATA_MIRROR=../shared/data python bench/ism.py [--model DIR [--n N] ...] [--threads 2]
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
from common import count_flops, efficiency, load_average, machine, machine_peak_flops, model_flops, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "ism"
METHODS = ("seq2expr", "seq2expr_bf16", "tangermeme", "tangermeme_plain")


def default_model() -> Path:
    for p in (ROOT / "runs" / "dream2022" / "model", ROOT / "bench" / "work" / "interp_dream" / "model"):
        if (p / "model.safetensors").is_file():
            return p
    raise SystemExit("no DREAM model found: train one (see the docstring) or pass --model DIR")


def load_inputs(model_dir: Path, n: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """The saved model and the first ``n`` DREAM test sequences, one-hot with the model's policy."""
    from seq2expr.data.registry import load_split
    from seq2expr.data.sequences import encode, one_hot
    from seq2expr.inference import load_model

    saved = load_model(model_dir)
    rec = load_split("dream2022:test")
    codes = encode(list(rec.sequences[:n]), saved.policy)
    return saved.model.eval(), one_hot(codes, saved.policy.n_value)


def child(method: str, model_dir: Path, n: int, threads: int, batch_size: int, work: Path) -> None:
    """Run one method, save its scores and timing to ``work``."""
    torch.set_num_threads(threads)
    model, x = load_inputs(model_dir, n)
    load0 = load_average()
    warned: list[str] = []
    t0 = time.perf_counter()
    if method.startswith("seq2expr"):
        from seq2expr.interpret.ism import ism

        scores = ism(model, x, target=0, center=True, batch_size=batch_size,
                     precision="bf16" if method.endswith("bf16") else "32")
    else:
        import warnings

        from tangermeme.saturation_mutagenesis import saturation_mutagenesis

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = saturation_mutagenesis(model, x, target=0, hypothetical=True, batch_size=batch_size,
                                            device="cpu", fast=method == "tangermeme").numpy()
        for w in caught:
            print(f"[{method}] warning: {w.message}", file=sys.stderr)
        warned = sorted({str(w.message) for w in caught})
    seconds = time.perf_counter() - t0
    np.save(work / f"{method}.npy", scores.astype(np.float32))
    (work / f"{method}.json").write_text(json.dumps({
        "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "load_before": load0, "load_after": load_average(),
        "warnings": warned}))


def measure(model_dir: Path, n: int, args, methods: list[str]) -> dict:
    """Run every method on one model and ``n`` sequences (each method in a child process) and compare them."""
    work = WORK / model_dir.name if model_dir.name != "model" else WORK / model_dir.parent.name
    work.mkdir(parents=True, exist_ok=True)
    runs = {}
    for m in methods:
        print(f"{model_dir}: running {m} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--child", m, "--model", str(model_dir), "--n", str(n),
                        "--threads", str(args.threads), "--batch-size", str(args.batch_size),
                        "--work", str(work)], check=True)
        runs[m] = json.loads((work / f"{m}.json").read_text())
        runs[m]["scores"] = np.load(work / f"{m}.npy")
        print(f"  {runs[m]['seconds']:.1f} s", flush=True)

    torch.set_num_threads(args.threads)
    model, x = load_inputs(model_dir, n)
    L = x.shape[-1]
    n_mut = n * 3 * L
    # FLOPs: plain ISM = one full forward per mutant (+ the reference); ours counted on a few sequences
    fwd = model_flops(model, x[:1])
    plain_flops = fwd * n * (3 * L + 1)
    from seq2expr.interpret.ism import ism

    k = min(8, n)
    ours_flops = count_flops(lambda: ism(model, x[:k], target=0, center=True, batch_size=args.batch_size)) * n / k
    from seq2expr.inference import load_model

    spec = load_model(model_dir).config
    result = {"model": str(model_dir.relative_to(ROOT) if model_dir.is_relative_to(ROOT) else model_dir),
              "architecture": spec.model.name, "ensemble_size": spec.ensemble_size or 0,
              "n_sequences": n, "seq_len": L, "n_mutants": n_mut,
              "forward_flops_per_sequence": fwd, "methods": {}}
    ref = runs.get("seq2expr", {}).get("scores")
    for m, r in runs.items():
        flops = ours_flops if m.startswith("seq2expr") else plain_flops
        eff = efficiency(flops, r["seconds"], args.threads)
        row = {"seconds": r["seconds"], "sequences_per_s": n / r["seconds"], "mutants_per_s": n_mut / r["seconds"],
               "peak_rss_mb": r["peak_rss_mb"], "load_before": r["load_before"], "load_after": r["load_after"],
               "flops": flops, "achieved_gflops": eff["achieved_gflops"], "fraction_of_peak": eff["fraction_of_peak"],
               "plain_equivalent_gflops": plain_flops / r["seconds"] / 1e9, "warnings": r.get("warnings", [])}
        if ref is not None and m != "seq2expr":
            row["max_abs_diff_vs_seq2expr"] = float(np.abs(r["scores"] - ref).max())
            row["speedup_of_seq2expr"] = r["seconds"] / runs["seq2expr"]["seconds"]
        result["methods"][m] = row
    for m, row in result["methods"].items():
        if m == "seq2expr_bf16":  # rounded on purpose: its difference is reported, not asserted
            continue
        d = row.get("max_abs_diff_vs_seq2expr", 0.0)
        assert d <= 1e-5, f"{model_dir}: seq2expr ISM differs from {m} by {d:.3g} (> 1e-5)"
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append", default=None, help="saved model folder (repeatable)")
    ap.add_argument("--n", type=int, action="append", default=None,
                    help="sequences per model (default 1000; one value for all models, or one per --model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=2048, help="mutants per forward pass (both tools)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=WORK, help=argparse.SUPPRESS)
    ap.add_argument("--render", action="store_true", help="only rewrite ism.md from ism.json")
    ap.add_argument("--name", default="ism", help="results file name (bench/results/NAME.md|json)")
    args = ap.parse_args()
    from seq2expr.atomic import write_json, write_text

    out = ROOT / "bench" / "results"
    if args.render:
        res = json.loads((out / f"{args.name}.json").read_text())
        write_text(out / f"{args.name}.md", render(res))
        return
    models = [m.resolve() for m in (args.model or [default_model()])]
    ns = args.n or [1000]
    if len(ns) == 1:
        ns = ns * len(models)
    if len(ns) != len(models):
        raise SystemExit(f"--n: give one value or one per --model ({len(models)}), not {len(ns)}")
    if args.child:
        args.work.mkdir(parents=True, exist_ok=True)
        child(args.child, models[0], ns[0], args.threads, args.batch_size, args.work)
        return
    methods = [m for m in args.methods.split(",") if m]
    result = {"argv": " ".join(sys.argv[1:]), "threads": args.threads, "batch_size": args.batch_size,
              "machine": machine_peak_flops(args.threads), "host": machine(args.threads), "notes": args.note,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "runs": [measure(m, n, args, methods) for m, n in zip(models, ns, strict=True)]}
    write_json(out / f"{args.name}.json", result)
    write_text(out / f"{args.name}.md", render(result))
    print((out / f"{args.name}.md").read_text())


def render(res: dict) -> str:
    """Markdown tables of the results, one per model."""
    lines = ["# ISM benchmark: seq2expr fast ISM vs tangermeme `saturation_mutagenesis`", "",
             f"Command: `SEQ2EXPR_DATA_MIRROR=../shared/data python bench/ism.py {res['argv']}`".rstrip(), "",
             f"Machine: {res['host']['line'] if 'host' in res else 'not recorded'}.", "",
             f"Run {res['date']}; {res['threads']} CPU threads, {res['batch_size']} mutants per forward pass (both "
             "tools); scores centred over the 4 bases (tangermeme `hypothetical=True`, ours `center=True`); target 0. "
             f"Peak: {res['machine']['how']} = {res['machine']['peak_flops'] / 1e9:.0f} GFLOP/s (nominal: the "
             "machine's clock in /proc/cpuinfo, turbo not counted; a CPU that double-pumps 512-bit vectors has half "
             "that).", ""]
    for r in res["runs"]:
        ens = f", an ensemble of {r['ensemble_size']}" if r["ensemble_size"] else ""
        lines += [f"## `{r['architecture']}` ({r['model']}{ens})", "",
                  f"{r['n_sequences']} DREAM test sequences x {r['seq_len']} bp = {r['n_mutants']:,} single-base "
                  f"mutants. One forward pass of one sequence: {r['forward_flops_per_sequence'] / 1e6:.1f} MFLOP.", "",
                  "| method | seconds | sequences/s | mutants/s | speed-up of seq2expr | max abs diff vs seq2expr | "
                  "peak RSS (MiB) | achieved GFLOP/s (fraction of peak) | plain-ISM-equivalent GFLOP/s | load avg "
                  "before -> after |", "|---|---|---|---|---|---|---|---|---|---|"]
        for m, x in r["methods"].items():
            sp = f"{x['speedup_of_seq2expr']:.2f}x" if "speedup_of_seq2expr" in x else "-"
            diff = f"{x['max_abs_diff_vs_seq2expr']:.2g}" if "max_abs_diff_vs_seq2expr" in x else "-"
            lines.append(f"| {m} | {x['seconds']:.1f} | {x['sequences_per_s']:.2f} | {x['mutants_per_s']:,.0f} | "
                         f"{sp} | {diff} | {x['peak_rss_mb']:.0f} | {x['achieved_gflops']:.1f} "
                         f"({x['fraction_of_peak']:.1%}) | {x['plain_equivalent_gflops']:.1f} | "
                         f"{x['load_before'][0]:.1f} -> {x['load_after'][0]:.1f} |")
        ours = r["methods"].get("seq2expr")
        if ours:
            plain = r["forward_flops_per_sequence"] * r["n_sequences"] * (3 * r["seq_len"] + 1)
            lines += ["", f"Receptive-field reuse: our fast path performs {ours['flops'] / plain:.0%} of plain ISM's "
                      f"FLOPs on this model, so reuse alone can give at most {plain / ours['flops']:.2f}x."]
        for m, x in r["methods"].items():
            lines += [f"{m} printed: {w}" for w in x.get("warnings", [])]
        lines.append("")
    lines += ["`tangermeme` is its default call (`fast=True`: its own fastISM through `torch.export`, which it "
              "abandons for plain ISM when a timing probe finds it no faster, saying so in a warning shown above); "
              "`tangermeme_plain` is `fast=False` (every mutant through the whole network). Achieved GFLOP/s counts "
              "the FLOPs each method performs (ours measured with torch's FlopCounterMode on 8 sequences and "
              "scaled; tangermeme's counted as plain ISM); the plain-ISM-equivalent column divides the plain-ISM "
              "FLOPs by each time. `seq2expr_bf16`: the same ISM in bfloat16 autocast (fraction of peak still "
              "against the fp32 peak; the bf16 peaks are 2x (AVX512-BF16) and 16x (AMX) that).", ""]
    lines += [f"- {n}" for n in res.get("notes", [])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
