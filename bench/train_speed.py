"""Training and inference speed of seq2expr's own path against a plain PyTorch loop, and prediction memory.

Same model (the default ``cnn``), same data, same batch size, same optimisation (AdamW + OneCycle, gradient
clipping, reverse-complement augmentation, RC-averaged validation) on both sides:

* **train**: ``seq2expr.training.member.fit_member`` (Lightning, batches gathered from the memmapped uint8 codes,
  one-hot per batch) vs a hand-written loop (``F.one_hot`` of the same codes per batch). Reported: training
  sequences/s (optimiser steps only, validation excluded), epoch wall time with validation, the ratio.
* **inference**: ``seq2expr.inference.predict`` vs a plain ``no_grad`` loop, both RC-averaged.
* **precision**: each comparison runs in fp32 and in bf16 (``--precisions``): seq2expr with
  ``train.precision=bf16-mixed`` / ``predict(precision="bf16")``, the plain loop with ``torch.autocast("cpu",
  torch.bfloat16)`` around its forward pass and loss (what Lightning's ``bf16-mixed`` does).
* **FLOP/s**: counted FLOPs (``torch.utils.flop_counter``, fp32 graph; the same count for bf16) over wall time, as
  a fraction of the CPU's nominal fp32 peak and, for bf16 rows, of its AVX512-BF16 peak (``bench/common.py``).
* **training memory**: ``prepare_data`` + a fixed number of training batches on 100k, 300k and 1M random
  sequences, each in a fresh process: RSS while training should not grow with the data set.
* **memory flatness**: ``seq2expr predict`` (``predict_file``) on 100k, 300k and 1M random 110-nt sequences
  from a TSV (read in 50k chunks), each in a fresh process; peak RSS should not grow with the input size. A
  small ``cnn`` is used there so 1M sequences take about a minute on a shared CPU (the streaming, not the
  model, is what is measured).

Data: the 9,045 DREAM 2022 public-leaderboard sequences (110 nt) from ``$SEQ2EXPR_DATA_MIRROR``: 10% validation,
and a fixed random ``--max-train`` (default 1,000) of the rest for one timed epoch per run (two alternating
runs per path, the faster kept), so the whole bench stays near 10 minutes on 2 shared cores (``--max-train 0``
uses all 8,141); inference on ``--infer-n`` private test sequences. Synthetic random 110-nt sequences
(``--synthetic``) if the mirror is absent. Wall-clock rates on a contended machine understate the code, so
process CPU seconds and the load average are recorded beside them.

    SEQ2EXPR_DATA_MIRROR=../shared/data PYTHONPATH=. python bench/train_speed.py --max-train 0 --infer-n 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import (
    CHILD_MEM,
    MIRROR,
    REPO,
    bf16_peak_flops,
    efficiency,
    load_average,
    machine,
    machine_peak_flops,
    model_flops,
    peak_rss_mb,
    result_name,
)

from seq2expr.atomic import write_json, write_text
from seq2expr.config import load_config
from seq2expr.inference import autocast, predict
from seq2expr.models.registry import build_model

RESULTS = REPO / "bench" / "results"
SEQ_LEN = 110
# the small model of the memory runs: the streaming and the data path, not the model, are measured
SMALL_CNN = {"channels": [16], "kernel_sizes": 8, "pool_sizes": [SEQ_LEN], "convs_per_block": 1, "hidden": [16]}


def _config(work: Path, args, synthetic_path: Path | None, precision: str = "32") -> object:
    test_fraction = args.infer_n / (args.n_synthetic + args.infer_n)
    data = ([f"data.path={synthetic_path}", f"data.split.test_fraction={test_fraction}"]
            if synthetic_path else ["data.dataset=dream2022"])
    return load_config(None, [*data, "data.split.method=random", "data.split.valid_fraction=0.1",
                              f"data.cache_dir={work / 'cache'}", "model.name=cnn", f"train.epochs={args.epochs}",
                              f"train.batch_size={args.batch}", f"train.threads={args.threads}",
                              "train.early_stopping_patience=null", f"output_dir={work / 'run'}",
                              f"train.precision={'bf16-mixed' if precision == 'bf16' else '32'}"])


def _synthetic_table(path: Path, n: int, seed: int = 0) -> None:
    """Random 110-nt sequences with a planted signal (GC content + a TGACTCA site), as a TSV."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, SEQ_LEN)).astype(np.uint8)
    letters = np.frombuffer(b"ACGT", np.uint8)[codes]
    seqs = [r.tobytes().decode() for r in letters]
    y = (np.isin(codes, (1, 2)).mean(1) * 4 + np.array(["TGACTCA" in s for s in seqs]) * 2
         + rng.normal(0, 0.3, n))
    with open(path, "w") as fh:
        fh.write("sequence\texpression\n")
        fh.writelines(f"{s}\t{v:.4f}\n" for s, v in zip(seqs, y, strict=True))


class _TrainTimer:
    """Lightning callback: wall seconds of the optimiser steps of each epoch (data loading included,
    validation excluded), i.e. from the epoch start to the last training batch's end."""

    def __new__(cls):
        import lightning as L

        class Timer(L.Callback):
            def __init__(self):
                self.train_s, self.train_cpu_s, self.epoch_s, self._t0, self._c0 = [], [], [], 0.0, 0.0

            def on_train_epoch_start(self, trainer, pl_module):
                self._t0, self._c0 = time.perf_counter(), time.process_time()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                if batch_idx == trainer.num_training_batches - 1:
                    self.train_s.append(time.perf_counter() - self._t0)
                    self.train_cpu_s.append(time.process_time() - self._c0)

            def on_train_epoch_end(self, trainer, pl_module):
                self.epoch_s.append(time.perf_counter() - self._t0)

        return Timer()


def bench_seq2expr_train(cfg, bundle, work: Path) -> dict:
    from seq2expr.training import fit_member

    timer = _TrainTimer()
    t0, c0 = time.perf_counter(), time.process_time()
    model, info = fit_member(cfg, bundle, cfg.train.seed, work / "run", resume=False, progress=False,
                             callbacks=[timer])
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(bundle.splits["train"]) * len(timer.train_s)
    return {"train_seconds": sum(timer.train_s), "epoch_seconds": sum(timer.epoch_s), "fit_member_seconds": total,
            "fit_member_cpu_seconds": cpu, "train_seq_per_s": n / sum(timer.train_s), "epochs": len(timer.train_s),
            "train_cpu_seconds": sum(timer.train_cpu_s), "train_seq_per_cpu_s": n / sum(timer.train_cpu_s),
            "best_val_pearson": info["best_score"]}


def _plain_onehot(codes: np.ndarray) -> torch.Tensor:
    x = F.one_hot(torch.from_numpy(codes).long(), 5)[..., :4]  # N (4) -> all zeros
    return x.permute(0, 2, 1).float()


def bench_plain_train(cfg, bundle, precision: str = "32") -> dict:
    """The straightforward loop a user would write for the same model and optimisation (``bf16``: the forward
    pass and loss under ``torch.autocast``, as Lightning's ``bf16-mixed``)."""
    t = cfg.train
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else \
        (lambda: torch.autocast("cpu", enabled=False))
    torch.manual_seed(t.seed)
    model = build_model("cnn", seq_len=bundle.seq_len, n_targets=1)
    codes, y = np.asarray(bundle.codes), torch.from_numpy(np.asarray(bundle.targets, np.float32))
    tr, va = bundle.splits["train"], bundle.splits["valid"]
    steps = t.epochs * -(-len(tr) // t.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=t.lr, total_steps=steps)
    rng = np.random.default_rng(t.seed)
    train_s, train_cpu, epoch_s, val_r = 0.0, 0.0, 0.0, []
    c0 = time.process_time()
    for _ in range(t.epochs):
        t0, tc = time.perf_counter(), time.process_time()
        model.train()
        perm = rng.permutation(tr)
        for b in range(0, len(perm), t.batch_size):
            idx = perm[b:b + t.batch_size]
            x = _plain_onehot(codes[idx])
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            x[flip] = x[flip].flip(-2, -1)
            with cast():
                loss = F.mse_loss(model(x).float(), y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            opt.step()
            sched.step()
        train_s += time.perf_counter() - t0
        train_cpu += time.process_time() - tc
        model.eval()
        with torch.no_grad(), cast():
            preds = []
            for b in range(0, len(va), t.batch_size):
                x = _plain_onehot(codes[va[b:b + t.batch_size]])
                preds.append(((model(x) + model(x.flip(-2, -1))) / 2).float())
        p = torch.cat(preds).squeeze(-1).numpy()
        val_r.append(float(np.corrcoef(p, y[va, 0].numpy())[0, 1]))
        epoch_s += time.perf_counter() - t0
    return {"train_seconds": train_s, "epoch_seconds": epoch_s, "cpu_seconds": time.process_time() - c0,
            "train_seq_per_s": t.epochs * len(tr) / train_s, "epochs": t.epochs, "best_val_pearson": max(val_r),
            "train_cpu_seconds": train_cpu, "train_seq_per_cpu_s": t.epochs * len(tr) / train_cpu}


def bench_inference(model: torch.nn.Module, codes: np.ndarray, batch: int, precision: str = "32") -> dict:
    model.eval()
    predict(model, codes[:batch], batch_size=batch, rc_average=True, precision=precision)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    ours = predict(model, codes, batch_size=batch, rc_average=True, precision=precision)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad(), autocast(precision, torch.device("cpu")):
        outs = []
        for b in range(0, len(codes), batch):
            x = _plain_onehot(np.asarray(codes[b:b + batch]))
            outs.append(((model(x) + model(x.flip(-2, -1))) / 2).float())
    plain = torch.cat(outs).numpy()
    plain_s, plain_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"n": len(codes), "batch_size": batch, "seq2expr_seconds": ours_s, "plain_seconds": plain_s,
            "seq2expr_cpu_seconds": ours_cpu, "plain_cpu_seconds": plain_cpu,
            "seq2expr_seq_per_s": len(codes) / ours_s, "plain_seq_per_s": len(codes) / plain_s,
            "max_abs_difference": float(np.abs(ours - plain).max())}


def _efficiency(flops_per_s: float, precision: str, threads: int) -> dict:
    """Achieved GFLOP/s, its fraction of the fp32 peak and, for bf16, of the AVX512-BF16 peak."""
    e = efficiency(flops_per_s, 1.0, threads)
    if precision == "bf16":
        bpeak = bf16_peak_flops(threads)["avx512_bf16_flops"]
        e["fraction_of_bf16_peak"] = flops_per_s / bpeak if bpeak else float("nan")
    return e


def bench_precision(precision: str, work: Path, args, syn: Path | None, bundle, model: torch.nn.Module,
                    train_flops_seq: float, fwd_flops_seq: float, load: dict) -> dict:
    """Training (alternating plain / seq2expr runs, the fastest of each kept) and inference at one precision."""
    cfg = _config(work, args, syn, precision)
    out: dict = {}
    runs: dict[str, list[dict]] = {"train_plain": [], "train_seq2expr": []}
    for rep in range(args.repeats):  # alternate the two, keep each side's fastest: contention only slows down
        runs["train_plain"].append(bench_plain_train(cfg, bundle, precision))
        load[f"{precision}_after_plain_train_{rep}"] = load_average()
        runs["train_seq2expr"].append(bench_seq2expr_train(cfg, bundle, work))
        load[f"{precision}_after_seq2expr_train_{rep}"] = load_average()
    for side, rs in runs.items():
        out[side] = {**max(rs, key=lambda r: r["train_seq_per_s"]),
                     "all_train_seq_per_s": [r["train_seq_per_s"] for r in rs],
                     "all_train_seq_per_cpu_s": [r["train_seq_per_cpu_s"] for r in rs]}
        out[side]["efficiency"] = _efficiency(train_flops_seq * out[side]["train_seq_per_s"], precision, args.threads)
    out["peak_rss_mb_after_training"] = peak_rss_mb()
    out["train_ratio_seq2expr_over_plain"] = (out["train_seq2expr"]["train_seq_per_s"]
                                              / out["train_plain"]["train_seq_per_s"])
    out["train_ratio_per_cpu_s"] = (max(r["train_seq_per_cpu_s"] for r in runs["train_seq2expr"])
                                    / max(r["train_seq_per_cpu_s"] for r in runs["train_plain"]))
    test = bundle.splits["test"] if len(bundle.splits["test"]) else bundle.splits["valid"]
    codes = np.asarray(bundle.codes[np.sort(test)[: args.infer_n]])
    inf = bench_inference(model, codes, args.infer_batch, precision)
    for side in ("seq2expr", "plain"):
        inf[f"{side}_efficiency"] = _efficiency(2 * fwd_flops_seq * inf[f"{side}_seq_per_s"], precision, args.threads)
    inf["ratio_seq2expr_over_plain"] = inf["seq2expr_seq_per_s"] / inf["plain_seq_per_s"]
    out["inference"] = inf
    load[f"{precision}_after_inference"] = load_average()
    out["peak_rss_mb_after_inference"] = peak_rss_mb()
    return out


# VmHWM: this process's own peak RSS (ru_maxrss would carry the parent's peak over fork + exec); VmRSS is
# also sampled after every chunk, to tell a leak (steady growth) from one transient spike
_CHILD = CHILD_MEM + """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[6]))
import importlib
P = importlib.import_module("seq2expr.inference.predict")  # the module, not the function
trace, inner = [], P.predict
def traced(*a, **k):
    out = inner(*a, **k)
    trace.append(round(mem("VmRSS"), 1))
    return out
P.predict = traced  # called once per chunk by predict_file
t, c = time.perf_counter(), time.process_time()
n = P.predict_file(sys.argv[1], sys.argv[2], sys.argv[3], batch_size=int(sys.argv[4]), chunk_size=int(sys.argv[5]))
print(json.dumps([n, time.perf_counter() - t, time.process_time() - c, mem("VmHWM"), trace]))
"""


def bench_memory_flatness(work: Path, sizes: list[int], threads: int, batch: int, chunk: int) -> dict:
    """``predict_file`` on growing random inputs, each in a fresh process: peak RSS per input size."""
    from seq2expr.inference import save_model

    torch.manual_seed(0)
    small = SMALL_CNN
    model = build_model("cnn", seq_len=SEQ_LEN, n_targets=1, **small)
    model_dir = save_model(work / "small_model", model, {
        "model": {"name": "cnn", "params": small, "seq_len": SEQ_LEN, "n_targets": 1}, "policy": {},
        "target_transform": None, "task": "regression", "target_names": ["expression"], "train": {"rc_average": True}})
    rng = np.random.default_rng(1)
    rows = []
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    for n in sizes:
        path = work / f"in_{n}.tsv"
        with open(path, "w") as fh:
            fh.write("sequence\n")
            for s in range(0, n, 100_000):
                codes = rng.integers(0, 4, (min(100_000, n - s), SEQ_LEN)).astype(np.uint8)
                letters = np.frombuffer(b"ACGT", np.uint8)[codes]
                nl = np.full((len(codes), 1), ord("\n"), np.uint8)
                fh.write(np.hstack([letters, nl]).tobytes().decode())
        out = subprocess.run([sys.executable, "-c", _CHILD, str(model_dir), str(path), str(work / f"out_{n}.tsv"),
                              str(batch), str(chunk), str(threads)],
                             capture_output=True, text=True, env=env)
        if out.returncode:
            raise SystemExit(f"predict_file child failed:\n{out.stderr}")
        got, secs, cpu, rss, trace = json.loads(out.stdout.strip().splitlines()[-1])
        assert got == n, out.stdout
        half = len(trace) // 2
        rows.append({"n": n, "seconds": secs, "cpu_seconds": cpu, "seq_per_s": n / secs, "peak_rss_mb": rss,
                     "input_mb": path.stat().st_size / 2**20, "rss_after_each_chunk_mb": trace,
                     "median_rss_first_half_mb": float(np.median(trace[:half] or trace)),
                     "median_rss_second_half_mb": float(np.median(trace[half:]))})
        path.unlink()
        (work / f"out_{n}.tsv").unlink()
    return {"model": {"name": "cnn", "params": small}, "chunk_size": chunk, "batch_size": batch, "threads": threads,
            "runs": rows,
            "rss_ratio_largest_to_smallest": rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"],
            "median_rss_ratio": (float(np.median(rows[-1]["rss_after_each_chunk_mb"]))
                                 / float(np.median(rows[0]["rss_after_each_chunk_mb"])))}


# Training memory: a fresh process prepares N sequences (read, validate, encode into the memmap cache,
# random split), then trains a fixed number of batches; VmRSS is sampled every 50 batches
_TRAIN_CHILD = CHILD_MEM + """
import json, sys, time, torch
from pathlib import Path
import lightning as L
torch.set_num_threads(int(sys.argv[4]))
from seq2expr.config import load_config
from seq2expr.data.prepare import prepare_data
from seq2expr.training import fit_member
params = json.loads(sys.argv[5])
cfg = load_config(None, [f"data.path={sys.argv[1]}", "data.split.method=random", "data.split.valid_fraction=0.01",
                         "data.split.test_fraction=0.01", f"data.cache_dir={sys.argv[2]}/cache", "model.name=cnn",
                         f"model.params={json.dumps(params)}", "train.epochs=1", "train.batch_size=128",
                         "train.precise_bn=0", "train.early_stopping_patience=null", f"output_dir={sys.argv[2]}/run"])
t = time.perf_counter()
bundle = prepare_data(cfg.data)
prep_s, prep_hwm, after_prep = time.perf_counter() - t, mem("VmHWM"), [mem("VmRSS"), mem("RssAnon")]
steps, trace = int(sys.argv[3]), []
class Sample(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx % 50 == 0:
            trace.append([round(mem("VmRSS"), 1), round(mem("RssAnon"), 1)])
        if batch_idx + 1 >= steps:
            trainer.should_stop = True
t = time.perf_counter()
fit_member(cfg, bundle, 0, Path(sys.argv[2]) / "run", resume=False, progress=False,
           callbacks=[Sample()])
print(json.dumps([len(bundle.codes), prep_s, prep_hwm, after_prep, time.perf_counter() - t, mem("VmHWM"), trace]))
"""


def bench_train_memory(work: Path, sizes: list[int], threads: int, steps: int) -> dict:
    """RSS of preparation and of training vs the number of sequences, each size in a fresh process."""
    small = SMALL_CNN
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    rows = []
    for n in sizes:
        path, run = work / f"train_{n}.tsv", work / f"train_mem_{n}"
        _synthetic_table(path, n, seed=2)
        out = subprocess.run([sys.executable, "-c", _TRAIN_CHILD, str(path), str(run), str(steps), str(threads),
                              json.dumps(small)], capture_output=True, text=True, env=env, check=True)
        got, prep_s, prep_hwm, after_prep, train_s, hwm, trace = json.loads(out.stdout.strip().splitlines()[-1])
        assert got == n, out.stdout
        rss, anon = np.array(trace, dtype=float).reshape(-1, 2).T
        rows.append({"n": n, "input_mb": path.stat().st_size / 2**20, "prepare_seconds": prep_s,
                     "prepare_peak_rss_mb": prep_hwm, "rss_after_prepare_mb": after_prep[0],
                     "anon_after_prepare_mb": after_prep[1], "train_seconds": train_s, "peak_rss_mb": hwm,
                     "train_rss_trace_mb": trace, "median_train_rss_mb": float(np.median(rss)),
                     "median_train_anon_mb": float(np.median(anon))})
        path.unlink()
    return {"model": {"name": "cnn", "params": small}, "steps": steps, "batch_size": 128, "threads": threads,
            "runs": rows, "train_rss_ratio": rows[-1]["median_train_rss_mb"] / rows[0]["median_train_rss_mb"],
            "train_anon_ratio": rows[-1]["median_train_anon_mb"] / rows[0]["median_train_anon_mb"],
            "prepare_peak_ratio": rows[-1]["prepare_peak_rss_mb"] / rows[0]["prepare_peak_rss_mb"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each training path (best kept)")
    ap.add_argument("--max-train", type=int, default=1000, help="training sequences used (0: all of the split)")
    ap.add_argument("--infer-n", type=int, default=3000)
    ap.add_argument("--infer-batch", type=int, default=1024)
    ap.add_argument("--flat-sizes", default="100000,300000,1000000")
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--flat-threads", type=int, default=1, help="torch threads of the prediction processes")
    ap.add_argument("--train-mem-sizes", default="100000,300000,1000000")
    ap.add_argument("--train-mem-steps", type=int, default=400, help="training batches per memory run")
    ap.add_argument("--synthetic", action="store_true", help="synthetic sequences even if the mirror is there")
    ap.add_argument("--n-synthetic", type=int, default=9045, help="training+validation rows when synthetic")
    ap.add_argument("--precisions", default="32,bf16", help="32 and/or bf16: each comparison at each precision")
    ap.add_argument("--out", default=str(RESULTS / result_name("train_speed")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    command = (f"SEQ2EXPR_DATA_MIRROR={os.environ.get('SEQ2EXPR_DATA_MIRROR', '')} PYTHONPATH=. "
               f"python bench/train_speed.py {' '.join(sys.argv[1:])}")
    from seq2expr.data.prepare import prepare_data

    res: dict = {"command": command.strip(), "torch": torch.__version__, "threads": args.threads,
                 "machine": machine(args.threads),
                 "peak": machine_peak_flops(args.threads), "bf16_peak": bf16_peak_flops(args.threads),
                 "load_average": {"start": load_average()}}
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        work = Path(tmp)
        use_dream = not args.synthetic and (MIRROR / "dream2022").is_dir()
        if use_dream:
            os.environ.setdefault("SEQ2EXPR_DATA_MIRROR", str(MIRROR))
        syn = None
        if not use_dream:
            syn = work / "synthetic.tsv"
            _synthetic_table(syn, args.n_synthetic + args.infer_n)
        cfg = _config(work, args, syn)
        t0 = time.perf_counter()
        bundle = prepare_data(cfg.data)
        if args.max_train and len(bundle.splits["train"]) > args.max_train:  # a fixed random subset: time budget
            keep = np.random.default_rng(0).choice(bundle.splits["train"], args.max_train, replace=False)
            bundle.splits["train"] = np.sort(keep)
        res["data"] = {"source": "dream2022 public (train) / private (inference)" if use_dream else "synthetic 110 nt",
                       "n_train": len(bundle.splits["train"]), "n_valid": len(bundle.splits["valid"]),
                       "seq_len": bundle.seq_len, "prepare_seconds": time.perf_counter() - t0}
        model = build_model("cnn", seq_len=bundle.seq_len, n_targets=1)
        x = torch.zeros(args.batch, 4, bundle.seq_len)
        train_flops_seq = model_flops(model, x, backward=True) / args.batch
        fwd_flops_seq = model_flops(model, x) / args.batch
        res["model"] = {"name": "cnn", "params": sum(p.numel() for p in model.parameters()),
                        "train_flops_per_seq": train_flops_seq, "forward_flops_per_seq": fwd_flops_seq}

        res["precisions"] = {}
        for precision in args.precisions.split(","):
            res["precisions"][precision] = bench_precision(precision, work, args, syn, bundle, model,
                                                           train_flops_seq, fwd_flops_seq, res["load_average"])
        sizes = [int(s) for s in args.flat_sizes.split(",")]
        res["memory_flatness"] = bench_memory_flatness(work, sizes, args.flat_threads, args.infer_batch, args.chunk)
        res["train_memory"] = bench_train_memory(work, [int(s) for s in args.train_mem_sizes.split(",")],
                                                 args.flat_threads, args.train_mem_steps)
        res["load_average"]["end"] = load_average()
    out = Path(args.out)
    write_json(out.with_suffix(".json"), res)
    write_text(out.with_suffix(".md"), render(res))
    print(render(res))


def _peak_cells(e: dict) -> str:
    """Table cells: achieved GFLOP/s, fraction of the fp32 peak, fraction of the bf16 peak ("-" for fp32 rows)."""
    bf = f"{e['fraction_of_bf16_peak']:.3f}" if "fraction_of_bf16_peak" in e else "-"
    return f"{e['achieved_gflops']:.2f} | {e['fraction_of_peak']:.3f} | {bf}"


def render(r: dict) -> str:
    mf, la, pr = r["memory_flatness"], r["load_average"], r["precisions"]
    bp = r["bf16_peak"]
    lines = [
        "# Training and inference speed: seq2expr vs a plain PyTorch loop, fp32 and bf16",
        "",
        f"`{r['command']}`",
        "",
        f"Machine: {r['machine']['line'] if 'machine' in r else 'not recorded'}.",
        "",
        f"torch {r['torch']}, {r['threads']} CPU threads. Peaks: fp32 {r['peak']['how']} = "
        f"{r['peak']['peak_flops'] / 1e9:.0f} GFLOP/s; bf16 {bp['how'].split(';')[0]} = "
        f"{bp['avx512_bf16_flops'] / 1e9:.0f} GFLOP/s"
        + (f" (AMX {bp['amx_bf16_flops'] / 1e9:.0f} GFLOP/s for the matrix products oneDNN hands to it)"
           if bp["amx_bf16_flops"] else "") + ". "
        f"FLOPs are counted on the fp32 graph (the same count for bf16). Data: {r['data']['source']}, "
        f"{r['data']['n_train']} train / {r['data']['n_valid']} validation sequences of {r['data']['seq_len']} nt. "
        f"Model: default `cnn` ({r['model']['params']:,} parameters, {r['model']['train_flops_per_seq'] / 1e6:.1f} "
        f"MFLOP per sequence per training step, {r['model']['forward_flops_per_seq'] / 1e6:.1f} MFLOP per forward).",
        "",
        "1-minute load average (2 cores shared with other jobs: > 2 means the timings ran under contention, and "
        "wall-clock rates understate the code; CPU seconds are given beside them): "
        + ", ".join(f"{k} {v[0]:.1f}" for k, v in la.items()) + ".",
        "",
        "## Training (same model, data, batch size, AdamW + OneCycle, clipping, RC augmentation)",
        "",
        "bf16 rows: seq2expr with `train.precision=bf16-mixed` (Lightning), the plain loop with "
        "`torch.autocast(\"cpu\", torch.bfloat16)` around its forward pass and loss.",
        "",
        "| path | precision | train seq/s | train s | epoch s (with validation) | CPU s (whole) | GFLOP/s "
        "| fraction of fp32 peak | fraction of bf16 peak | best val r |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for precision, p in pr.items():
        for name, t in (("plain PyTorch loop", p["train_plain"]), ("seq2expr fit_member (Lightning)",
                                                                    p["train_seq2expr"])):
            e = t["efficiency"]
            cpu = t.get("cpu_seconds", t.get("fit_member_cpu_seconds"))
            lines.append(f"| {name} | {precision} | {t['train_seq_per_s']:.0f} | {t['train_seconds']:.1f} | "
                         f"{t['epoch_seconds']:.1f} | {cpu:.1f} | {_peak_cells(e)} | {t['best_val_pearson']:.3f} |")
    lines.append("")
    for precision, p in pr.items():
        tp, ts = p["train_plain"], p["train_seq2expr"]
        lines += [
            f"- {precision}: ratio seq2expr / plain (training seq/s) **{p['train_ratio_seq2expr_over_plain']:.2f}**, "
            f"per CPU-second {p['train_ratio_per_cpu_s']:.2f}; best of {len(tp['all_train_seq_per_s'])} alternating "
            f"runs each (seq/s: plain {', '.join(f'{v:.0f}' for v in tp['all_train_seq_per_s'])}; seq2expr "
            f"{', '.join(f'{v:.0f}' for v in ts['all_train_seq_per_s'])}); `fit_member` total "
            f"{ts['fit_member_seconds']:.1f} s over {ts['epochs']} epoch(s) (includes trainer set-up and checkpoint "
            f"writing); peak RSS after training {p['peak_rss_mb_after_training']:.0f} MiB."]
    if "32" in pr and "bf16" in pr:
        def up(side: str) -> float:
            return pr["bf16"][side]["train_seq_per_s"] / pr["32"][side]["train_seq_per_s"]

        lines += [f"- bf16 / fp32, same run: seq2expr training **{up('train_seq2expr'):.2f}x**, plain loop "
                  f"{up('train_plain'):.2f}x."]
    first = next(iter(pr.values()))["inference"]
    lines += [
        "",
        f"## Inference (RC-averaged, batch {first['batch_size']}, {first['n']} sequences)",
        "",
        "| path | precision | seq/s | seconds | CPU s | GFLOP/s | fraction of fp32 peak | fraction of bf16 peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for precision, p in pr.items():
        inf = p["inference"]
        for side, name in (("plain", "plain no_grad loop"), ("seq2expr", "seq2expr `predict` (inference_mode)")):
            e = inf[f"{side}_efficiency"]
            lines.append(f"| {name} | {precision} | {inf[f'{side}_seq_per_s']:.0f} | {inf[f'{side}_seconds']:.1f} | "
                         f"{inf[f'{side}_cpu_seconds']:.1f} | {_peak_cells(e)} |")
    lines.append("")
    for precision, p in pr.items():
        inf = p["inference"]
        lines.append(f"- {precision}: ratio seq2expr / plain **{inf['ratio_seq2expr_over_plain']:.2f}**; outputs agree "
                     f"to {inf['max_abs_difference']:.1e}; peak RSS after inference "
                     f"{p['peak_rss_mb_after_inference']:.0f} MiB.")
    if "32" in pr and "bf16" in pr:
        def iup(side: str) -> float:
            return pr["bf16"]["inference"][f"{side}_seq_per_s"] / pr["32"]["inference"][f"{side}_seq_per_s"]

        lines.append(f"- bf16 / fp32, same run: seq2expr inference **{iup('seq2expr'):.2f}x**, plain loop "
                     f"{iup('plain'):.2f}x.")
    lines += [
        "",
        f"## Prediction memory vs input size (`predict_file`, fresh process each, chunk {mf['chunk_size']}, "
        f"batch {mf['batch_size']}, {mf['threads']} thread)",
        "",
        f"Small model `cnn` {json.dumps(mf['model']['params'])}: the streaming path, not the model, is measured.",
        "",
        "| sequences | input MiB | seconds | CPU s | seq/s | peak RSS MiB | median RSS after a chunk, 1st / 2nd half |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in mf["runs"]:
        lines.append(f"| {row['n']:,} | {row['input_mb']:.0f} | {row['seconds']:.1f} | {row['cpu_seconds']:.1f} | "
                     f"{row['seq_per_s']:.0f} | {row['peak_rss_mb']:.0f} | {row['median_rss_first_half_mb']:.0f} / "
                     f"{row['median_rss_second_half_mb']:.0f} |")
    lines += ["", "RSS after each chunk of the largest input (MiB): "
              + ", ".join(f"{v:.0f}" for v in mf["runs"][-1]["rss_after_each_chunk_mb"]) + "."]
    lines += ["", f"Peak RSS ratio largest / smallest input: **{mf['rss_ratio_largest_to_smallest']:.2f}**; "
              f"median RSS after a chunk, largest / smallest input: **{mf['median_rss_ratio']:.2f}** (1.0 = flat; the "
              "peak includes one-off spikes of the allocator, the per-chunk trace shows whether memory grows).", ""]
    tm = r.get("train_memory")
    if tm:
        lines += [f"## Training memory vs data-set size (`prepare_data` + `fit_member`, fresh process each, "
                  f"{tm['steps']} batches of {tm['batch_size']}, {tm['threads']} thread)", "",
                  f"Small model `cnn` {json.dumps(tm['model']['params'])}; random 110-nt sequences from a TSV; random "
                  "split (1% validation, 1% test).", "",
                  "| sequences | input MiB | prepare s | prepare peak RSS MiB | after prepare: RSS / anonymous MiB "
                  "| while training (median): RSS / anonymous MiB | peak RSS MiB |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for row in tm["runs"]:
            lines.append(f"| {row['n']:,} | {row['input_mb']:.0f} | {row['prepare_seconds']:.1f} | "
                         f"{row['prepare_peak_rss_mb']:.0f} | {row['rss_after_prepare_mb']:.0f} / "
                         f"{row['anon_after_prepare_mb']:.0f} | {row['median_train_rss_mb']:.0f} / "
                         f"{row['median_train_anon_mb']:.0f} | {row['peak_rss_mb']:.0f} |")
        lines += ["", f"While training, largest / smallest set: anonymous (process-private) memory "
                  f"**{tm['train_anon_ratio']:.2f}**, RSS **{tm['train_rss_ratio']:.2f}**. Batches are gathered "
                  "from the memmapped uint8 codes, so private memory does not grow with the data; RSS also counts "
                  "the pages of the code file that random batches have touched (file-backed page cache, "
                  "reclaimable). "
                  f"Preparation peak, largest / smallest: **{tm['prepare_peak_ratio']:.2f}**: the sequences are held "
                  "as strings until encoded, so this one-off peak grows with the input; their memory is handed back "
                  "before training (`seq2expr.memory.release_memory`).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
