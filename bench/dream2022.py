"""DREAM 2022 small-data benchmark: train on the 9,045 public sequences, score on the 62,058 private ones.

Run by hand (each model trains in its own subprocess, so peak memory is per model):

    SEQ2EXPR_DATA_MIRROR=../shared/data seq2expr train dream2022     # the default model
    SEQ2EXPR_DATA_MIRROR=../shared/data python bench/dream2022.py --threads 2 --epochs 20 \\
        --reuse legnet=runs/dream2022

Per zoo model (legnet, cnn, rescnn mini, hybrid), all with the dream2022 config's data, split and optimiser
settings: private-set r^2 and Spearman rho, the DREAM challenge scores (weighted; SNV pairs = the public
pairs plus every other one-substitution pair, see seq2expr.data.datasets.dream2022), per-subset r^2, training
time, parameters, training and inference sequences/second, peak memory, achieved FLOP/s as a fraction of
the machine's peak, and a peer ratio: our Lightning training loop versus a plain PyTorch loop on the same
model, data and batch size (sequences/second). Beside them: the published Camformer and Camformer-Mini
predictions on the same private sequences, the published private leaderboard (trained on 6.7M sequences),
and transfer to Vaishnav et al. 2022 Native/Random complex-medium sets (sequences in training dropped).

``--reuse legnet=runs/dream2022`` takes the model trained by ``seq2expr train dream2022`` (its
test predictions, fit log and per-member training times) instead of retraining; the other models train one
member on the config's validation fold for ``--epochs`` epochs (a budget in steps, so every machine trains the
same model; the earlier ``--minutes`` budget chose epochs from a measured step time).
Models too slow to predict all private sequences within ``--eval-seconds`` are scored on a seeded random
sample of them (stated in the results).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import MIRROR, REPO, efficiency, load_average, machine, machine_peak_flops, model_flops, peak_rss_mb

sys.path.insert(0, str(REPO))
os.environ.setdefault("SEQ2EXPR_DATA_MIRROR", str(MIRROR))

RESULTS = REPO / "bench" / "results"
# sizes of the models that are not the config's own (the config's model keeps its params)
ZOO_PARAMS: dict[str, dict] = {
    "legnet": {},
    "cnn": {"channels": [128, 128, 128, 128], "kernel_sizes": [15, 9, 9, 9], "pool_sizes": [2, 2, 2, 1],
            "convs_per_block": 1, "dropout": 0.0, "hidden": [], "head_dropout": 0.2},
    "rescnn": {"size": "mini"},
    "hybrid": {},
}
VAISHNAV = ("native_complex", "random_complex")
SUBSET_ORDER = ("all", "high", "low", "yeast", "random", "challenging", "snv", "motif_perturbation", "motif_tiling")


def _config(name: str, base: Path, out: Path, threads: int):
    from seq2expr.config import load_config

    cfg = load_config(base)
    if name != cfg.model.name:
        cfg.model.name, cfg.model.params = name, dict(ZOO_PARAMS[name])
    cfg.train.ensemble_seeds = cfg.train.ensemble_folds = None
    cfg.train.threads = threads
    cfg.output_dir = str(out)
    return cfg


def plain_loop_rate(cfg, bundle, steps: int) -> float:
    """Training sequences/second of a straightforward PyTorch loop (AdamW, MSE, RC augmentation) on a fresh model."""
    from seq2expr.data.sequences import one_hot, reverse_complement_onehot
    from seq2expr.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(cfg.model.name, seq_len=bundle.seq_len, n_targets=1, **cfg.model.params).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    idx = np.asarray(bundle.splits["train"])
    rng = np.random.default_rng(0)
    bs = cfg.train.batch_size
    t0, seen = 0.0, 0
    for step in range(steps + 2):  # two warm-up steps
        if step == 2:
            t0, seen = time.perf_counter(), 0
        b = np.sort(rng.choice(idx, bs, replace=False))
        x = one_hot(np.asarray(bundle.codes[b]))
        flip = torch.from_numpy(rng.random(bs) < 0.5)
        x[flip] = reverse_complement_onehot(x[flip])
        y = torch.from_numpy(np.asarray(bundle.targets[b], dtype=np.float32))
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += bs
    return seen / (time.perf_counter() - t0)


def _predict_timed(model, codes, rows: np.ndarray, rc: bool, seconds: float | None, seed: int = 0):
    """Predictions for ``rows`` (in a seeded random order, stopping after ``seconds``): (rows done, preds, s)."""
    from seq2expr.inference import predict

    order = rows if seconds is None else np.random.default_rng(seed).permutation(rows)
    done, preds, t0 = [], [], time.perf_counter()
    chunk = 2048 if seconds is None else 512  # small chunks keep a time-limited run close to its budget
    for s in range(0, len(order), chunk):
        r = np.sort(order[s:s + chunk])
        preds.append(predict(model, np.asarray(codes[r]), batch_size=512, rc_average=rc)[:, 0])
        done.append(r)
        if seconds is not None and time.perf_counter() - t0 > seconds:
            break
    return np.concatenate(done), np.concatenate(preds), time.perf_counter() - t0


def _fit_log(run_dir: Path) -> dict:
    """Epochs and best validation r from a run's metrics.json (one model or a seeds ensemble)."""
    m = json.loads((run_dir / "metrics.json").read_text())
    fits = m.get("fit", [])
    return {"epochs": [f.get("epochs_trained") for f in fits], "best_val_pearson": [f.get("best_score") for f in fits],
            "train_seconds": [f.get("train_seconds") for f in fits], "ensemble_size": len(fits),
            "valid_out_of_fold": m.get("valid", {}).get("overall"), "leakage": m.get("leakage")}


def _read_predictions(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(run_dir / "predictions_test.tsv") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return np.array([int(r["id"]) for r in rows]), np.array([float(r["prediction"]) for r in rows])


def vaishnav_transfer(model, policy_len: int, rc: bool, train_seqs: set[str], seconds: float | None) -> dict:
    """r^2 / rho on Vaishnav complex-medium sets, sequences in training dropped; paper transformer beside."""
    from scipy.stats import pearsonr, spearmanr

    from seq2expr.data.registry import load_dataset
    from seq2expr.data.sequences import SequencePolicy, encode

    out = {}
    for sub in VAISHNAV:
        rec = load_dataset(f"vaishnav2022:{sub}")
        keep = np.array([s not in train_seqs for s in rec.sequences])
        codes = encode([s for s, k in zip(rec.sequences, keep, strict=True) if k], SequencePolicy(length=policy_len))
        y = rec.targets[keep, 0]
        paper = np.asarray(rec.groups["paper_prediction"])[keep]
        rows, pred, secs = _predict_timed(model, codes, np.arange(len(y)), rc, seconds, seed=1)
        r = float(pearsonr(pred, y[rows])[0])
        rp = float(pearsonr(paper[rows], y[rows])[0])
        out[sub] = {"n": int(len(rows)), "n_total": int(len(rec)), "dropped_in_training": int((~keep).sum()),
                    "pearson_r2": r * r, "spearman": float(spearmanr(pred, y[rows])[0]),
                    "paper_transformer_r2": rp * rp, "paper_transformer_spearman": float(spearmanr(paper[rows],
                                                                                                 y[rows])[0]),
                    "seconds": secs}
    return out


def _log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_one(args) -> dict:
    """Train (or reuse) one model, then measure and score it; returns the result row."""
    from seq2expr.data.datasets.dream2022 import score_ids
    from seq2expr.data.prepare import prepare_data
    from seq2expr.data.registry import load_dataset
    from seq2expr.inference import load_model

    name = args.one
    work = Path(args.workdir) / name
    cfg = _config(name, Path(args.config), work, args.threads)
    torch.set_num_threads(args.threads)
    bundle = prepare_data(cfg.data, cfg.train.task)
    n_train = len(bundle.splits["train"])
    row: dict = {"model": name, "params_config": cfg.model.params, "threads": args.threads,
                 "load_start": load_average()}
    _log(f"{name}: data ready ({n_train} train rows)")
    peer = plain_loop_rate(cfg, bundle, args.peer_steps)
    _log(f"{name}: plain loop {peer:.0f} seq/s")
    reuse = dict(r.split("=", 1) for r in args.reuse).get(name)
    if reuse:
        run_dir = Path(reuse)
        saved = load_model(run_dir / "model")
        model, rc = saved.model, saved.config.rc_average
        fit = _fit_log(run_dir)
        secs = [x for x in fit["train_seconds"] if x is not None]
        train_s = sum(secs) if len(secs) == len(fit["epochs"]) else args.reuse_train_seconds
        epochs_total = sum(e or 0 for e in fit["epochs"])
        row.update(source=f"reused {run_dir} (seq2expr train {args.config})", fit=fit,
                   params_config=saved.config.model.params)
    else:
        cfg.train.epochs = args.epochs  # a budget in epochs: the same steps on any machine (never in minutes)
        from seq2expr.training import fit_member

        t0 = time.perf_counter()
        model, info = fit_member(cfg, bundle, cfg.train.seed, work, resume=False, progress=False)
        train_s = time.perf_counter() - t0
        rc = cfg.train.rc_average
        epochs_total = int(info["epochs_trained"])
        row.update(source=f"trained here, {cfg.train.epochs} epochs",
                   fit={"epochs": [epochs_total], "best_val_pearson": [info.get("best_score")], "ensemble_size": 1})
    _log(f"{name}: trained in {train_s:.0f}s")
    model.eval()
    members = len(model.members) if hasattr(model, "members") else 1
    single = model.members[0] if members > 1 else model
    n_params = sum(p.numel() for p in single.parameters())
    x = torch.zeros(cfg.train.batch_size, 4, bundle.seq_len)
    single.train()
    train_flops_seq = model_flops(single, x, backward=True) / len(x)
    single.eval()
    fwd_flops_seq = model_flops(single, x[:64]) / 64
    lightning_rate = epochs_total * n_train / train_s if train_s else float("nan")
    row.update(n_params=n_params, ensemble_members=members, train_seconds=train_s, epochs_trained=epochs_total,
               train_seq_per_s=lightning_rate, plain_loop_seq_per_s=peer,
               peer_ratio_lightning_over_plain=lightning_rate / peer,
               train_efficiency=efficiency(train_flops_seq * lightning_rate, 1.0, args.threads),
               train_gflop_per_seq=train_flops_seq / 1e9, load_after_train=load_average())

    test = np.asarray(bundle.splits["test"])
    if reuse:  # the training run already predicted every private sequence; time inference on a sample
        ids, pred = _read_predictions(run_dir)
        _, _, secs = _predict_timed(model, bundle.codes, test[:4096], rc, None)
        n_inf = min(4096, len(test))
    else:
        rows, pred_m, secs = _predict_timed(model, bundle.codes, test, rc, args.eval_seconds)
        pred = bundle.transform.inverse(pred_m[:, None])[:, 0]
        ids = np.asarray(bundle.ids)[rows].astype(np.int64)
        n_inf = len(rows)
    infer_rate = n_inf / secs
    n_fwd = (2 if rc else 1) * members
    row.update(inference_seq_per_s=infer_rate, inference_rc_average=rc,
               inference_efficiency=efficiency(fwd_flops_seq * n_fwd * infer_rate, 1.0, args.threads),
               n_private_scored=int(len(ids)), n_private=int(len(test)))
    _log(f"{name}: {n_inf} private sequences predicted in {secs:.0f}s")
    scores = score_ids(ids, pred)
    row.update(private=scores["subsets"]["all"], score_pearson=scores["score_pearson"],
               score_spearman=scores["score_spearman"],
               subsets={k: v for k, v in scores["subsets"].items()}, weights_used=scores["weights_used"])
    train_seqs = set(load_dataset("dream2022:train").sequences)
    row["vaishnav"] = vaishnav_transfer(model, bundle.seq_len, rc, train_seqs, None if reuse else args.eval_seconds / 2)
    row.update(peak_rss_mb=peak_rss_mb(), load_end=load_average())
    return row


def published_rows() -> dict:
    """Camformer / Camformer-Mini predictions on the private set and the published private leaderboard."""
    from seq2expr.data.datasets.dream2022 import score_ids
    from seq2expr.data.registry import load_dataset

    test = load_dataset("dream2022:test")
    out = {}
    for col in ("camformer", "camformer_mini"):
        s = score_ids(test.ids, np.asarray(test.groups[col]))
        out[col] = {"private": s["subsets"]["all"], "score_pearson": s["score_pearson"],
                    "score_spearman": s["score_spearman"], "subsets": s["subsets"]}
    board: dict = {}
    with open(MIRROR / "dream2022" / "private_leaderboard_sota.csv") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    header = rows[0][2:]
    for r in rows[1:]:  # metric, team, values (rows named 'pearson' hold r^2)
        board.setdefault(r[0], {})[r[1]] = dict(zip(header, map(float, r[2:]), strict=True))
    out["leaderboard"] = board
    return out


def _load(v) -> str:
    return "/".join(f"{x:.1f}" for x in v)


def _f(v, d=3) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{d}f}"


def write_report(rows: list[dict], pub: dict, meta: dict) -> None:
    from seq2expr.atomic import write_json, write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "dream2022.json", {"meta": meta, "models": rows, "published": pub})
    L = ["# DREAM 2022 small-data track: 9,045 public sequences -> 62,058 private sequences", "",
         f"Machine: {meta['host']['line'] if 'host' in meta else 'not recorded'}.", "",
         f"Run {meta['date']} on {meta['machine']['how']} (nominal peak {meta['machine']['peak_flops'] / 1e9:.0f} "
         f"GFLOP/s for the {meta['machine']['cores']} threads used). Load average (1/5/15 min) at start "
         f"{_load(meta['load_start'])}, end {_load(meta['load_end'])}.", "",
         f"Command: `{meta['command']}`", "",
         "Models train with the dream2022 config's data (similarity clusters of the public sequences dealt "
         "into 10 folds), target standardisation, AdamW + one-cycle, RC augmentation and RC test-time "
         f"averaging, {meta['machine']['cores']} torch threads. Rows marked 'ensemble' are the full "
         "`seq2expr train dream2022` run (a cross-validation ensemble, one member per listed "
         "fold; train s is the sum over members); the other models train one member (validated on fold 0) "
         + (f"for {meta['epochs']} epochs. " if "epochs" in meta else
            f"with a {meta.get('minutes')} min budget (epochs chosen from a measured step time). ") +
         "r^2 = squared Pearson r on the private sequences; score = DREAM challenge weighting of per-subset "
         "r^2 (Spearman: of rho). SNV pairs: the published public SNV pairs plus every other one-substitution "
         "pair among the test sequences (the private SNV list was never published); pairs are kept when at "
         "least one member is private.", "",
         "| model | params | private r^2 | rho | score r^2 | score rho | epochs | train s | train seq/s | "
         "infer seq/s | peak MB | train FLOP/s % peak | peer ratio (Lightning / plain loop) | private scored |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ens = f" (ensemble of {r['ensemble_members']})" if r["ensemble_members"] > 1 else ""
        L.append(f"| {r['model']}{ens} | "
                 f"{r['n_params']:,} | {_f(r['private']['pearson_r2'])} | {_f(r['private']['spearman'])} | "
                 f"{_f(r['score_pearson'])} | {_f(r['score_spearman'])} | {r['epochs_trained']} | "
                 f"{r['train_seconds']:.0f} | {r['train_seq_per_s']:.0f} | {r['inference_seq_per_s']:.0f} | "
                 f"{r['peak_rss_mb']:.0f} | {100 * r['train_efficiency']['fraction_of_peak']:.2f} | "
                 f"{r['peer_ratio_lightning_over_plain']:.2f} | {r['n_private_scored']:,}/{r['n_private']:,} |")
    for k, label in (("camformer", "Camformer (published, 6.7M train)"),
                     ("camformer_mini", "Camformer-Mini (published, 6.7M train)")):
        p = pub[k]
        L.append(f"| {label} | - | {_f(p['private']['pearson_r2'])} | {_f(p['private']['spearman'])} | "
                 f"{_f(p['score_pearson'])} | {_f(p['score_spearman'])} | - | - | - | - | - | - | - | all |")
    board = pub["leaderboard"]
    for team, m in board.get("pearson", {}).items():
        rho = board.get("spearman", {}).get(team, {})
        L.append(f"| leaderboard: {team} (6.7M train, official private scores) | - | {_f(m.get('all'))} | "
                 f"{_f(rho.get('all'))} | {_f(m.get('score'))} | {_f(rho.get('score'))} | - | - | - | - | - | - | - "
                 "| all |")
    L += ["", "## Per-subset r^2 (private; pair subsets score alt - ref differences)", "",
          "| model | " + " | ".join(SUBSET_ORDER) + " |", "|---" * (len(SUBSET_ORDER) + 1) + "|"]
    for r in rows:
        L.append(f"| {r['model']} | " + " | ".join(_f(r['subsets'].get(s, {}).get('pearson_r2')) for s in SUBSET_ORDER)
                 + " |")
    for k in ("camformer", "camformer_mini"):
        L.append(f"| {k} (published) | " + " | ".join(_f(pub[k]['subsets'].get(s, {}).get('pearson_r2'))
                                                      for s in SUBSET_ORDER) + " |")
    keys = {"SNVs": "snv"}
    for team, m in pub["leaderboard"].get("pearson", {}).items():
        vals = {keys.get(k, k): v for k, v in m.items()}
        L.append(f"| leaderboard {team} (6.7M train) | " + " | ".join(_f(vals.get(s)) for s in SUBSET_ORDER) + " |")
    L += ["", "Subset sizes (private, our SNV reconstruction): " + ", ".join(
        f"{s} {rows[0]['subsets'][s]['n']:,}" for s in SUBSET_ORDER if rows and s in rows[0]['subsets']), "",
        "## Transfer to Vaishnav et al. 2022 (complex medium; sequences in the training set dropped)", "",
        "| model | set | n scored / kept | dropped | r^2 | rho | paper transformer r^2 (same rows) | rho |",
        "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for sub, v in r["vaishnav"].items():
            L.append(f"| {r['model']} | {sub} | {v['n']:,}/{v['n_total'] - v['dropped_in_training']:,} | "
                     f"{v['dropped_in_training']} | {_f(v['pearson_r2'])} | {_f(v['spearman'])} | "
                     f"{_f(v['paper_transformer_r2'])} | {_f(v['paper_transformer_spearman'])} |")
    L += ["", "The paper transformer was trained on ~20M Vaishnav sequences in the same medium; ours on 9,045 "
          "DREAM public sequences (a different library and scale), so only correlations are comparable.", "",
          "## Notes", ""] + [f"- {n}" for n in meta["notes"]]
    write_text(RESULTS / "dream2022.md", "\n".join(L) + "\n")


def _without_notes(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--note":
            skip = True
        elif not a.startswith("--note="):
            out.append(a)
    return out + (["--note ..."] if len(out) < len(argv) else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="legnet,cnn,rescnn,hybrid")
    ap.add_argument("--epochs", type=int, default=20, help="epochs of each model trained here (not reused)")
    ap.add_argument("--config", default=str(REPO / "configs" / "dream2022.yaml"))
    ap.add_argument("--reuse", action="append", default=[], help="MODEL=RUN_DIR of a finished seq2expr train run")
    ap.add_argument("--reuse-train-seconds", type=float, default=float("nan"),
                    help="wall time of the reused training run (measured around seq2expr train)")
    ap.add_argument("--eval-seconds", type=float, default=180.0,
                    help="inference budget on the private set for models trained here (seeded sample beyond it)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peer-steps", type=int, default=20)
    ap.add_argument("--workdir", default=str(REPO / "bench" / "work" / "dream2022"))
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--keep", action="store_true", help="reuse per-model results already in --workdir")
    ap.add_argument("--render", action="store_true",
                    help="rewrite dream2022.md from dream2022.json (published rows recomputed; --note adds notes)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.render:
        saved = json.loads((RESULTS / "dream2022.json").read_text())
        saved["meta"]["notes"] += list(args.note)
        write_report(saved["models"], published_rows(), saved["meta"])
        return
    if args.one:
        row = run_one(args)
        Path(args.out).write_text(json.dumps(row, default=float))
        return
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_start": load_average(),
            "machine": machine_peak_flops(args.threads), "host": machine(args.threads), "epochs": args.epochs,
            "command": " ".join(["python", "bench/dream2022.py", *_without_notes(sys.argv[1:])]),
            "notes": list(args.note)}
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.models.split(","):
        out = Path(args.workdir) / f"{name}.json"
        cmd = [sys.executable, __file__, "--one", name, "--out", str(out)]
        for a in ("epochs", "config", "reuse_train_seconds", "eval_seconds", "threads", "peer_steps", "workdir"):
            cmd += [f"--{a.replace('_', '-')}", str(getattr(args, a))]
        for r in args.reuse:
            cmd += ["--reuse", r]
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        if not (args.keep and out.is_file()):
            subprocess.run(cmd, check=True)
        rows.append(json.loads(out.read_text()))
        r = rows[-1]
        print(f"  {name}: private r2 {r['private']['pearson_r2']:.4f} score {r['score_pearson']:.4f} "
              f"({r['n_private_scored']} scored) train {r['train_seconds']:.0f}s", flush=True)
    meta["load_end"] = load_average()
    write_report(rows, published_rows(), meta)
    print(f"wrote {RESULTS / 'dream2022.md'}")


if __name__ == "__main__":
    main()
