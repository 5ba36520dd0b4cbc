"""Design benchmark on DREAM 2022: designed promoters scored by the design model and by an oracle held out of it.

The default DREAM model (a 3-member LegNet cross-validation ensemble) designs with two members; the third, held
out of the search (same data and recipe: not independent), is the oracle. Designs are 80-nt variable regions
between the construct's fixed flanks.

1. ``--n`` designs each for maximise and minimise from random backgrounds (``--method``: simulated annealing for
   ``--steps`` steps by default, or greedy for ``--rounds``), their design and oracle scores, beside the oracle's
   predictions (and the measurements) of the test set's measured top (``high``) and bottom (``low``) subsets.
2. ``--native`` native yeast promoters of the test set (``yeast`` subset) improved with at most 5 edits each.
3. Speed: candidates/s, and the same job (``--peer-n`` sequences, the same rounds, same model) done by
   tangermeme's ``greedy_substitution`` in the same run: the ratio of their wall times.

    SEQ2EXPR_DATA_MIRROR=../shared/data python bench/design.py --model runs/dream2022/model

Writes ``bench/results/design.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import load_average, machine, machine_peak_flops, peak_rss_mb

from seq2expr.atomic import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _stats(x) -> dict:
    x = np.asarray(x, float)
    return {"mean": float(x.mean()), "min": float(x.min()), "median": float(np.median(x)), "max": float(x.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="runs/dream2022/model")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--method", default="anneal", help="anneal or greedy (the maximise/minimise designs)")
    ap.add_argument("--steps", type=int, default=300, help="annealing steps")
    ap.add_argument("--rounds", type=int, default=5, help="greedy rounds (natives, speed comparison)")
    ap.add_argument("--native", type=int, default=20)
    ap.add_argument("--peer-n", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "design.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from tangermeme.design import greedy_substitution

    from seq2expr.data.registry import get_entry, load_dataset
    from seq2expr.design import Constraints, design
    from seq2expr.design.algorithms.ledidi import LedidiObjective
    from seq2expr.design.designer import split_oracle
    from seq2expr.design.objective import Objective, Scorer
    from seq2expr.inference import as_onehot, load_model, predict

    res: dict = {"command": "python bench/design.py " + " ".join(sys.argv[1:]), "load_start": list(load_average()),
                 "machine": machine_peak_flops(args.threads), "host": machine(args.threads)}
    model = load_model(args.model)
    left, right = get_entry("dream2022").construct
    cons = Constraints(model.config.seq_len, left=left, right=right)
    designers, oracle, oracle_name = split_oracle([model], None)
    name = model.config.target_names[0]
    runs = {}
    for objective in ("max", "min"):
        _log(f"{objective}: {args.n} designs, {args.method}")
        r = design(model, "random", objective, cons, method=args.method, n=args.n, rounds=args.rounds,
                   steps=args.steps, seed=0, batch_size=args.batch_size)
        t = r.table
        runs[objective] = {"design": _stats(t[f"design_{name}"]), "oracle": _stats(t[f"oracle_{name}"]),
                           "start_oracle": _stats(predict(oracle, r.start)[:, 0]), "edits": _stats(t["n_edits"]),
                           "disagreements": int(t["disagree"].sum()), "summary": r.summary}
    res["designs"] = runs
    res["oracle"] = oracle_name
    ref = {}
    for sub in ("high", "low"):
        rec = load_dataset(f"dream2022:{sub}")
        private = np.asarray(rec.groups["split"]) == "test"
        seqs = [s for s, k in zip(rec.sequences, private, strict=True) if k]
        ref[sub] = {"n": len(seqs), "measured": _stats(rec.targets[private, 0]),
                    "oracle": _stats(predict(oracle, seqs)[:, 0])}
    res["reference"] = ref

    _log(f"{args.native} native yeast promoters, <= 5 edits")
    yeast = load_dataset("dream2022:yeast")
    seqs = yeast.sequences[: args.native]
    cons5 = Constraints(model.config.seq_len, left=left, right=right, max_edits=5)
    r = design(model, seqs, "max", cons5, n=len(seqs), rounds=5, seed=0, batch_size=args.batch_size)
    before_design = np.mean([predict(m, r.start)[:, 0] for m in designers], 0)
    before_oracle = predict(oracle, r.start)[:, 0]
    res["native"] = {"n": len(seqs), "design_gain": _stats(r.table[f"design_{name}"] - before_design),
                     "oracle_gain": _stats(r.table[f"oracle_{name}"] - before_oracle),
                     "edits": _stats(r.table["n_edits"]),
                     "oracle_improved": int((r.table[f"oracle_{name}"] > before_oracle).sum())}

    _log(f"speed: {args.peer_n} sequences x {args.rounds} rounds, seq2expr vs tangermeme")
    rng_starts = design(model, "random", "max", cons, n=args.peer_n, rounds=0, seed=1).start
    scorer = Scorer(designers, Objective("maximise"), batch_size=args.batch_size)
    t0 = time.perf_counter()
    ours = design(model, rng_starts, "max", cons, n=args.peer_n, rounds=args.rounds, seed=1,
                  batch_size=args.batch_size)
    ours_s = time.perf_counter() - t0
    net = LedidiObjective(scorer).eval()
    mask = torch.from_numpy(cons.editable)
    t0 = time.perf_counter()
    peer_scores = []
    for i in range(args.peer_n):
        x = as_onehot(rng_starts[i:i + 1], model)
        out = greedy_substitution(net, x, max_iter=args.rounds, input_mask=mask, batch_size=args.batch_size,
                                  device="cpu", tol=0.0)
        with torch.no_grad():
            peer_scores.append(float(net(out.float())[0, 0]))
    peer_s = time.perf_counter() - t0
    n_edit = int(cons.editable.sum())
    res["speed"] = {"sequences": args.peer_n, "rounds": args.rounds,
                    "seq2expr_seconds": ours_s, "peer_seconds": peer_s, "ratio": peer_s / ours_s,
                    "seq2expr_candidates": ours.summary["candidates"],
                    "peer_candidates": args.peer_n * args.rounds * 4 * n_edit,
                    "seq2expr_candidates_per_second": ours.summary["candidates"] / ours_s,
                    "peer_candidates_per_second": args.peer_n * args.rounds * 4 * n_edit / peer_s,
                    "design_models": len(designers)}
    res["peak_rss_mb"] = peak_rss_mb()
    res["load_end"] = list(load_average())
    write_json(Path(args.out).with_suffix(".json"), res)
    write_report(res, Path(args.out), name)
    _log(f"wrote {args.out}")


def write_report(res: dict, out: Path, name: str) -> None:
    d, ref, nat, sp = res["designs"], res["reference"], res["native"], res["speed"]
    mx = d["max"]
    lines = [
        "# Sequence design on DREAM 2022", "", f"Command: `{res['command']}`", "",
        f"Machine: {res['host']['line'] if 'host' in res else 'not recorded'}.", "",
        f"Peak: {res['machine']['how']}; load average {res['load_start'][0]:.2f} at start, "
        f"{res['load_end'][0]:.2f} at the end; peak RSS {res['peak_rss_mb']:.0f} MiB.", "",
        f"Design model: the default DREAM ensemble's first two members (mean); oracle: {res['oracle']}. Designs are "
        f"80-nt variable regions between the construct's fixed flanks; `{name}` on the test set's measured scale.",
        "", f"## {mx['summary']['n']} designs each from random backgrounds ({mx['summary']['method']}, up to "
        f"{mx['edits']['max']:.0f} edits)", "",
        "| | design model mean (min-max) | oracle mean (min-max) | oracle on the random starts | "
        "flagged (models disagree) | mean pairwise Hamming |", "|---|---|---|---|---|---|"]
    for key, label in (("max", "maximise"), ("min", "minimise")):
        r = d[key]
        lines.append(f"| {label} | {r['design']['mean']:.2f} ({r['design']['min']:.2f}-{r['design']['max']:.2f}) | "
                     f"{r['oracle']['mean']:.2f} ({r['oracle']['min']:.2f}-{r['oracle']['max']:.2f}) | "
                     f"{r['start_oracle']['mean']:.2f} | {r['disagreements']} | "
                     f"{r['summary']['diversity']['mean_hamming']:.1f} |")
    lines += ["", "Reference: the measured top and bottom of the DREAM test set (private rows):", "",
              "| subset | n | measured mean | oracle's prediction mean (min-max) |", "|---|---|---|---|"]
    for sub in ("high", "low"):
        r = ref[sub]
        lines.append(f"| {sub} | {r['n']} | {r['measured']['mean']:.2f} | {r['oracle']['mean']:.2f} "
                     f"({r['oracle']['min']:.2f}-{r['oracle']['max']:.2f}) |")
    lines += ["", f"## {nat['n']} native yeast promoters improved with <= 5 edits", "",
              f"Mean gain: design model {nat['design_gain']['mean']:+.2f}, oracle {nat['oracle_gain']['mean']:+.2f} "
              f"(oracle min {nat['oracle_gain']['min']:+.2f}, max {nat['oracle_gain']['max']:+.2f}); the oracle "
              f"predicts an improvement for {nat['oracle_improved']} of {nat['n']}; mean edits "
              f"{nat['edits']['mean']:.1f}.", "",
              "## Speed", "",
              f"The same job ({sp['sequences']} sequences x {sp['rounds']} rounds of greedy substitution over the 80 "
              f"editable positions, the same {sp['design_models']}-model mean with strand averaging) in the same run: "
              f"seq2expr {sp['seq2expr_seconds']:.1f} s ({sp['seq2expr_candidates_per_second']:,.0f} candidates/s), "
              f"tangermeme `greedy_substitution` {sp['peer_seconds']:.1f} s "
              f"({sp['peer_candidates_per_second']:,.0f} candidates/s, it also scores the 80 unchanged bases): "
              f"**{sp['ratio']:.2f}x**. Whole runs: maximise "
              f"{mx['summary']['candidates']:,} candidates at {mx['summary']['candidates_per_second']:,.0f}/s."]
    write_text(out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
