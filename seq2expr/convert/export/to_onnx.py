"""Format ``onnx``: the contract module as an ONNX graph (``model.onnx``, opset
:data:`~seq2expr.inference.contract.ONNX_OPSET`), run by ONNX Runtime (or any ONNX runtime: a web page, Java, C++,
R). The weights are inside the file (no external data), so the folder moves as one."""

from __future__ import annotations

from pathlib import Path

import torch

from seq2expr.convert.export.registry import Runner, register_exporter
from seq2expr.inference.contract import ONNX_OPSET, onnx_model
from seq2expr.inference.engine import onnxruntime_session, run_session


@register_exporter("onnx")
class OnnxExporter:
    """``model.onnx``: input ``onehot`` ``(batch, 4, L)`` float32, output ``prediction`` ``(batch, K)`` float32."""

    file = "model.onnx"
    runtime = "onnxruntime"

    def write(self, program: torch.export.ExportedProgram, path: Path) -> None:
        import onnx

        proto = onnx_model(program)
        onnx.checker.check_model(proto)
        onnx.save_model(proto, str(path))

    def runner(self, path: Path) -> Runner:
        session = onnxruntime_session(Path(path))
        return lambda x: run_session(session, x)

    def versions(self) -> dict[str, str]:
        import onnx
        import onnxruntime

        return {"torch": torch.__version__, "onnx": onnx.__version__, "onnx_opset": str(ONNX_OPSET),
                "onnxruntime_tested": onnxruntime.__version__}
