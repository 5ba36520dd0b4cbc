"""Shared measurement helpers for the hand-run benchmarks: FLOPs, peak memory, machine peak, timers.

Every benchmark reports sequences/second (train and inference), peak resident memory, and achieved FLOP/s
as a fraction of the machine's nominal fp32 peak, computed here in one place so the numbers agree.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("SEQ2EXPR_DATA_MIRROR", REPO.parent / "shared" / "data")).resolve()


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    m = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    return set(m.group(1).split()) if m else set()


def _cpu_mhz() -> float:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return 0.0
    m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def machine_peak_flops(threads: int | None = None) -> dict:
    """Nominal fp32 peak of the CPU cores used: cores x clock x FLOP/cycle.

    FLOP/cycle/core = 2 FMA units x SIMD lanes x 2 (an FMA is two FLOPs): 64 with AVX-512, 32 with AVX2+FMA,
    8 otherwise. Clock is the nominal `cpu MHz` from /proc/cpuinfo (turbo not counted).
    """
    flags = _cpu_flags()
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
    cores = threads or torch.get_num_threads()
    mhz = _cpu_mhz()
    peak = cores * mhz * 1e6 * per_cycle
    return {"cores": cores, "mhz": mhz, "flop_per_cycle_per_core": per_cycle, "peak_flops": peak,
            "cpu": platform.processor() or platform.machine(),
            "how": f"{cores} cores x {mhz:.0f} MHz x {per_cycle} fp32 FLOP/cycle (2 FMA units x SIMD x 2)"}


def bf16_peak_flops(threads: int | None = None) -> dict:
    """Nominal bf16 peaks of the CPU cores used, beside the fp32 one (:func:`machine_peak_flops`).

    AVX512-BF16 (``avx512_bf16``): VDPBF16PS does two bf16 products per fp32 lane, so 2 units x 16 lanes x 2 x 2
    = 128 FLOP/cycle/core (2x fp32). AMX (``amx_bf16``): one TDPBF16PS tile multiply per 16 cycles is
    16x16x32 multiply-adds = 1,024 FLOP/cycle/core (Intel's figure), which oneDNN uses for large enough matrices.
    """
    flags = _cpu_flags()
    cores = threads or torch.get_num_threads()
    mhz = _cpu_mhz()
    avx = 128 if "avx512_bf16" in flags else 0
    amx = 1024 if "amx_bf16" in flags else 0
    return {"avx512_bf16_flops": cores * mhz * 1e6 * avx, "amx_bf16_flops": cores * mhz * 1e6 * amx,
            "how": f"{cores} cores x {mhz:.0f} MHz x {avx} bf16 FLOP/cycle (AVX512-BF16: 2 units x 16 lanes x 2 "
                   f"products x 2)" + (f"; AMX: x {amx} FLOP/cycle" if amx else "")}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (forward, or forward + backward) counted by torch's FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def model_flops(model: torch.nn.Module, x: torch.Tensor, backward: bool = False) -> int:
    """FLOPs of a forward (and optionally backward) pass of ``model`` on batch ``x``."""
    def step():
        out = model(x)
        if backward:
            out.float().sum().backward()
    if backward:
        return count_flops(step)
    with torch.no_grad():
        return count_flops(step)


def peak_rss_mb() -> float:
    """Peak resident set size of this process (and waited-for children) so far, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def load_average() -> tuple[float, float, float]:
    """1/5/15-minute load averages, recorded beside timings so contention is visible."""
    return os.getloadavg()


@contextmanager
def timer(out: dict, key: str):
    """Store the wall-clock seconds of the block in ``out[key]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        out[key] = time.perf_counter() - t0


def efficiency(flops: float, seconds: float, threads: int | None = None) -> dict:
    """Achieved FLOP/s and its fraction of the machine's nominal peak."""
    peak = machine_peak_flops(threads)
    achieved = flops / seconds if seconds > 0 else 0.0
    return {"achieved_gflops": achieved / 1e9, "peak_gflops": peak["peak_flops"] / 1e9,
            "fraction_of_peak": achieved / peak["peak_flops"] if peak["peak_flops"] else float("nan"),
            "peak_how": peak["how"]}
