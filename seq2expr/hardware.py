"""What this machine runs fast: the CPU's name and ISA levels, whether bf16 is native, and nominal FLOP/s peaks.

One place decides whether bfloat16 is native (precision ``auto``), names the machine in every result
(``metrics.json``, saved models, benchmark files) and computes the peaks the benchmarks divide by.

bf16 is native on a CUDA device that supports it (compute capability 8.0 or more), and on a CPU with
AVX512-BF16 or AMX whose kernels are allowed to use them: ATen's at AVX-512 (``ATEN_CPU_CAPABILITY``) and
oneDNN's bf16 path (``ONEDNN_MAX_CPU_ISA``). Elsewhere bf16 autocast is emulated, 13-49x slower than float32 on
an AVX2-only CPU. ``SEQ2EXPR_NATIVE_BF16=0`` or ``=1`` overrides the detection (tests; a VM that hides flags).

Peaks, per core and cycle (nominal clock, turbo not counted): fp32 FMA throughput is two FMA units x SIMD
lanes x 2 FLOPs; 512-bit units (Intel with AVX-512, AMD Zen 5) give 64, 256-bit units 32 (AVX2; AMD Zen 3/4
run AVX-512 on them, two passes per instruction), SSE 8. bf16: AVX512-BF16 dot products give twice the fp32
rate of the same units; AMX tiles 1,024 (Intel's figure). No bf16 unit (or libraries limited below it): 0.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

NATIVE_BF16_ENV = "SEQ2EXPR_NATIVE_BF16"
# what limits the libraries to AVX2 kernels on a CPU that has more (to measure the AVX2 case on such a CPU)
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
_ISA_FLAGS = (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"), ("AMX", "amx_bf16"))


@dataclass(frozen=True)
class CpuInfo:
    """The CPU this process runs on and what its libraries may use of it."""

    model: str
    vendor: str
    family: int | None
    model_number: int | None
    cores: int  # cores this process may run on
    mhz: float  # nominal clock
    isa: tuple[str, ...]  # of AVX2, AVX-512, AVX512-BF16, AMX: what the hardware has
    kernels: str  # the ISA the libraries use: ATen's capability, lowered by a oneDNN/MKL limit
    limits: tuple[str, ...] = field(default=())  # environment settings that lower the kernels
    native_bf16: bool = False
    fp32_flop_per_cycle: int = 8
    bf16_flop_per_cycle: int = 0  # 0: no native bf16 (emulated)
    amx: bool = False

    def peak_flops(self, cores: int | None = None, precision: str = "32") -> float:
        """Nominal peak FLOP/s of ``cores`` cores (default: all this process may use) at ``precision``
        (``32`` or ``bf16``; bf16 counts AMX when the CPU has it)."""
        per = self.fp32_flop_per_cycle if precision == "32" else (1024 if self.amx and self.native_bf16
                                                                   else self.bf16_flop_per_cycle)
        return (cores or self.cores) * self.mhz * 1e6 * per

    def describe(self) -> str:
        """One line naming the CPU, its ISA levels and the kernels in use, for results and logs."""
        missing = [n for n, _ in _ISA_FLAGS if n not in self.isa]
        isa = ", ".join(self.isa) or "none of AVX2/AVX-512"
        limited = f", limited by {', '.join(self.limits)}" if self.limits else ""
        bf16 = "native bf16" if self.native_bf16 else "bf16 emulated"
        ident = f" (family {self.family} model {self.model_number})" if self.family is not None else ""
        return (f"{self.model}{ident}, {self.cores} cores at {self.mhz:.0f} MHz; ISA {isa}"
                f"{' (no ' + ', '.join(missing) + ')' if missing else ''}; kernels {self.kernels}{limited} "
                f"({bf16}); peak {self.fp32_flop_per_cycle} fp32 FLOP/cycle/core")


def _cpuinfo_text() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _field(text: str, name: str) -> str | None:
    m = re.search(rf"^{name}\s*:\s*(.*)$", text, re.M)
    return m.group(1).strip() if m else None


def _limits() -> tuple[str, ...]:
    """Environment settings that keep the libraries below AVX-512 (see :data:`AVX2_ENV`)."""
    out = []
    for key in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"):
        v = os.environ.get(key, "")
        if v and "512" not in v and "AMX" not in v.upper() and v.upper() not in ("ALL", "DEFAULT"):
            out.append(f"{key}={v}")
    return tuple(out)


def _fp32_per_cycle(vendor: str, family: int | None, kernels: str, flags: set[str]) -> int:
    if kernels == "AVX-512":
        return 32 if vendor == "AMD" and family is not None and family < 26 else 64  # Zen 3/4: 256-bit units
    if kernels == "AVX2" and "fma" in flags:
        return 32
    return 8


@cache
def cpu_info() -> CpuInfo:
    """The :class:`CpuInfo` of this machine (read once per process)."""
    import torch

    text = _cpuinfo_text()
    flags = set((_field(text, "flags") or _field(text, "Features") or "").split())
    vendor_id = _field(text, "vendor_id") or ""
    vendor = "AMD" if "AMD" in vendor_id else "Intel" if "Intel" in vendor_id else (vendor_id or platform.machine())
    fam = _field(text, "cpu family")
    family = int(fam) if fam and fam.isdigit() else None
    num = _field(text, "model")
    model_number = int(num) if num and num.isdigit() else None
    model = _field(text, "model name") or platform.processor() or platform.machine()
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    mhz = float(_field(text, "cpu MHz") or 0.0)
    isa = tuple(name for name, flag in _ISA_FLAGS if flag in flags)
    limits = _limits()
    aten = torch.backends.cpu.get_cpu_capability()  # "AVX512", "AVX2", "DEFAULT", ...
    kernels = "AVX-512" if "512" in aten and not limits else "AVX2" if aten.startswith("AVX") else aten
    hw_bf16 = bool({"avx512_bf16", "amx_bf16", "bf16"} & flags)
    try:
        onednn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn_bf16 = False
    arm = platform.machine().lower() in ("aarch64", "arm64")
    native = hw_bf16 and onednn_bf16 and (kernels == "AVX-512" or arm)
    fp32 = _fp32_per_cycle(vendor, family, kernels, flags)
    bf16 = 2 * fp32 if native and "avx512_bf16" in flags else 0
    return CpuInfo(model=model, vendor=vendor, family=family, model_number=model_number, cores=cores, mhz=mhz,
                   isa=isa, kernels=kernels, limits=limits, native_bf16=native, fp32_flop_per_cycle=fp32,
                   bf16_flop_per_cycle=bf16, amx=native and "amx_bf16" in flags)


def native_bf16(device: object = None) -> bool:
    """Whether ``device`` (default the CPU) runs bfloat16 natively (see the module's rule)."""
    env = os.environ.get(NATIVE_BF16_ENV, "").strip()
    if env in ("0", "1"):
        return env == "1"
    import torch

    dev = torch.device(device if device is not None else "cpu")
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return dev.type == "cpu" and cpu_info().native_bf16


def describe_device(device: object = None) -> str:
    """One line for the device a result was computed on: the GPU's name, or :meth:`CpuInfo.describe`."""
    import torch

    dev = torch.device(device if device is not None else "cpu")
    if dev.type == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(dev)} (CUDA {torch.version.cuda}); torch {torch.__version__}"
    return f"{cpu_info().describe()}; torch {torch.__version__}"
