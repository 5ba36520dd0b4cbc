"""The whole prediction contract as one module, and that module as a graph that runs without seq2expr.

What :func:`~seq2expr.inference.predict` returns is assembled around the network: the strand average (inside the
network for ``legnet2022``, in the readout for the others), the ensemble mean, the inverse target transform
(float64) or the sigmoid of a classifier. Exporting the bare network would give other numbers silently, so
:func:`contract_module` puts all of it in one ``nn.Module`` (one-hot ``(N, 4, L)`` float32 -> ``(N, K)`` float32,
what ``predict`` returns), :func:`export_program` traces it with ``torch.export`` (the batch size left free) and
:func:`onnx_model` converts the traced program to ONNX. Where an op cannot be exported, either fails with one line
naming it; an architecture whose prediction needs something outside its weights is refused by name
(:func:`export_blocker`).

The ONNX Runtime engine (:mod:`seq2expr.inference.engine`) and ``seq2expr models export``
(:mod:`seq2expr.convert.export`) both build their graphs here.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from seq2expr.data.errors import DataError
from seq2expr.inference.fold import fold_batchnorm
from seq2expr.inference.inputs import as_module
from seq2expr.inference.readout import Readout, ReadoutModule
from seq2expr.inference.saved import SavedModel

ONNX_OPSET = 18  # read by ONNX Runtime >= 1.14, onnxruntime-web and the other runtimes of 2023 on
INPUT_NAME, OUTPUT_NAME = "onehot", "prediction"
EXPORT_EXTRA = "pip install 'seq2expr[export]'"

# architectures whose prediction needs more than their weights, by registry name: module -> the reason, or None
_BLOCKERS: dict[str, Callable[[nn.Module], str | None]] = {
    "lm_cnn": lambda m: ("lm_cnn in mode 'lm' runs an external DNA language model (a Python tokenizer and a "
                         "transformer outside its weights, cached per sequence): not exportable (mode 'kmer' is)"
                         if getattr(m, "mode", None) == "lm" else None),
}


def export_blocker(net: nn.Module) -> str | None:
    """Why ``net`` (or an ensemble member) cannot be exported at all, or None."""
    for m in net.modules():
        check = _BLOCKERS.get(getattr(type(m), "registry_name", ""))
        reason = check(m) if check is not None else None
        if reason:
            return reason
    return None


def contract_module(model: SavedModel | nn.Module, readout: Readout | None = None) -> nn.Module:
    """``predict``'s whole computation as one eval-mode module: one-hot ``(N, 4, L)`` float32 -> ``(N, K)``.

    ``readout`` (default: every target, strands as trained, the original scale for a saved model) is applied as
    ``predict`` applies it: network (batch norm folded, as ``predict`` runs it; an ensemble's mean inside it) ->
    strand average -> scale (the inverse transform in float64, the sigmoid of a classifier) -> targets.
    A model whose prediction needs something outside its weights is refused (:func:`export_blocker`).
    """
    net = as_module(model)
    reason = export_blocker(net)
    if reason:
        raise DataError(reason)
    bound = (readout or Readout(scale="original" if isinstance(model, SavedModel) else "model")).resolve(model)
    return ReadoutModule(fold_batchnorm(net), bound).eval()


def example_input(seq_len: int, rows: int = 2) -> torch.Tensor:
    """A one-hot batch to trace with (``rows`` > 1 so the batch size is not fixed at 1)."""
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 4, (rows, seq_len), generator=g)
    return torch.nn.functional.one_hot(codes, 4).transpose(1, 2).float()


def export_program(module: nn.Module, seq_len: int) -> torch.export.ExportedProgram:
    """``module`` traced by ``torch.export`` for one-hot input of ``seq_len`` positions and any batch size, or a
    :class:`ValueError` of one line naming what could not be traced."""
    batch = torch.export.Dim("batch", min=1)
    try:
        with quiet_exporters(), torch.no_grad():
            return torch.export.export(module, (example_input(seq_len),), dynamic_shapes=({0: batch},))
    except Exception as err:  # torch.export raises many kinds; each becomes one line
        raise ValueError(f"torch.export cannot trace {_name(module)}: {one_line(err)}") from None


def onnx_model(program: torch.export.ExportedProgram, opset: int = ONNX_OPSET) -> Any:
    """The traced program as an ONNX ``ModelProto`` (input ``onehot``, output ``prediction``, batch free), or a
    :class:`ValueError` of one line naming the op ONNX has no translation for."""
    try:
        import onnx  # noqa: F401  (the exporter needs it; say so in one line when it is missing)
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ValueError(f"exporting to ONNX needs onnx and onnxscript: {EXPORT_EXTRA} ({err})") from None
    try:
        with quiet_exporters():
            onnx_program = torch.onnx.export(program, dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                                             output_names=[OUTPUT_NAME], verbose=False, optimize=True)
    except Exception as err:
        raise ValueError(f"ONNX cannot express the graph: {one_line(err)}") from None
    return onnx_program.model_proto


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CLASS = re.compile(r"^<class '[\w.]+'>: ")
_OPS = (re.compile(r"op='([\w.]+)'"), re.compile(r"target=torch\.ops\.([\w.]+?)(?:\.default)?\b"),
        re.compile(r"(aten[.:]{1,2}\w+(?:\.\w+)?)"))


def one_line(err: BaseException) -> str:
    """An exporter's error as one line: the op it names, then the first line of its own summary."""
    text = _ANSI.sub("", str(err)).strip()
    summary = text.split("## Exception summary", 1)[-1]
    first = next((_CLASS.sub("", line.strip()) for line in summary.splitlines() if line.strip()), type(err).__name__)
    op = next((m.group(1) for pattern in _OPS if (m := pattern.search(text))), None)
    head = f"op {op}: " if op else ""
    return " ".join(f"{head}{first}".split())[:300]


def _name(module: nn.Module) -> str:
    net = getattr(module, "net", module)
    members = getattr(net, "members", None)
    inner = members[0] if members is not None else net
    return f"the {getattr(type(inner), 'registry_name', type(inner).__name__)} model"


@contextmanager
def quiet_exporters() -> Iterator[None]:
    """The exporters' own chatter (missing torchvision ops, pytree deprecations) kept off the user's terminal."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
