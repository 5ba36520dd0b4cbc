"""Prediction over several devices (GPUs, or processes on a machine's cores): one process per device predicts one
shard (:mod:`seq2expr.inference.shard`) with :func:`~seq2expr.inference.predict_file`, and the parts are merged.

It sits above ``predict`` and ``shard`` (an import-linter contract): ``shard`` only splits jobs and joins files, so
nothing below calls back up into prediction.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from seq2expr.atomic import temporary_folder
from seq2expr.inference.predict import predict_file
from seq2expr.inference.shard import merge_tables
from seq2expr.outputs import check_output


def _predict_part(args: tuple) -> int:
    """One worker of :func:`predict_on_devices` (a module-level function, so a spawned process can run it)."""
    model, input_path, out, kwargs, shard, device, threads = args
    torch.set_num_threads(threads)
    return predict_file(model, input_path, out, shard=shard, device=device, **kwargs)


def predict_on_devices(model: str | Path, input_path: str | Path, out_path: str | Path, devices: list[str], **kwargs
                       ) -> int:
    """:func:`~seq2expr.inference.predict_file` split over several devices: one process per device predicts one
    shard into a temporary part, and the parts are merged (the same numbers as one run, see the module docstring).
    ``devices``: e.g. ``["cuda:0", "cuda:1"]``, or ``["cpu", "cpu"]`` to use processes on one machine's cores
    (each gets an equal share of torch's threads)."""
    check_output(out_path, [model, input_path], command="predict")
    n = len(devices)
    threads = max(1, torch.get_num_threads() // n) if all(d.startswith("cpu") for d in devices) else \
        torch.get_num_threads()
    out_path = Path(out_path)
    with temporary_folder(out_path, "parts") as tmp:
        parts = [Path(tmp) / f"part{k}.tsv" for k in range(n)]
        jobs = [(str(model), str(input_path), str(parts[k]), kwargs, f"{k}/{n}", devices[k], threads)
                for k in range(n)]
        with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as pool:
            list(pool.map(_predict_part, jobs))
        return merge_tables(out_path, parts)
