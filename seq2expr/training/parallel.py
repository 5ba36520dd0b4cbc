"""One process per device: where each ensemble-member or tune-worker process runs, and starting them.

``train --member-devices`` and ``tune --devices`` start one process per listed device (``cuda:0,cuda:1``, ``cpu,cpu``
or a count, parsed by :func:`seq2expr.inference.device_list`). A GPU process sees only its GPU
(``CUDA_VISIBLE_DEVICES``, set before CUDA starts) and trains with ``accelerator=gpu, devices=1``; a CPU process
sees no GPU and trains with ``accelerator=cpu``. Every process gets an equal share of the torch threads
(``train.threads``, or torch's default), and trains on one device (``devices=1, strategy=auto, num_nodes=1``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from seq2expr.config import RunConfig


@dataclass(frozen=True)
class Placement:
    """Where one of several processes runs: its environment and the ``train.*`` settings it trains with."""

    device: str
    env: dict[str, str]
    train: dict[str, Any]

    def apply(self, cfg: RunConfig) -> RunConfig:
        """``cfg`` with this process's ``train.*`` settings."""
        return cfg.model_copy(update={"train": cfg.train.model_copy(update=self.train)})


ONE_DEVICE = {"devices": 1, "strategy": "auto", "num_nodes": 1}  # what every member/worker process trains with


def placements(devices: str | int | Sequence[str], threads: int | None = None) -> list[Placement]:
    """One :class:`Placement` per device of ``devices`` (a count, ``"cuda:0,cuda:1"``, ``"cpu,cpu"`` or a list);
    ``threads``: the torch threads to share among them (default: torch's own number)."""
    import torch

    from seq2expr.inference import device_list

    names = device_list(devices) if isinstance(devices, str | int) else [str(torch.device(d)) for d in devices]
    if not names:
        raise ValueError(f"no devices in {devices!r}")
    share = max(1, (threads or torch.get_num_threads()) // len(names))
    visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    out = []
    for name in names:
        dev = torch.device(name)
        if dev.type == "cpu":
            out.append(Placement(name, {"CUDA_VISIBLE_DEVICES": ""},
                                 {**ONE_DEVICE, "accelerator": "cpu", "threads": share}))
        elif dev.type == "cuda":
            index = dev.index or 0
            if visible and index >= len(visible):
                raise ValueError(f"{name}: only {len(visible)} GPU(s) visible (CUDA_VISIBLE_DEVICES)")
            out.append(Placement(name, {"CUDA_VISIBLE_DEVICES": visible[index] if visible else str(index)},
                                 {**ONE_DEVICE, "accelerator": "gpu", "threads": share}))
        else:
            raise ValueError(f"device {name}: one process per device takes cpu or cuda:N devices")
    return out


def _run_placed(env: dict[str, str], threads: int, target: Callable[..., Any], args: tuple) -> Any:
    """In a fresh (spawned) process: the environment first (before anything starts CUDA), then ``target(*args)``."""
    os.environ.update(env)
    import torch

    torch.set_num_threads(threads)
    try:
        return target(*args)
    except ValueError as err:  # a user error (FileError, DataError...): its one line, as a plain ValueError
        raise ValueError(str(err)) from None


def run_placed(target: Callable[..., Any], jobs: Sequence[tuple[Placement, tuple]]) -> list[Any]:
    """Run ``target(*args)`` for each ``(placement, args)`` at once, each in a fresh spawned process (one job per
    process); waits for all, then raises the first failure (so one failing member does not stop the others)."""
    if not jobs:
        return []
    with ProcessPoolExecutor(len(jobs), mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as pool:
        futures = [pool.submit(_run_placed, p.env, int(p.train["threads"]), target, args) for p, args in jobs]
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e
    return [f.result() for f in futures]
