"""Fine-tuning's data-efficiency curve on real data: the zoo's DREAM model (yeast reporter, complex medium) fine-tuned
to the same reporter in defined medium (SC-Ura; Vaishnav et al. 2022), against training from scratch.

Parent: ``zoo:dream2022-legnet`` (5 LegNet members trained by seq2expr on the 9,045 public DREAM 2022 sequences,
complex medium, standardised MAUDE scale). Each fine-tune starts from its member 0 (``train.init_members: 0``) and
trains one model, as each scratch run does.
Child task: every defined-medium sequence of ``vaishnav2022`` (Native, Random, Drift, SSWM; 0-17 expression bins),
one row per distinct sequence (the mean of repeats). Test: 30% of them by similarity clusters (near-identical
sequences, e.g. one Drift trajectory, stay on one side; ``seq2expr.data.splits``), minus every sequence in a
similarity cluster with any of the parent's training sequences (the DREAM test set, whose public part trained the
parent, shares many sequences with these sets; SSWM's all go); training subsets of N = 250 ... 4,000 drawn from
the rest (nested: seed s's N rows are the first N of one permutation), each run carving its own 10% validation by
similarity.
Arms, one run per seed (``--seeds``, default 3; the seed draws the subset and the training seed):

* ``parent``: the parent as it is (the ensemble, and member 0), no training;
* ``scratch-legnet``: the parent's architecture from random weights;
* ``scratch-cnn``: the default ``cnn`` from random weights;
* ``finetune``: every weight from member 0, the head kept (``train.head: auto``);
* ``finetune-frozen``: the same with the trunk frozen for the first quarter of the epochs, then unfrozen.

The target transform: ``auto`` refits the parent's standardisation on each subset (the 0-17 bins are other units
than DREAM's scale; the log says so). Budget, the same for every arm: epochs = max(12, ceil(300 / steps per epoch))
(every run at least 300 optimiser steps of 64), one-cycle schedule, shifts of up to 3 bases, both strands averaged,
the last epoch's weights (no early stopping). Learning rates are chosen on validation r at N = 1,000, seed 0
(``--select``; the runs are in the results), never on the test set.
Reported: mean test Pearson r and r^2 over the seeds with a 95% bootstrap CI (test rows resampled, the same rows for
every seed), wall time per arm, training and prediction sequences/s, FLOP/s as a fraction of the CPU's peak, peak
memory. Every run is ``seq2expr.training.train`` in its own process with one torch thread, two at a time (an OpenMP
team of two threads slows many-fold when other processes share the cores); a finished run is read back, not repeated.

    SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/transfer.py --threads 1 --jobs 2

Writes ``bench/results/transfer.md``, ``.json`` and ``transfer.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import (
    MIRROR,
    bf16_peak_flops,
    efficiency,
    load_average,
    machine,
    model_flops,
    peak_rss_mb,
    train_timer,
)

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "transfer"
PARENT = "zoo:dream2022-legnet"
SIZES = (250, 500, 1000, 2000, 4000)
MIN_STEPS, MIN_EPOCHS, BATCH = 300, 12, 64
ARMS = ("scratch-legnet", "scratch-cnn", "finetune", "finetune-frozen")
LR_GRID = {"scratch": (1e-3, 3e-3, 1e-2), "finetune": (3e-4, 1e-3, 3e-3)}


# ------------------------------------------------------------------------------------------------------------ data
def prepare(work: Path) -> dict:
    """The test table and the training pool (cached in ``work``); returns their sizes and the overlap checks."""
    summary_path = work / "data.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    import pandas as pd

    from seq2expr.config import SequencePolicy, SplitConfig
    from seq2expr.data.registry import load_dataset, load_split
    from seq2expr.data.sequences import encode
    from seq2expr.data.similarity import leakage_report, similarity_clusters
    from seq2expr.data.splits import make_splits

    rec = load_dataset("vaishnav2022")
    defined = rec.groups["medium"] == "defined"
    df = pd.DataFrame({"sequence": np.asarray(rec.sequences, dtype=object)[defined],
                       "expression": rec.targets[defined, 0], "set": rec.groups["set"][defined]})
    repeats = int(df.duplicated("sequence").sum())
    df = df.groupby("sequence", sort=False).agg(expression=("expression", "mean"), set=("set", "first")).reset_index()
    df.insert(0, "id", [f"defined_{i}" for i in range(len(df))])
    policy = SequencePolicy(length=110)
    codes = encode(df["sequence"].tolist(), policy)
    splits = make_splits(SplitConfig(method="similarity", valid_fraction=0.0, test_fraction=0.3, seed=0), codes,
                         df["id"].to_numpy(), {})
    parent_seqs = sorted(set(load_split("dream2022:train").sequences))
    in_parent = df["sequence"].isin(set(parent_seqs)).to_numpy()
    parent_codes = encode(parent_seqs, policy)
    # a test sequence in a similarity cluster (the split's own rule) with any of the parent's training sequences goes
    both = similarity_clusters(np.concatenate([parent_codes, codes]))
    near_parent = np.isin(both[len(parent_codes):], both[:len(parent_codes)])
    test = np.setdiff1d(splits["test"], np.flatnonzero(near_parent))
    pool = np.asarray(splits["train"])
    near = leakage_report(np.concatenate([parent_codes, codes[test]]),
                          {"train": np.arange(len(parent_codes)),
                           "test": len(parent_codes) + np.arange(len(test))})["pairs"]
    work.mkdir(parents=True, exist_ok=True)
    df.iloc[test].to_csv(work / "test.tsv", sep="\t", index=False)
    df.iloc[pool].to_csv(work / "pool.tsv", sep="\t", index=False)
    summary = {"defined_rows": int(defined.sum()), "repeated_sequences_averaged": repeats, "sequences": len(df),
               "test": len(test), "pool": len(pool),
               "test_dropped_in_parent_training": int(in_parent[splits["test"]].sum()),
               "test_dropped_near_parent_training": int(near_parent[splits["test"]].sum()),
               "pool_in_parent_training": int(in_parent[pool].sum()),
               "test_near_identical_to_parent_training": {k: v["near"] for k, v in near.items()},
               "test_sets": df.iloc[test]["set"].value_counts().to_dict()}
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary


def subset(work: Path, n: int, seed: int) -> Path:
    """The first ``n`` rows of seed ``seed``'s permutation of the pool (nested subsets)."""
    import pandas as pd

    path = work / "subsets" / f"train_{n}_s{seed}.tsv"
    if not path.is_file():
        pool = pd.read_csv(work / "pool.tsv", sep="\t")
        order = np.random.default_rng(1000 + seed).permutation(len(pool))
        path.parent.mkdir(parents=True, exist_ok=True)
        pool.iloc[order[:n]].to_csv(path, sep="\t", index=False)
    return path


def epochs_for(n: int) -> int:
    steps = math.ceil(0.9 * n / BATCH)  # 10% of the rows validate
    return max(MIN_EPOCHS, math.ceil(MIN_STEPS / steps))


def run_config(arm: str, n: int, seed: int, lr: float, work: Path, threads: int, tag: str) -> dict:
    from seq2expr.inference import read_config

    epochs = epochs_for(n)
    train = {"epochs": epochs, "batch_size": BATCH, "lr": lr, "seed": seed, "threads": threads, "keep": "last",
             "early_stopping_patience": None, "shift_augment": 3, "schedule": "onecycle"}
    cfg: dict = {"data": {"path": str(subset(work, n, seed)), "test_path": str(work / "test.tsv"),
                          "id_column": "id", "target_columns": ["expression"], "group_columns": ["set"],
                          "split": {"method": "similarity", "valid_fraction": 0.1, "seed": seed}},
                 "output_dir": str(work / "runs" / tag)}
    if arm == "scratch-legnet":
        spec = read_config(PARENT)
        cfg["model"] = {"name": spec.model.name, "params": spec.model.params}
        cfg["data"]["policy"] = spec.policy.model_dump()
        cfg["data"]["target"] = {"standardize": True}
    elif arm == "scratch-cnn":
        cfg["model"] = {"name": "cnn"}
        cfg["data"]["policy"] = {"length": 110}
        cfg["data"]["target"] = {"standardize": True}
    else:
        train |= {"init": PARENT, "init_members": 0}
        if arm == "finetune-frozen":
            train |= {"freeze": "trunk", "unfreeze_after_epochs": max(1, epochs // 4)}
    cfg["train"] = train
    return cfg


# ------------------------------------------------------------------------------------------------------- one run
def run_one(spec: dict) -> dict:
    """Train one model through ``train(cfg)`` and measure it; runs in a child process."""
    import torch

    from seq2expr.config import RunConfig
    from seq2expr.inference import load_model, predict
    from seq2expr.training import train

    cfg = RunConfig.model_validate(spec["cfg"])
    torch.set_num_threads(cfg.train.threads or 2)
    load_before = list(load_average())
    timer = train_timer()
    t0 = time.perf_counter()
    model_dir = train(cfg, resume=True, progress=False, callbacks=[timer])
    total = time.perf_counter() - t0
    out = Path(cfg.output_dir)
    metrics = json.loads((out / "metrics.json").read_text())
    saved = load_model(model_dir)
    import pandas as pd

    test = pd.read_csv(Path(cfg.data.test_path), sep="\t")
    x = test["sequence"].tolist()
    predict(saved, x[:64], precision="32")  # warm-up
    t = time.perf_counter()
    predict(saved, x, precision="32")
    infer_s = time.perf_counter() - t
    x1 = torch.zeros(8, 4, saved.config.seq_len)
    f_infer = model_flops(saved.model, x1) / 8
    net = saved.model.train()
    f_train = model_flops(net, x1, backward=True) / 8
    threads = cfg.train.threads or 2
    strands = 2 if saved.config.rc_average else 1
    return {"tag": spec["tag"], "arm": spec["arm"], "n": spec["n"], "seed": spec["seed"], "lr": spec["lr"],
            "epochs": cfg.train.epochs, "steps": metrics["fit"][0].get("steps"),
            "precision": metrics["fit"][0].get("precision"),
            "valid": metrics.get("valid", {}).get("overall"), "test": metrics.get("test", {}).get("overall"),
            "lineage": metrics.get("model_lineage"), "total_seconds": round(total, 1),
            "train_seconds": round(timer.seconds, 1), "train_seqs_per_s": timer.seqs / max(timer.seconds, 1e-9),
            "infer_seqs_per_s": len(x) / infer_s,
            "train_efficiency": efficiency(f_train * timer.seqs, timer.seconds, threads),
            "infer_efficiency": efficiency(strands * f_infer * len(x), infer_s, threads),
            "params": int(sum(p.numel() for p in saved.model.parameters())), "peak_rss_mb": peak_rss_mb(),
            "load_before": load_before, "load_after": list(load_average()),
            "predictions": str(out / "predictions_test.tsv")}


def plain_loop(spec: dict) -> dict:
    """The peer: the same fine-tune written as a plain PyTorch loop (member 0's weights, the run's own training rows,
    standardised targets, AdamW + one-cycle, gradient clipping, random reverse complements; no shifts), timed the
    same way: training batches only. Runs in a child process; returns test r and training sequences/s."""
    import pandas as pd
    import torch

    from seq2expr.config import RunConfig
    from seq2expr.data.sequences import encode, one_hot
    from seq2expr.inference import load_model
    from seq2expr.training.transfer import adapt, resolve_parent

    cfg, parent = resolve_parent(RunConfig.model_validate(spec["cfg"]))
    torch.set_num_threads(1)
    from seq2expr.data.prepare import prepare_data

    cfg, bundle, _ = adapt(cfg, prepare_data(cfg.data), parent)
    rows = np.asarray(bundle.splits["train"])
    x = one_hot(np.asarray(bundle.codes[rows]))
    y = torch.from_numpy(np.asarray(bundle.targets[rows], dtype=np.float32))
    torch.manual_seed(spec["seed"])
    net = load_model(PARENT).members[0].model.train()
    t = cfg.train
    opt = torch.optim.AdamW(net.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    steps_per_epoch = math.ceil(len(rows) / t.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=t.lr, total_steps=t.epochs * steps_per_epoch)
    from seq2expr.hardware import cpu_info

    bf16 = cpu_info().native_bf16  # as train's precision `auto`: bf16-mixed where the CPU has native bf16
    seconds, seqs = 0.0, 0
    for _ in range(t.epochs):
        order = torch.randperm(len(rows))
        start = time.perf_counter()
        for b in range(steps_per_epoch):
            idx = order[b * t.batch_size:(b + 1) * t.batch_size]
            xb, yb = x[idx], y[idx]
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip[:, None, None], xb.flip(-2, -1), xb)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = net(xb)
            loss = torch.nn.functional.mse_loss(out.float(), yb)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            seqs += len(idx)
        seconds += time.perf_counter() - start
    net.eval()
    test = pd.read_csv(Path(cfg.data.test_path), sep="\t")
    codes = encode(test["sequence"].tolist(), bundle.policy)
    with torch.no_grad():
        xt = one_hot(codes)
        pred = torch.cat([(net(xt[i:i + 256]) + net(xt[i:i + 256].flip(-2, -1))) / 2
                          for i in range(0, len(xt), 256)])[:, 0].numpy()
    r = float(np.corrcoef(pred, test["expression"].to_numpy())[0, 1])
    return {"tag": spec["tag"], "test_r": r, "train_seqs_per_s": seqs / seconds, "train_seconds": round(seconds, 1),
            "epochs": t.epochs, "n_train_rows": len(rows), "peak_rss_mb": peak_rss_mb(),
            "precision": "bf16-mixed" if bf16 else "32"}


def parent_as_is(work: Path) -> list[dict]:
    """The parent ensemble and its member 0 on the test set (no training)."""
    import pandas as pd

    from seq2expr.inference import SavedModel, load_model, predict

    test = pd.read_csv(work / "test.tsv", sep="\t")
    saved = load_model(PARENT)
    rows = []
    for name, model in (("parent (ensemble of 5)", saved), ("parent member 0", saved.members[0])):
        assert isinstance(model, SavedModel)
        t = time.perf_counter()
        pred = predict(model, test["sequence"].tolist(), precision="32")[:, 0]
        seconds = time.perf_counter() - t
        path = work / "runs" / f"{name.split()[0]}_{len(rows)}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"id": test["id"], "target": test["expression"], "prediction": pred}).to_csv(path, sep="\t",
                                                                                                   index=False)
        rows.append({"arm": name, "n": 0, "seed": 0, "predictions": str(path), "total_seconds": 0.0,
                     "infer_seqs_per_s": len(test) / seconds})
    return rows


def launch(specs: list[dict], work: Path, jobs: int) -> list[dict]:
    """Run each spec in a child process (``jobs`` at a time, one thread each) unless its result is on disk; the
    results in the order of ``specs``."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda spec: _launch_one(spec, work), specs))


def _launch_peer(work: Path, lr: float, threads: int) -> dict:
    """The plain-loop peer of ``finetune_n1000_s0`` (its config, rows and seed), in a child process."""
    tag = "finetune_n1000_s0"
    spec = {"tag": "peer_plain_loop", "arm": "finetune", "n": 1000, "seed": 0, "lr": lr, "peer": True,
            "cfg": run_config("finetune", 1000, 0, lr, work, threads, tag)}
    res_path = work / "results" / "peer_plain_loop.json"
    if not res_path.is_file():
        spec_path = work / "specs" / "peer_plain_loop.json"
        spec_path.write_text(json.dumps({**spec, "result": str(res_path)}))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SEQ2EXPR_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, __file__, "--one", str(spec_path)], env=env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise SystemExit(f"peer failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return json.loads(res_path.read_text())


def _launch_one(spec: dict, work: Path) -> dict:
    res_path = work / "results" / f"{spec['tag']}.json"
    if res_path.is_file():
        return json.loads(res_path.read_text())
    res_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path = work / "specs" / f"{spec['tag']}.json"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps({**spec, "result": str(res_path)}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEQ2EXPR_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--one", str(spec_path)], env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not res_path.is_file():
        (work / "logs").mkdir(exist_ok=True)
        (work / "logs" / f"{spec['tag']}.txt").write_text(proc.stdout + proc.stderr)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown error"]
        raise SystemExit(f"{spec['tag']} failed: {tail[0]} (log in {work / 'logs'})")
    res = json.loads(res_path.read_text())
    print(f"{spec['tag']:34s} {time.perf_counter() - t:6.0f} s  valid r {res['valid']['pearson_r']:.3f}  "
          f"test r {res['test']['pearson_r']:.3f}", flush=True)
    return res


# ---------------------------------------------------------------------------------------------------- statistics
def bootstrap(paths: list[str], n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean Pearson r and r^2 over the runs' test predictions, with 95% CIs from resampling test rows (the same
    resample for every run)."""
    import pandas as pd

    frames = [pd.read_csv(p, sep="\t").sort_values("id") for p in paths]
    y = frames[0]["target"].to_numpy(np.float64)
    preds = np.stack([f["prediction"].to_numpy(np.float64) for f in frames])
    assert all((f["id"].to_numpy() == frames[0]["id"].to_numpy()).all() for f in frames)

    def r_of(idx: np.ndarray) -> np.ndarray:
        yy, pp = y[idx], preds[:, idx]
        yc, pc = yy - yy.mean(), pp - pp.mean(1, keepdims=True)
        return (pc @ yc) / np.sqrt((pc ** 2).sum(1) * (yc ** 2).sum())

    rng = np.random.default_rng(seed)
    boots = np.stack([r_of(rng.integers(0, len(y), len(y))) for _ in range(n_boot)])  # (B, runs)
    r = r_of(np.arange(len(y)))
    lo, hi = np.percentile(boots.mean(1), [2.5, 97.5])
    lo2, hi2 = np.percentile((boots ** 2).mean(1), [2.5, 97.5])
    return {"r": float(r.mean()), "r_ci": [float(lo), float(hi)], "r2": float((r ** 2).mean()),
            "r2_ci": [float(lo2), float(hi2)], "r_seeds": [round(float(v), 4) for v in r], "n_test": len(y)}


# -------------------------------------------------------------------------------------------------------- report
def run_precision(row: dict) -> str:
    """The training precision of a run (recorded in its result, else in its metrics.json)."""
    if row.get("precision"):
        return row["precision"]
    metrics = Path(row["predictions"]).parent / "metrics.json"
    return json.loads(metrics.read_text())["fit"][0].get("precision", "32") if metrics.is_file() else "32"


def train_fraction_of_peak(row: dict) -> float:
    """Achieved training FLOP/s over the peak of the precision it ran in: the bf16 peak (AVX512-BF16: twice the
    fp32 rate) for bf16-mixed, else the fp32 one."""
    eff = row["train_efficiency"]
    achieved = eff["achieved_gflops"] * 1e9
    bf16 = bf16_peak_flops(1)["avx512_bf16_flops"] if run_precision(row).startswith("bf16") else 0.0
    return achieved / (bf16 or eff["peak_gflops"] * 1e9)


def write_report(rows: list[dict], selection: list[dict], lrs: dict, meta: dict, out: Path, peer: dict) -> None:
    arms = ["parent (ensemble of 5)", "parent member 0", *ARMS]
    table: dict[str, dict[int, dict]] = {}
    for arm in arms:
        for n in sorted({r["n"] for r in rows if r["arm"] == arm}):
            runs = [r for r in rows if r["arm"] == arm and r["n"] == n]
            stats = bootstrap([r["predictions"] for r in runs])
            trained = [r for r in runs if "train_seqs_per_s" in r]
            stats |= {"seeds": len(runs), "wall_seconds": round(sum(r["total_seconds"] for r in runs), 1),
                      "infer_seqs_per_s": float(np.mean([r["infer_seqs_per_s"] for r in runs]))}
            if trained:
                stats |= {"train_seqs_per_s": float(np.mean([r["train_seqs_per_s"] for r in trained])),
                          "train_fraction_of_peak": float(np.mean([train_fraction_of_peak(r) for r in trained])),
                          "precision": sorted({run_precision(r) for r in trained}),
                          "infer_fraction_of_peak": float(np.mean([r["infer_efficiency"]["fraction_of_peak"]
                                                                   for r in trained])),
                          "peak_rss_mb": float(max(r["peak_rss_mb"] for r in trained)),
                          "epochs": trained[0]["epochs"], "steps": trained[0]["steps"]}
            table.setdefault(arm, {})[n] = stats
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "lr": lrs, "selection": selection,
                                                    "curve": table, "peer": peer, "runs": rows}, indent=1,
                                                   default=str))
    n_seeds = max(s["seeds"] for a in ARMS for s in table.get(a, {}).values())
    precisions = sorted({run_precision(r) for r in rows if "train_seqs_per_s" in r})
    _plot(table, out.with_suffix(".png"), n_seeds)
    lines = [
        "# Fine-tuning vs training from scratch: DREAM complex medium -> Vaishnav defined medium (SC-Ura)",
        "",
        f"Command: `{meta['command']}`, {meta['date']}. Machine: {meta['machine']['line']}. Load average at start "
        f"{meta['load_start']}, at end {meta['load_end']} (other work shared the 2 cores: wall times are "
        f"comparable within this run only). Training precision: {', '.join(precisions)} (`auto`: bf16-mixed where "
        "the CPU has native bf16, else fp32); predictions timed in fp32. FLOP/s fractions are of the peak of the "
        f"precision used ({bf16_peak_flops(1)['how']} for bf16).",
        "",
        f"Data: {meta['data']['sequences']:,} distinct defined-medium sequences ({meta['data']['defined_rows']:,} "
        f"rows, repeats averaged); test {meta['data']['test']:,} by similarity clusters "
        f"({meta['data']['test_sets']}; {meta['data']['test_dropped_near_parent_training']:,} dropped for sharing a "
        f"similarity cluster with the parent's training sequences, {meta['data']['test_dropped_in_parent_training']:,}"
        " of them identical; left near-identical to them, <= 4 mismatches: "
        f"{meta['data']['test_near_identical_to_parent_training']}); "
        f"training pool {meta['data']['pool']:,} ({meta['data']['pool_in_parent_training']:,} of them in the "
        f"parent's training set, with complex-medium labels there). Parent: `{PARENT}`; each fine-tune starts from "
        "member 0 and trains one model. Budget per run: epochs = max(12, ceil(300 / steps per epoch)), batch 64, "
        "one-cycle, shifts <= 3, last-epoch weights. Learning rates chosen on validation r at N = 1,000, seed 0: "
        + ", ".join(f"{k} {v:g}" for k, v in lrs.items()) + ".",
        "",
        f"Test Pearson r, mean over {n_seeds} seeds [95% bootstrap CI over test rows]; r^2 likewise:",
        "",
        "| N | " + " | ".join(arms) + " |",
        "|---|" + "---|" * len(arms),
    ]
    sizes = sorted({n for a in ARMS for n in table.get(a, {})})
    for n in sizes:
        cells = []
        for arm in arms:
            s = table.get(arm, {}).get(0 if arm.startswith("parent") else n)
            cells.append("-" if s is None else f"{s['r']:.3f} [{s['r_ci'][0]:.3f}, {s['r_ci'][1]:.3f}]; "
                                               f"r^2 {s['r2']:.3f}")
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    lines += ["", "Gap, fine-tuned (head kept, nothing frozen) minus the best scratch arm, in r:", ""]
    for n in sizes:
        ft = table["finetune"].get(n, {}).get("r")
        best = max((table[a][n]["r"], a) for a in ("scratch-legnet", "scratch-cnn") if n in table.get(a, {}))
        if ft is not None:
            lines.append(f"- N = {n:,}: {ft - best[0]:+.3f} (vs {best[1]})")
    lines += ["", f"Cost per arm and N ({n_seeds} seeds; wall = the whole `train` call: data, training, evaluation, "
              "export):",
              "", "| arm | N | epochs | steps | wall s | train seq/s | train FLOP/s of peak | predict seq/s | "
              "predict FLOP/s of peak | peak RSS MiB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for arm in ARMS:
        for n, s in sorted(table.get(arm, {}).items()):
            lines.append(f"| {arm} | {n:,} | {s.get('epochs', '-')} | {s.get('steps', '-')} | {s['wall_seconds']:.0f} "
                         f"| {s.get('train_seqs_per_s', 0):.0f} | {s.get('train_fraction_of_peak', 0):.1%} | "
                         f"{s['infer_seqs_per_s']:.0f} | {s.get('infer_fraction_of_peak', 0):.1%} | "
                         f"{s.get('peak_rss_mb', 0):.0f} |")
    ours = next(r for r in rows if r.get("tag") == "finetune_n1000_s0")
    lines += ["", f"Peer, run by the same command after the arms (one thread; the arms' runs shared the cores two at a "
              f"time, so its seq/s is flattered): the same fine-tune (member 0, N = 1,000, seed 0, its training rows, "
              f"lr "
              f"{lrs['finetune']:g}, {peer['epochs']} epochs) as a plain PyTorch loop (AdamW + one-cycle, clipping, "
              f"random reverse complements, no shifts; precision {peer.get('precision', '32')}, seq2expr's "
              f"{run_precision(ours)}): training {peer['train_seqs_per_s']:.0f} seq/s vs seq2expr's "
              f"{ours['train_seqs_per_s']:.0f} ({ours['train_seqs_per_s'] / peer['train_seqs_per_s']:.2f}x the plain "
              f"loop; seq2expr also shifts each batch); test r {peer['test_r']:.3f} vs "
              f"{ours['test']['pearson_r']:.3f}."]
    total = {a: sum(s["wall_seconds"] for s in table.get(a, {}).values()) for a in ARMS}
    lines += ["", "Wall time of each arm, all N and seeds: " + ", ".join(f"{a} {v / 60:.1f} min"
                                                                        for a, v in total.items()) + ".",
              "", "Learning-rate selection (validation r, N = 1,000, seed 0; the test set was not looked at):", "",
              "| arm | lr | valid r |", "|---|---|---|"]
    lines += [f"| {s['family']} | {s['lr']:g} | {s['valid']['pearson_r']:.3f} |" for s in selection]
    lines += ["", "![data-efficiency curve](transfer.png)", ""]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _plot(table: dict, path: Path, n_seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for arm in ARMS:
        pts = sorted(table.get(arm, {}).items())
        if not pts:
            continue
        n = [p[0] for p in pts]
        ax.plot(n, [p[1]["r"] for p in pts], marker="o", label=arm)
        ax.fill_between(n, [p[1]["r_ci"][0] for p in pts], [p[1]["r_ci"][1] for p in pts], alpha=0.15)
    for arm, style in (("parent (ensemble of 5)", "--"), ("parent member 0", ":")):
        if arm in table:
            ax.axhline(table[arm][0]["r"], ls=style, color="grey", label=f"{arm}, no training")
    ax.set_xscale("log")
    sizes = sorted({n for a in ARMS for n in table.get(a, {})})
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("defined-medium training sequences (N)")
    ax.set_ylabel(f"test Pearson r (mean of {n_seeds} seeds)")
    ax.set_title("DREAM complex -> Vaishnav defined medium")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--work", default=str(WORK))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "transfer"))
    args = ap.parse_args()
    if args.one:
        spec = json.loads(Path(args.one).read_text())
        result = plain_loop(spec) if spec.get("peer") else run_one(spec)
        Path(spec["result"]).write_text(json.dumps(result, indent=1))
        return
    os.environ.setdefault("SEQ2EXPR_DATA_MIRROR", str(MIRROR))
    import torch

    torch.set_num_threads(args.threads)  # the parent's own predictions, in this process
    work = Path(args.work)
    load_start = [round(v, 2) for v in load_average()]
    data = prepare(work)
    print(f"data: {data}", flush=True)
    specs = [{"tag": f"select_{arm}_lr{lr:g}", "arm": arm, "n": 1000, "seed": 0, "lr": lr,
              "cfg": run_config(arm, 1000, 0, lr, work, args.threads, f"select_{arm}_lr{lr:g}")}
             for family, arms in (("scratch", ("scratch-legnet", "scratch-cnn")), ("finetune", ("finetune",)))
             for arm in arms for lr in LR_GRID[family]]
    selection = [{**r, "family": r["arm"]} for r in launch(specs, work, args.jobs)]
    lrs = {arm: max((r for r in selection if r["arm"] == arm), key=lambda r: r["valid"]["pearson_r"])["lr"]
           for arm in ("scratch-legnet", "scratch-cnn", "finetune")}
    lrs["finetune-frozen"] = lrs["finetune"]
    rows = parent_as_is(work)
    specs = [{"tag": f"{arm}_n{n}_s{seed}", "arm": arm, "n": n, "seed": seed, "lr": lrs[arm],
              "cfg": run_config(arm, n, seed, lrs[arm], work, args.threads, f"{arm}_n{n}_s{seed}")}
             for n in map(int, args.sizes.split(",")) for seed in map(int, args.seeds.split(","))
             for arm in args.arms.split(",")]
    rows += launch(specs, work, args.jobs)
    peer = _launch_peer(work, lrs["finetune"], args.threads)
    meta = {"command": "SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/transfer.py "
                       + " ".join(a for a in sys.argv[1:]), "date": time.strftime("%Y-%m-%d"),
            "machine": machine(args.threads), "load_start": load_start,
            "load_end": [round(v, 2) for v in load_average()], "data": data}
    write_report(rows, selection, lrs, meta, Path(args.out), peer)
    print(f"wrote {args.out}.md", flush=True)


if __name__ == "__main__":
    main()
