"""Where a model runs, decided by one rule, and how it is handed back afterwards.

Rule: an explicit device (``"cpu"``, ``"cuda:1"``) is used as given; ``"auto"`` is the first CUDA device when
there is one, else the CPU; ``None`` is the device the model's parameters are on (the CPU for a freshly
loaded model), so that a model in the middle of training on a GPU stays there.

Precision rule: ``"auto"`` (the default, also for ``None``) is bf16 where the device runs it natively (a GPU that
supports it, a CPU with AVX512-BF16 or AMX: :func:`seq2expr.hardware.native_bf16`) and ``"32"`` elsewhere;
``"32"`` runs in float32, exactly; ``"bf16"`` / ``"16"`` run the forward passes under ``torch.autocast`` in
bfloat16 / float16 (weights stay float32, outputs come back as float32). Native bf16 is about 2-3x faster at ~3
significant digits; an explicit ``"bf16"`` where it is emulated still runs, with a warning (13-49x slower than
float32 on an AVX2 CPU). The resolved precision is logged once per process and device kind, when the first
forward pass (or training) starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import nn

from seq2expr.hardware import describe_device, native_bf16

log = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None = None, model: nn.Module | None = None) -> torch.device:
    """The device to run on (see the module's rule); an explicit device must exist here (:func:`check_device`)."""
    if device is None:
        p = next(model.parameters(), None) if model is not None else None
        return p.device if p is not None else torch.device("cpu")
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return check_device(device)


def available_devices() -> list[str]:
    """The devices present: ``cpu``, then ``cuda:0``... and ``mps`` where there are such."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{k}" for k in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` if it names a device present here; else a ``ValueError`` in one line that
    says what is available (``no CUDA device here; available: cpu``), instead of torch's assertion later."""
    if isinstance(device, torch.device) and device.type in ("cpu", "meta"):
        return device
    here = ", ".join(available_devices())
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {str(device)!r} is not a device; use cpu, cuda, cuda:N, mps or auto (available "
                         f"here: {here})") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"device {str(device)!r}: no CUDA device here; available: {here}")
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"device {str(device)!r}: there are {n} CUDA device(s) here; available: {here}")
    elif dev.type == "mps":
        if "mps" not in available_devices():
            raise ValueError(f"device {str(device)!r}: no MPS device here; available: {here}")
    elif dev.type not in ("cpu", "meta"):
        raise ValueError(f"device {str(device)!r}: not available here; available: {here}")
    return dev


def check_accelerator(accelerator: str, devices: int | str = 1) -> None:
    """A training accelerator (Lightning's name: ``auto``, ``cpu``, ``gpu``/``cuda``, ``mps``) that is present,
    with as many devices as asked for: checked before a run starts, in one line."""
    name = str(accelerator).lower()
    here = ", ".join(available_devices())
    if name in ("gpu", "cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"train.accelerator={accelerator}: no CUDA device here; available: {here}")
        if isinstance(devices, int) and devices > n:
            raise ValueError(f"train.devices={devices}: only {n} CUDA device(s) here; available: {here}")
    elif name == "mps" and "mps" not in available_devices():
        raise ValueError(f"train.accelerator={accelerator}: no MPS device here; available: {here}")


@contextmanager
def model_state(model: nn.Module, device: torch.device, *, grad: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode on ``device`` (parameters frozen unless ``grad``), then restore mode, device
    and each parameter's ``requires_grad``: any function may be called on a model in the middle of training."""
    was_training = model.training
    p = next(model.parameters(), None)
    orig_device = p.device if p is not None else None
    flags = [q.requires_grad for q in model.parameters()]
    try:
        model.eval().to(device)
        for q in model.parameters():
            q.requires_grad_(grad)
        yield model
    finally:
        for q, f in zip(model.parameters(), flags, strict=True):
            q.requires_grad_(f)
        if orig_device is not None:
            model.to(orig_device)
        model.train(was_training)


def device_list(devices: str | int) -> list[str]:
    """Devices for a multi-process run: a count (the first N GPUs, or N CPU processes without a GPU) or a comma-
    separated list (``cuda:0,cuda:2``)."""
    text = str(devices).strip()
    if text.isdigit():
        n = int(text)
        if n < 1:
            raise ValueError(f"--devices must be at least 1, not {n}")
        gpus = torch.cuda.device_count()
        if gpus:
            if n > gpus:
                raise ValueError(f"--devices {n}: only {gpus} GPU(s) here")
            return [f"cuda:{k}" for k in range(n)]
        return ["cpu"] * n
    return [str(check_device(d.strip())) for d in text.split(",") if d.strip()]


_PRECISIONS = {"32": None, "32-true": None, "fp32": None, "bf16": torch.bfloat16, "bf16-mixed": torch.bfloat16,
               "16": torch.float16, "16-mixed": torch.float16, "fp16": torch.float16}
_said: set[tuple[str, str]] = set()  # (requested, device kind) already logged or warned about
_pending: dict[tuple[str, str], tuple[int, str]] = {}  # resolved, not yet said: (log level, message)


def check_precision(precision: str | int | None) -> str:
    """The canonical name (``"auto"``, ``"32"``, ``"bf16"``, ``"16"``) of an inference precision (``None`` is
    ``"auto"``); Lightning's names work too."""
    name = "auto" if precision is None else str(precision)
    if name == "auto":
        return name
    if name not in _PRECISIONS:
        raise ValueError(f"precision must be one of auto, 32, bf16, 16 (or "
                         f"{', '.join(k for k in _PRECISIONS if '-' in k)}), not {precision!r}")
    dtype = _PRECISIONS[name]
    return "32" if dtype is None else ("bf16" if dtype == torch.bfloat16 else "16")


def resolve_precision(precision: str | int | None, device: torch.device | str | None = None) -> str:
    """The precision forward passes on ``device`` run at: ``"32"``, ``"bf16"`` or ``"16"`` (see the module's
    rule). Silent: what ``auto`` became (and, for an explicit bf16 where it is emulated, a warning) is said once per
    process and device kind by :func:`say_precision`, when the first forward pass starts (:func:`autocast`), so that
    a command whose input turns out broken prints its error line alone."""
    name = check_precision(precision)
    dev = torch.device(device if device is not None else "cpu")
    native = native_bf16(dev)
    resolved = ("bf16" if native else "32") if name == "auto" else name
    key = (name, dev.type)
    if key not in _said and key not in _pending:
        if name == "bf16" and not native:
            _pending[key] = (logging.WARNING, f"precision bf16 on "
                             f"{describe_device(dev) if dev.type == 'cpu' else dev}: bf16 is emulated here, expect it "
                             f"to run several times slower than 32 (use auto or 32)")
        elif name == "auto":
            why = "native bf16" if native else "no native bf16"
            _pending[key] = (logging.INFO, f"precision auto -> {resolved} on {dev.type} ({why})")
    return resolved


def say_precision() -> None:
    """Log what :func:`resolve_precision` decided and has not said yet (each message once per process)."""
    for key in list(_pending):
        level, message = _pending.pop(key)
        _said.add(key)
        log.log(level, message)


def training_precision(precision: str, accelerator: str = "auto") -> str:
    """Lightning's precision for a training run: ``auto`` -> ``bf16-mixed`` where the device Lightning will pick
    for ``accelerator`` runs bf16 natively, else ``32``; an explicit choice is kept (warned about where emulated)."""
    acc = str(accelerator).lower()
    dev = "cuda" if acc in ("gpu", "cuda") or (acc == "auto" and torch.cuda.is_available()) else \
        "cpu" if acc in ("cpu", "auto") else None
    if dev is None:  # another accelerator (mps, tpu...): no rule here, float32 unless asked
        return "32" if precision == "auto" else precision
    name = {"auto": "auto", "32": "32", "bf16-mixed": "bf16", "16-mixed": "16"}[precision]
    resolved = resolve_precision(name, dev)
    say_precision()  # training starts now
    return {"32": "32", "bf16": "bf16-mixed", "16": "16-mixed"}[resolved]


def autocast(precision: str | int | None, device: torch.device) -> AbstractContextManager:
    """A context that runs forward passes on ``device`` at ``precision`` (see the module's rule)."""
    dtype = _PRECISIONS[resolve_precision(precision, device)]
    say_precision()  # the first forward pass starts now
    if dtype is None:
        return nullcontext()
    if dtype == torch.float16 and device.type == "cpu":
        raise ValueError("precision 16 (float16) needs a GPU; on a CPU use bf16")
    return torch.autocast(device_type=device.type, dtype=dtype)
