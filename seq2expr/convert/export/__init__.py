"""Models out of Python: ``seq2expr models export`` (ONNX, ``torch.export``) with ``contract.json`` and golden
outputs, and ``seq2expr models test`` (:mod:`seq2expr.convert.export.exporting`). Formats register themselves in
:mod:`seq2expr.convert.export.registry`, one module each (``to_onnx``, ``to_torch``), imported here."""

from seq2expr.convert.export.coverage import exportable_architectures
from seq2expr.convert.export.exporting import (
    GoldenResult,
    contract_summary,
    export_model,
    formats,
    read_contract,
    verify_export,
)
from seq2expr.convert.export.registry import EXPORTERS, exporters, get_exporter, register_exporter
from seq2expr.plugins import discover

__all__ = ["EXPORTERS", "GoldenResult", "contract_summary", "export_model", "exportable_architectures", "exporters",
           "formats", "get_exporter", "read_contract", "register_exporter", "verify_export"]

discover(__name__, __path__)
