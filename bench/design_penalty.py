"""Design over-claiming and the disagreement penalty, judged by an oracle that shares no training sequence with the
design model.

The design model is ``zoo:dream2022-legnet`` (5 LegNet members, trained on the 9,045 public DREAM sequences). The
oracle is a ``cnn`` trained here on the private DREAM sequences, none identical (either strand) to a public one,
so the two share no training sequence. Maximise designs (simulated annealing from random 80-nt variable regions in
the DREAM construct) are made with the penalty ``disagreement:λ`` (λ x the members' standard deviation subtracted
during the search) for each λ, and each design is scored by the design ensemble, its members' spread and the
oracle: the over-claim is design score - oracle score.

    SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/design_penalty.py --lambdas 0 1 3

Writes ``bench/results/design_penalty.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, machine, peak_rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DESIGN_MODEL = "zoo:dream2022-legnet"


def oracle_rows(work: Path) -> tuple[Path, dict]:
    """The private DREAM rows minus any sequence identical (either strand) to a public one, as a table."""
    import pandas as pd

    from seq2expr.data.registry import load_split
    from seq2expr.data.sequences import reverse_complement

    public = set(load_split("dream2022:train").sequences)
    public |= {reverse_complement(s) for s in public}
    private = load_split("dream2022:test")
    keep = [i for i, s in enumerate(private.sequences) if s not in public]
    path = work / "oracle_train.tsv"
    pd.DataFrame({"id": np.asarray(private.ids)[keep], "sequence": np.asarray(private.sequences, dtype=object)[keep],
                  "expression": private.targets[keep, 0]}).to_csv(path, sep="\t", index=False)
    return path, {"private": len(private.sequences), "oracle_rows": len(keep),
                  "dropped_identical_to_public": len(private.sequences) - len(keep)}


def train_oracle(table: Path, work: Path, epochs: int, threads: int) -> Path:
    from seq2expr.config import RunConfig
    from seq2expr.training import train

    cfg = RunConfig.model_validate({
        "data": {"path": str(table), "id_column": "id", "target_columns": ["expression"], "policy": {"length": 110},
                 "target": {"standardize": True},
                 "split": {"method": "similarity", "valid_fraction": 0.05, "test_fraction": 0.05, "seed": 0}},
        "model": {"name": "cnn"},
        "train": {"epochs": epochs, "batch_size": 128, "lr": 0.003, "seed": 0, "threads": threads,
                  "schedule": "onecycle"},
        "output_dir": str(work / "oracle")})
    return train(cfg, resume=True, progress=False)


def run(args) -> dict:
    from seq2expr.design import design
    from seq2expr.inference import load_model

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    table, data = oracle_rows(work)
    t0 = time.perf_counter()
    oracle_dir = train_oracle(table, work, args.epochs, args.threads)
    oracle_seconds = time.perf_counter() - t0
    metrics = json.loads((work / "oracle" / "metrics.json").read_text())
    saved = load_model(DESIGN_MODEL)
    rows = []
    for lam in args.lambdas:
        t = time.perf_counter()
        load0 = load_average()[0]
        res = design(saved, "random", "max", method="anneal", steps=args.steps, n=args.n, oracle=str(oracle_dir),
                     seed=args.seed, penalty=("disagreement", lam) if lam else None)
        tab = res.table
        over = (tab["design_score"] - tab["oracle_score"]).to_numpy(float)
        rows.append({"lambda": lam, "n": len(tab), "seconds": time.perf_counter() - t, "load": load0,
                     "design_score": float(tab["design_score"].mean()),
                     "oracle_score": float(tab["oracle_score"].mean()),
                     "oracle_score_sd": float(tab["oracle_score"].std()), "over_claim": float(over.mean()),
                     "member_spread": float(tab["member_spread"].mean()),
                     "design_oracle_r": float(np.corrcoef(tab["design_score"], tab["oracle_score"])[0, 1]),
                     "candidates_per_second": res.summary.get("candidates_per_second"),
                     "oracle_training_overlap": res.summary.get("oracle_training_overlap")})
        print(rows[-1], flush=True)
    return {"data": data, "oracle": {"dir": str(oracle_dir), "seconds": oracle_seconds, "epochs": args.epochs,
                                     "test": metrics.get("test", {}).get("overall"),
                                     "valid": metrics.get("valid", {}).get("overall")},
            "rows": rows, "peak_rss_mb": peak_rss_mb()}


def render(res: dict, argv: str) -> str:
    o = res["oracle"]
    lines = ["# Design: over-claiming and the disagreement penalty, judged by an independent oracle", "",
             f"Command: `SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/design_penalty.py {argv}`"
             .rstrip(), "", f"Machine: {res['machine']['line']}. Run {res['date']}.", "",
             f"Design model `{DESIGN_MODEL}` (5 LegNet members, the 9,045 public DREAM sequences), all 5 members "
             "designing. Oracle: a `cnn` trained here on "
             f"{res['data']['oracle_rows']:,} private DREAM sequences ({res['data']['dropped_identical_to_public']} "
             f"identical to a public one dropped, either strand), {o['epochs']} epochs, {o['seconds']:.0f} s; its own "
             f"held-out r {o['test'].get('pearson_r', float('nan')):.3f} "
             f"(n={o['test'].get('n', '?')}). The two share no training sequence.", "",
             f"Maximise designs from random variable regions in the DREAM construct, simulated annealing, "
             f"{res['args']['steps']} steps, {res['args']['n']} designs per λ, seed {res['args']['seed']}; scores on "
             "the DREAM expression scale (standardised); over-claim = design score - oracle score, means over the "
             "designs.", "",
             "| λ | design score | oracle score (sd) | over-claim | member spread | design-oracle r | seconds | load |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['lambda']:g} | {r['design_score']:.3f} | {r['oracle_score']:.3f} "
                     f"({r['oracle_score_sd']:.3f}) | {r['over_claim']:+.3f} | {r['member_spread']:.3f} | "
                     f"{r['design_oracle_r']:.2f} | {r['seconds']:.0f} | {r['load']:.1f} |")
    base = res["rows"][0]
    for r in res["rows"][1:]:
        se = np.hypot(r["oracle_score_sd"] / np.sqrt(r["n"]), base["oracle_score_sd"] / np.sqrt(base["n"]))
        ratio = r["member_spread"] / base["member_spread"]
        lines.append(f"- λ = {r['lambda']:g} vs {base['lambda']:g}: member spread x{ratio:.2f}, "
                     f"over-claim {r['over_claim'] - base['over_claim']:+.3f}, oracle score "
                     f"{r['oracle_score'] - base['oracle_score']:+.3f} (standard error of the difference {se:.3f}).")
    lines += ["", f"Peak memory {res['peak_rss_mb']:.0f} MiB."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 1.0, 3.0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default=str(ROOT / "bench" / "work" / "design_penalty"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "design_penalty"))
    ap.add_argument("--render", action="store_true", help="only rewrite OUT.md from OUT.json")
    args = ap.parse_args()
    if args.render:
        res = json.loads(Path(args.out + ".json").read_text())
        Path(args.out + ".md").write_text(render(res, res.get("argv", "")))
        return
    res = run(args)
    res |= {"machine": machine(args.threads), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "args": {"n": args.n, "steps": args.steps, "seed": args.seed, "lambdas": args.lambdas}}
    argv = res["argv"] = " ".join(sys.argv[1:])
    Path(args.out + ".json").write_text(json.dumps(res, indent=1, default=str))
    Path(args.out + ".md").write_text(render(res, argv))
    print(Path(args.out + ".md").read_text())


if __name__ == "__main__":
    main()
