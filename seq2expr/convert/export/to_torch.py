"""Format ``torch``: the contract module as a ``torch.export`` ExportedProgram (``model.pt2``). It loads with
``torch.export.load`` alone (no seq2expr, no pickled classes: the graph of ATen ops and its weights) and runs as
``torch.export.load(path).module()(onehot)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seq2expr.convert.export.registry import Runner, register_exporter
from seq2expr.inference.contract import quiet_exporters


@register_exporter("torch")
class TorchExporter:
    """``model.pt2``: one positional input, one-hot ``(batch, 4, L)`` float32 -> ``(batch, K)`` float32."""

    file = "model.pt2"
    runtime = "torch"

    def write(self, program: torch.export.ExportedProgram, path: Path) -> None:
        with quiet_exporters():
            torch.export.save(program, str(path))

    def runner(self, path: Path) -> Runner:
        with quiet_exporters():
            module = torch.export.load(str(path)).module()

        def run(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()

        return run

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}
