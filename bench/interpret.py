"""Interpretation throughput: saliency, DeepLIFT/SHAP, ISM and TF-MoDISco on one model and one set of sequences.

The zoo's DREAM ``cnn`` (``zoo:dream2022-cnn``, strands averaged as trained) and the first DREAM test sequences, in
one process, one step after the other with the same thread count. Reported per step: seconds per 1,000 sequences,
achieved FLOP/s as a fraction of the CPU's nominal fp32 peak, peak RSS so far (the process's, so it only grows) and
the load average before and after, because the cores are shared.

DeepLIFT/SHAP (20 dinucleotide-shuffled references) is compared with the same passes through ``predict``'s readout:
forward and backward of N x (refs + 1) sequences, both strands, in fp32 (the ratio the issue asks for), and with
tangermeme's ``deep_lift_shap`` and captum's ``DeepLiftShap`` (through tangermeme's ``_captum_deep_lift_shap``,
one call per sequence) given the same references; their max abs difference from ours is reported (tangermeme's
must be below 1e-5).

    SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/interpret.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from common import (
    bf16_peak_flops,
    count_flops,
    efficiency,
    load_average,
    machine,
    machine_peak_flops,
    peak_rss_mb,
)

ROOT = Path(__file__).resolve().parents[1]


def load_inputs(model: str, n: int):
    """The saved model and the first ``n`` DREAM test sequences, one-hot with the model's policy."""
    from seq2expr.data.registry import load_split
    from seq2expr.data.sequences import encode, one_hot
    from seq2expr.inference import load_model

    saved = load_model(model)
    rec = load_split("dream2022:test")
    return saved, one_hot(encode(list(rec.sequences[:n]), saved.policy), saved.policy.n_value)


def bf16_fraction(achieved_gflops: float, threads: int) -> float:
    """Achieved GFLOP/s over the native bf16 peak of the cores used (NaN where bf16 is not native)."""
    peak = bf16_peak_flops(threads)["avx512_bf16_flops"]
    return achieved_gflops * 1e9 / peak if peak else float("nan")


def timed(rows: dict, name: str, n: int, fn, flops: float = 0.0, threads: int = 2, **extra):
    """Run ``fn`` once, store its row (seconds per 1,000 sequences, efficiency, memory, load); return its value."""
    load0 = load_average()
    t0 = time.perf_counter()
    out = fn()
    s = time.perf_counter() - t0
    nan = float("nan")
    eff = efficiency(flops, s, threads) if flops else {"achieved_gflops": nan, "fraction_of_peak": nan}
    if str(extra.get("precision", "")).startswith("bf16"):  # of the bf16 peak (AVX512-BF16: twice the fp32 rate)
        eff["fraction_of_peak"] = bf16_fraction(eff["achieved_gflops"], threads)
    rows[name] = {"n_sequences": n, "seconds": s, "s_per_1000": s / n * 1000, "flops": flops,
                  "achieved_gflops": eff["achieved_gflops"], "fraction_of_peak": eff["fraction_of_peak"],
                  "peak_rss_mb": peak_rss_mb(), "load_before": load0, "load_after": load_average(), **extra}
    print(f"{name}: {s:.1f} s for {n} ({rows[name]['s_per_1000']:.1f} s / 1,000)", flush=True)
    return out


def passes(bound, net, x: torch.Tensor, rows: int = 128) -> None:
    """Forward and backward of ``x`` through the readout (both strands as trained), ``rows`` at a time."""
    from seq2expr.interpret._utils import single

    for i in range(0, len(x), rows):
        xb = x[i:i + rows].clone().requires_grad_(True)
        single(bound.forward(net, xb)).sum().backward(inputs=[xb])  # the input's gradient only


class TwoCopies(torch.nn.Module):
    """The readout with the reverse strand through a copy of the network: captum's hooks allow one call per module."""

    def __init__(self, net: torch.nn.Module, bound):
        import copy

        super().__init__()
        self.fwd, self.rev, self.bound = net, copy.deepcopy(net), bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from seq2expr.data.sequences import reverse_complement_onehot
        from seq2expr.models.registry import input_segments

        out = self.fwd(x)
        if self.bound.rc_average:
            out = (out + self.rev(reverse_complement_onehot(x, input_segments(self.fwd)))) / 2
        return self.bound.head(out)


def run(args) -> dict:
    """Every step on one model and one set of sequences; the rows and the comparisons."""
    from tangermeme.deep_lift_shap import _captum_deep_lift_shap
    from tangermeme.deep_lift_shap import deep_lift_shap as tangermeme_dls

    from seq2expr.inference import predict
    from seq2expr.interpret._utils import readout_for
    from seq2expr.interpret.gradients import deep_lift_shap, dinucleotide_shuffles, saliency
    from seq2expr.interpret.ism import ism
    from seq2expr.interpret.modisco import run_modisco

    torch.set_num_threads(args.threads)
    saved, x = load_inputs(args.model, max(args.n_saliency, args.n_dls))
    net, bound, R, t = saved.model.eval(), readout_for(saved, 0), args.refs, args.threads
    xd, xs, xi = x[:args.n_dls], x[:args.n_saliency], x[:args.n_ism]
    fb = count_flops(lambda: passes(bound, net, x[:4])) / 4  # forward + backward, both strands, one sequence
    fwd = count_flops(lambda: predict(saved, x[:4], precision="32")) / 4
    from seq2expr.interpret.deeplift_pairs import refs_graph_exact

    graph = "refs" if refs_graph_exact(net) else "seqs"  # what runs forward and backward (rules not counted)
    dls_flops = R * fb + fwd if graph == "refs" else R * (fwd + fb)
    rows: dict = {}
    predict(saved, x[:8], precision="32"), deep_lift_shap(saved, x[:2], n_shuffles=2)  # warm-up
    timed(rows, "predict", len(xs), lambda: predict(saved, xs, precision="32"), fwd * len(xs), t)
    timed(rows, "saliency", len(xs), lambda: saliency(saved, xs), fb * len(xs), t)
    same = xd.repeat_interleave(R + 1, 0)
    timed(rows, "same_passes_fwd_bwd", len(xd), lambda: passes(bound, net, same), fb * len(same), t,
          rows_run=len(same))
    hyp = timed(rows, "deeplift_shap", len(xd), lambda: deep_lift_shap(saved, xd, n_shuffles=R, hypothetical=True),
                dls_flops * len(xd), t)
    refs = dinucleotide_shuffles(xd, R, 0)
    module = bound.module(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = timed(rows, "tangermeme_deep_lift_shap", len(xd), lambda: tangermeme_dls(
            module, xd, references=refs, hypothetical=True, batch_size=args.batch_size, device="cpu",
            warning_threshold=float("inf")).numpy(), fb * 2 * R * len(xd), t, batch_size=args.batch_size,
            note="given our references; batch of batch_size pairs = 2 x batch_size rows")
        nc = args.n_captum
        capt = timed(rows, "captum_DeepLiftShap", nc, lambda: _captum_deep_lift_shap(
            TwoCopies(net, bound).eval(), xd[:nc], references=refs[:nc], hypothetical=True, device="cpu").numpy(),
            fb * 2 * R * nc, t,
            note="tangermeme's _captum_deep_lift_shap: captum DeepLiftShap, one call (20 pairs) per "
            "sequence, the reverse strand through a copy of the network")
    rows["tangermeme_deep_lift_shap"]["max_abs_diff_vs_seq2expr"] = float(np.abs(theirs - hyp).max())
    rows["captum_DeepLiftShap"]["max_abs_diff_vs_seq2expr"] = float(np.abs(capt - hyp[:nc]).max())
    ism_flops = count_flops(lambda: ism(saved, xi, center=True)) / len(xi)  # its one-off checks amortised alike
    from seq2expr.inference.device import resolve_precision

    timed(rows, "ism", len(xi), lambda: ism(saved, xi, center=True), ism_flops * len(xi), t,
          precision=resolve_precision(None, torch.device("cpu")))
    oh = xd.numpy()
    patterns = timed(rows, "tfmodisco", len(xd), lambda: run_modisco(oh, hyp), 0.0, t,
                     note="on the DeepLIFT/SHAP hypothetical contributions of the same sequences")
    rows["tfmodisco"]["patterns"] = len(patterns)
    for k in ("tangermeme_deep_lift_shap", "captum_DeepLiftShap", "deeplift_shap"):
        rows[k]["ratio_to_same_passes"] = rows[k]["s_per_1000"] / rows["same_passes_fwd_bwd"]["s_per_1000"]
        rows[k]["speedup_of_seq2expr"] = rows[k]["s_per_1000"] / rows["deeplift_shap"]["s_per_1000"]
    assert rows["tangermeme_deep_lift_shap"]["max_abs_diff_vs_seq2expr"] <= 1e-5, "differs from tangermeme"
    return {"model": args.model, "architecture": saved.config.model.name, "rc_average": bound.rc_average,
            "refs": R, "seq_len": int(x.shape[-1]), "fwd_flops_per_sequence": fwd, "fwd_bwd_flops_per_sequence": fb,
            "deeplift_shap_flops_per_sequence": dls_flops, "graph": graph, "rows": rows}


def render(res: dict) -> str:
    """The results as a markdown table."""
    r = res["run"]
    dls = r["rows"]["deeplift_shap"]
    lines = ["# Interpretation throughput: saliency, DeepLIFT/SHAP, ISM, TF-MoDISco", "",
             f"Command: `SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/interpret.py {res['argv']}`"
             .rstrip(), "", f"Machine: {res['host']['line']}.", "",
             f"Run {res['date']}; {res['threads']} CPU threads; model `{r['model']}` (`{r['architecture']}`, strands "
             f"averaged: {r['rc_average']}), DREAM test sequences of {r['seq_len']} bp, fp32; {r['refs']} "
             f"dinucleotide-shuffled references per sequence. Peak: {res['machine']['how']} = "
             f"{res['machine']['peak_flops'] / 1e9:.0f} GFLOP/s (nominal clock, turbo not counted).", "",
             f"**DeepLIFT/SHAP costs {dls['ratio_to_same_passes']:.2f}x the same passes through `predict`'s readout** "
             f"(forward + backward of N x {r['refs'] + 1} sequences, both strands); tangermeme's `deep_lift_shap` "
             f"called directly {r['rows']['tangermeme_deep_lift_shap']['ratio_to_same_passes']:.2f}x, captum "
             f"{r['rows']['captum_DeepLiftShap']['ratio_to_same_passes']:.2f}x.", "",
             "| step | sequences | seconds | s per 1,000 sequences | x same passes | speed-up of seq2expr | "
             "max abs diff vs seq2expr | GFLOP/s (fraction of peak) | peak RSS so far (MiB) | "
             "load avg before -> after |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, x in r["rows"].items():
        ratio = f"{x['ratio_to_same_passes']:.2f}x" if "ratio_to_same_passes" in x else "-"
        sp = f"{x['speedup_of_seq2expr']:.2f}x" if "speedup_of_seq2expr" in x and name != "deeplift_shap" else "-"
        diff = f"{x['max_abs_diff_vs_seq2expr']:.2g}" if "max_abs_diff_vs_seq2expr" in x else "-"
        eff = "-" if x["achieved_gflops"] != x["achieved_gflops"] else \
            f"{x['achieved_gflops']:.1f} ({x['fraction_of_peak']:.1%})"
        lines.append(f"| {name} | {x['n_sequences']} | {x['seconds']:.1f} | {x['s_per_1000']:.1f} | {ratio} | {sp} | "
                     f"{diff} | {eff} | {x['peak_rss_mb']:.0f} | {x['load_before'][0]:.1f} -> "
                     f"{x['load_after'][0]:.1f} |")
    lines += ["", "FLOPs counted with torch's FlopCounterMode on a few sequences and scaled: predict = forward of both "
              "strands; saliency and the same passes = forward + backward; "
              "seq2expr DeepLIFT/SHAP = its passes without the rules' elementwise "
              f"work, on the `{r.get('graph', '?')}` graph (`refs`: references forward and backward, each sequence "
              "forward once; `seqs`: references forward, sequences forward and backward once per reference); "
              "tangermeme and captum = forward + backward of 2 x refs rows per sequence (their `[X; refs]` batches). "
              f"TF-MoDISco found {r['rows']['tfmodisco'].get('patterns', 0)} patterns.",
              f"ISM: `ism(center=True)` (fast ISM) at its default precision `auto`, "
              f"{r['rows']['ism'].get('precision', 'bf16')} on this CPU (so its fraction is of the bf16 peak: "
              f"{bf16_peak_flops(res['threads'])['how']}). captum: {r['rows']['captum_DeepLiftShap']['note']}; "
              "its rules "
              "differ from tangermeme's, hence its difference.", ""]
    lines += [f"- {n}" for n in res.get("notes", [])]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="zoo:dream2022-cnn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-saliency", type=int, default=2000, help="sequences for predict and saliency")
    ap.add_argument("--n-dls", type=int, default=1000,
                    help="sequences for DeepLIFT/SHAP and TF-MoDISco (200 gave TF-MoDISco too few seqlets)")
    ap.add_argument("--n-captum", type=int, default=200)
    ap.add_argument("--n-ism", type=int, default=200)
    ap.add_argument("--refs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=128, help="pairs per pass for tangermeme (ours: its default)")
    ap.add_argument("--name", default="interpret")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--render", action="store_true", help="only rewrite NAME.md from NAME.json")
    args = ap.parse_args()
    from seq2expr.atomic import write_json, write_text

    out = ROOT / "bench" / "results"
    if args.render:
        write_text(out / f"{args.name}.md", render(json.loads((out / f"{args.name}.json").read_text())))
        return
    res = {"argv": " ".join(sys.argv[1:]), "threads": args.threads, "machine": machine_peak_flops(args.threads),
           "host": machine(args.threads), "notes": args.note, "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                     time.gmtime()),
           "run": run(args)}
    write_json(out / f"{args.name}.json", res)
    write_text(out / f"{args.name}.md", render(res))
    print((out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
