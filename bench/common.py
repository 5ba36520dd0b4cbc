"""Shared measurement helpers for the hand-run benchmarks: the machine, FLOPs, peak memory, peaks, timers.

Every benchmark reports sequences/second (train and inference), peak resident memory, and achieved FLOP/s
as a fraction of the nominal peak of the CPU it ran on, computed here in one place so the numbers agree, and
names that CPU with its ISA levels and the kernels in use (:func:`machine`): a claim holds only for that ISA.
To measure the AVX2 case on a CPU with AVX-512, run a bench with the libraries limited to AVX2 kernels,
``env ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/...``
(``seq2expr.hardware.AVX2_ENV``); its results file gets an ``_avx2`` suffix (:func:`result_name`).
"""

from __future__ import annotations

import inspect
import os
import re
import resource
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from seq2expr.hardware import AVX2_ENV, cpu_info, describe_device  # noqa: F401  (AVX2_ENV: for the benches)

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("SEQ2EXPR_DATA_MIRROR", REPO.parent / "shared" / "data")).resolve()


def torch_build() -> str:
    """torch's version with the CPU libraries it was built with (oneDNN, MKL), from ``torch.__config__.show()``."""
    cfg = torch.__config__.show()
    parts = [f"oneDNN {m.group(1)}" for m in [re.search(r"MKL-DNN v([\d.]+)", cfg)] if m]
    parts += [f"MKL {m.group(1)}" for m in [re.search(r"Math Kernel Library Version ([\d.]+)", cfg)] if m]
    cuda = f", CUDA {torch.version.cuda}" if torch.version.cuda else ""
    return f"torch {torch.__version__}" + (f" ({', '.join(parts)}{cuda})" if parts or cuda else "")


def machine(threads: int | None = None, device: str = "cpu") -> dict:
    """The machine a result was measured on, for every results file: the CPU (model, ISA levels that matter,
    the kernels the libraries use and any limit on them), the cores used, the torch build, and the GPU if one ran.

    ``line`` is the one-line form each results file prints. A claim holds for the ISA it was measured on."""
    info = cpu_info()
    cores = threads or torch.get_num_threads()
    gpu = describe_device(device) if str(device).startswith("cuda") else None
    line = f"{info.describe()}; {cores} threads used; {torch_build()}" + (f"; GPU {gpu}" if gpu else "")
    return {"line": line, "cpu": info.model, "family": info.family, "model_number": info.model_number,
            "cores_used": cores, "cores": info.cores, "mhz": info.mhz, "isa": list(info.isa),
            "kernels": info.kernels, "limits": list(info.limits), "native_bf16": info.native_bf16,
            "torch": torch_build(), "gpu": gpu}


def result_name(name: str) -> str:
    """A results file's base name, with ``_avx2`` when the libraries were limited to AVX2 kernels (``AVX2_ENV``), so
    the AVX2 measurement on a CPU that has more sits beside the native one."""
    return f"{name}_avx2" if cpu_info().limits else name


def machine_peak_flops(threads: int | None = None) -> dict:
    """Nominal fp32 peak of the CPU cores used: cores x clock x FLOP/cycle (:mod:`seq2expr.hardware`).

    FLOP/cycle/core = FMA units x SIMD lanes x 2 (an FMA is two FLOPs) for the kernels in use: 64 with two 512-bit
    units (Intel AVX-512, AMD Zen 5), 32 with two 256-bit units (AVX2; AMD Zen 3/4 also for AVX-512, which they
    run in two halves), 8 otherwise. Clock: the nominal `cpu MHz` of /proc/cpuinfo (turbo not counted).
    """
    info = cpu_info()
    cores = threads or torch.get_num_threads()
    per_cycle = info.fp32_flop_per_cycle
    return {"cores": cores, "mhz": info.mhz, "flop_per_cycle_per_core": per_cycle,
            "peak_flops": info.peak_flops(cores, "32"), "cpu": info.model, "kernels": info.kernels,
            "how": f"{cores} cores x {info.mhz:.0f} MHz x {per_cycle} fp32 FLOP/cycle ({info.kernels} kernels: FMA "
                   f"units x SIMD lanes x 2)"}


def bf16_peak_flops(threads: int | None = None) -> dict:
    """Nominal bf16 peaks of the CPU cores used, beside the fp32 one (:func:`machine_peak_flops`); 0 where bf16 is
    not native (no AVX512-BF16/AMX, or kernels limited below them): there it is emulated, with no peak of its own.

    AVX512-BF16: VDPBF16PS does two bf16 products per fp32 lane, twice the fp32 rate of the same units (128
    FLOP/cycle/core on Intel, 64 on AMD Zen 4). AMX (``amx_bf16``): 1,024 FLOP/cycle/core (Intel's figure), which
    oneDNN uses for large enough matrices.
    """
    info = cpu_info()
    cores = threads or torch.get_num_threads()
    avx = info.bf16_flop_per_cycle
    amx = 1024 if info.amx else 0
    how = (f"{cores} cores x {info.mhz:.0f} MHz x {avx} bf16 FLOP/cycle (AVX512-BF16: twice the fp32 rate)"
           + (f"; AMX: x {amx} FLOP/cycle" if amx else "")) if avx else "no native bf16 in use (emulated): no peak"
    return {"avx512_bf16_flops": cores * info.mhz * 1e6 * avx, "amx_bf16_flops": cores * info.mhz * 1e6 * amx,
            "how": how}


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


def proc_status_mb(key: str) -> float:
    """A memory field of this process's ``/proc/self/status`` in MiB (``VmHWM``: its own peak RSS; ``VmRSS``;
    ``RssAnon``): unlike ``ru_maxrss``, not carried over from the parent by fork + exec, so child scripts use it."""
    import re

    with open("/proc/self/status") as fh:
        return int(re.search(key + r":\s+(\d+)", fh.read()).group(1)) / 1024.0


# :func:`proc_status_mb` as ``mem(key)`` at the top of a child script run with ``python -c`` (``CHILD_MEM + script``):
# importing this module there would add its own imports to the memory the child measures
CHILD_MEM = inspect.getsource(proc_status_mb).replace("def proc_status_mb(key: str) -> float:", "def mem(key):")


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


def train_timer():
    """A Lightning callback counting the seconds and sequences of training batches: from each epoch's start to its
    last training batch's end (loading, augmentation, forward, backward, optimiser; the validation pass and
    checkpoints excluded). Lightning is imported here, only by the benches that train."""
    import lightning as L

    class TrainTimer(L.Callback):
        def __init__(self):
            self.seconds, self.seqs, self._t, self._last = 0.0, 0, 0.0, 0.0

        def on_train_epoch_start(self, trainer, module):
            self._t = self._last = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.seqs += len(batch[0])
            self._last = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self.seconds += self._last - self._t

    return TrainTimer()
