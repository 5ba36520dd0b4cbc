"""Engines that run a model's forward passes for :func:`~seq2expr.inference.predict`: ``torch`` (the default) or
``onnxruntime`` (CPU, float32).

The ``onnxruntime`` engine runs the same computation as the torch path (batch norm folded, strands averaged as
the readout says, the ensemble mean) as an ONNX graph built once per model by :mod:`seq2expr.inference.contract`
and kept while the weights stay the same; ``predict`` applies the readout's scale and targets to its output as it
does to torch's, so both engines give the same numbers within the float32 golden tolerance
(:data:`TOLERANCE`). Which engine is faster depends on the model and the CPU: ``bench/results/export.md``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seq2expr.inference.contract import EXPORT_EXTRA, INPUT_NAME, contract_module, export_program, onnx_model
from seq2expr.inference.positions import Positions
from seq2expr.inference.readout import Readout

ENGINES = ("torch", "onnxruntime")
# the largest difference an exported graph may show from `predict`, per precision, relative to max(1, |expected|)
TOLERANCE = {"32": 1e-5}

Forward = Callable[[torch.Tensor], torch.Tensor]
_SESSIONS: weakref.WeakKeyDictionary[nn.Module, dict[tuple, Any]] = weakref.WeakKeyDictionary()


def check_engine(engine: str | None) -> str:
    """``engine`` checked (``None``: ``torch``), or one line naming the choices."""
    engine = engine or "torch"
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return engine


def onnxruntime_session(model: bytes | str | Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session of a serialized model or a ``.onnx`` file, with ``threads`` intra-op threads
    (default: torch's thread count, so both engines use the same cores)."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ValueError(f"the onnxruntime engine needs onnxruntime: {EXPORT_EXTRA} ({err})") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_session(session: Any, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """One pass of an exported graph: one-hot ``(N, 4, L)`` float32 -> its output ``(N, K)``."""
    arr = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
    return session.run(None, {INPUT_NAME: np.ascontiguousarray(arr, dtype=np.float32)})[0]


def onnxruntime_forward(net: nn.Module, rc_average: bool, seq_len: int, positions: Positions | None = None
                        ) -> Forward:
    """The network's strand-averaged output (the model scale; a track model's at ``positions``) through ONNX
    Runtime, as the torch path computes it.

    The graph is exported once per network, strand rule and input length, and again only when a weight changes
    (the storage and version counters, as :func:`~seq2expr.inference.fold.folded` keys its copies).
    """
    try:
        weights = tuple((t.data_ptr(), t._version) for t in (*net.parameters(), *net.buffers()))
    except RuntimeError:  # inference tensors: no version counter; export afresh
        weights = None
    key = (bool(rc_average), int(seq_len), positions)
    cache = _SESSIONS.setdefault(net, {})
    hit = cache.get(key)
    if weights is None or hit is None or hit[0] != weights:
        readout = Readout(strands="average" if rc_average else "forward", scale="model", positions=positions)
        module = contract_module(net, readout)
        session = onnxruntime_session(onnx_model(export_program(module, seq_len)).SerializeToString())
        hit = (weights, session)
        if weights is not None:
            cache[key] = hit
    session = hit[1]
    return lambda x: torch.from_numpy(run_session(session, x))


def engine_setup(engine: str | None, device: str | torch.device | None, precision: str | None
                 ) -> tuple[str, str | torch.device | None, str | None]:
    """The engine, device and precision ``predict`` runs with: ``onnxruntime`` runs on the CPU in float32 (``auto``
    or no device and precision mean that); another device or precision is one line."""
    engine = check_engine(engine)
    if engine == "torch":
        return engine, device, precision
    if device not in (None, "auto") and torch.device(device).type != "cpu":
        raise ValueError(f"the onnxruntime engine runs on the CPU, not {device}; use --device cpu or --engine torch")
    if precision not in (None, "auto", "32"):
        raise ValueError(f"the onnxruntime engine computes in float32, not {precision}; use --precision 32 or "
                         "--engine torch")
    return engine, "cpu", "32"
