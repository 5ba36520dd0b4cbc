"""``seq2expr models export MODEL -o DIR --format onnx|torch`` and ``seq2expr models test DIR``.

Export traces the whole prediction contract (:func:`~seq2expr.inference.contract.contract_module`) once with
``torch.export``, writes it in the chosen format, runs the written file on the golden sequences and compares it with
``predict`` (float32, torch): only a file within the tolerance is kept, with ``contract.json`` and the golden
vectors, in a folder that appears whole or not at all. ``models test`` runs a folder's golden vectors through its
file again, anywhere, and reports the largest difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from seq2expr.atomic import atomic_path
from seq2expr.convert.export.contract_file import (
    CONTRACT,
    ExportContract,
    GoldenSpec,
    Lineage,
    input_spec,
    output_spec,
)
from seq2expr.convert.export.golden import Difference, golden_sequences, largest_difference
from seq2expr.convert.export.registry import exporters, get_exporter
from seq2expr.data.errors import DataError
from seq2expr.data.sequences import one_hot
from seq2expr.download import sha256_file
from seq2expr.files import FileError, read_json, reading
from seq2expr.inference import Readout, SavedModel, encode_for, load_model, predict, trained_construct
from seq2expr.inference.contract import INPUT_NAME, OUTPUT_NAME, contract_module, export_program
from seq2expr.inference.engine import TOLERANCE
from seq2expr.inference.saved import CONFIG, WEIGHTS
from seq2expr.outputs import check_output, write_marker
from seq2expr.version import __version__

COMMAND = "models export"


def formats() -> list[str]:
    """The ``--format`` choices: every registered exporter."""
    return list(exporters())


def export_model(model: str | Path | SavedModel, out: str | Path, *, format: str = "onnx",
                 scale: str = "original", force: bool = False) -> Path:
    """Export ``model`` (a folder, ``zoo:NAME`` or a loaded :class:`SavedModel`) to the folder ``out``: the graph
    file, ``contract.json``, ``golden.npz`` and ``golden.tsv``. ``scale``: ``original`` (what ``predict``
    returns) or ``model`` (the network's own scale, ``predict --scale model``). A graph whose outputs on the golden
    sequences differ from ``predict`` by more than the tolerance is refused (one line, nothing written)."""
    exporter = get_exporter(format)
    Readout(scale=scale)  # a wrong scale is one line before anything is read
    inputs = [] if isinstance(model, SavedModel) else [model]
    check_output(out, [m for m in inputs if not str(m).startswith("zoo:")], command=COMMAND, folder=True,
                 force=force)
    saved = load_model(model)
    readout = Readout(scale=scale)
    names = readout.resolve(saved).names()
    own = trained_construct(saved)
    flanks = own[1:] if own is not None else None
    seqs, how = golden_sequences(saved, flanks)
    codes = encode_for(saved, seqs)
    onehot = one_hot(codes, saved.policy.n_value).numpy()
    expected = predict(saved, codes, readout=readout, precision="32", engine="torch")
    program = export_program(contract_module(saved, readout), saved.config.seq_len)
    ids = [f"golden_{i}" for i in range(len(seqs))]
    tolerance = TOLERANCE["32"]
    with atomic_path(out, is_dir=True) as tmp:
        exporter.write(program, tmp / exporter.file)
        diff = largest_difference(exporter.runner(tmp / exporter.file)(onehot), expected)
        if diff.value > tolerance:
            raise ValueError(f"the exported {format} graph does not reproduce predict: {diff.describe(ids, names)}, "
                             f"over the tolerance {tolerance:g}; nothing written")
        np.savez(tmp / "golden.npz", onehot=onehot, expected=expected)
        table = pd.DataFrame(expected.astype(np.float64), columns=names)
        table.insert(0, "sequence", seqs)
        table.insert(0, "id", ids)
        table.to_csv(tmp / "golden.tsv", sep="\t", index=False, float_format="%.9g")
        golden = GoldenSpec(n=len(seqs), tolerance=tolerance, sequences=how)
        contract = ExportContract(
            format=format, file=exporter.file, runtime=exporter.runtime, architecture=saved.config.model.name,
            params=saved.config.model.params, input=input_spec(saved, INPUT_NAME, flanks),
            output=output_spec(saved, OUTPUT_NAME, scale, names), golden=golden,
            lineage=_lineage(saved, model, [tmp / exporter.file, tmp / "golden.npz", tmp / "golden.tsv"]),
            exported_with={"seq2expr": __version__, **exporter.versions()})
        (tmp / CONTRACT).write_text(contract.to_json())
        write_marker(tmp, COMMAND)
    return Path(out)


def _lineage(saved: SavedModel, source: str | Path | SavedModel, files: list[Path]) -> Lineage:
    """The model's origin: the argument, its saved files' sha256, the card; the exported files' sha256."""
    folder = saved.path
    sha = {n: sha256_file(folder / n) if folder is not None and (folder / n).is_file() else None
           for n in (WEIGHTS, CONFIG)}
    name = str(source if not isinstance(source, SavedModel) else folder or "a model in memory")
    return Lineage(source=name, weights_sha256=sha[WEIGHTS], config_sha256=sha[CONFIG],
                   library_version=saved.config.library_version, card=saved.config.card,
                   fine_tuned_from=saved.config.lineage.model_dump(mode="json") if saved.config.lineage else None,
                   files={f.name: sha256_file(f) for f in files})


@dataclass(frozen=True)
class GoldenResult:
    """What ``models test`` found: the largest difference, the tolerance, whether the files are the exported ones."""

    difference: Difference
    tolerance: float
    n: int
    runtime: str
    line: str  # the one line to print
    changed: list[str]  # exported files whose sha256 is no longer contract.json's

    @property
    def passed(self) -> bool:
        return self.difference.value <= self.tolerance


def read_contract(folder: str | Path) -> ExportContract:
    """The ``contract.json`` of an export folder, or one line naming the file and the problem."""
    path = Path(folder) / CONTRACT
    if not path.is_file():
        raise FileError(path, f"missing: {folder} is not a `seq2expr {COMMAND}` folder")
    try:
        return ExportContract.model_validate(read_json(path))
    except ValidationError as err:
        first = err.errors()[0]
        raise DataError(f"{'.'.join(str(p) for p in first['loc']) or 'contract'}: {first['msg']}",
                        source=str(path)) from None


def verify_export(folder: str | Path) -> GoldenResult:
    """Run an export folder's golden inputs through its graph file with the format's runtime (ONNX Runtime for
    ``onnx``, torch for ``torch``) and compare with the expected outputs."""
    folder = Path(folder)
    contract = read_contract(folder)
    exporter = get_exporter(contract.format)
    golden = folder / contract.golden.file
    with reading(golden), np.load(golden) as arrays:
        onehot, expected = arrays["onehot"], arrays["expected"]
    file = folder / contract.file
    if not file.is_file():
        raise FileError(file, "missing: the export folder has lost its graph file")
    try:
        got = exporter.runner(file)(onehot)
    except Exception as err:  # noqa: BLE001 - whatever the runtime raises on a damaged file: one line naming it
        raise FileError(file, f"{exporter.runtime} cannot run it: {' '.join(str(err).split())[:300]}") from None
    diff = largest_difference(got, expected)
    names = [t.name for t in contract.output.targets]
    ids = [f"golden_{i}" for i in range(len(onehot))]
    changed = [n for n, h in contract.lineage.files.items() if (folder / n).is_file() and sha256_file(folder / n) != h]
    tol = contract.golden.tolerance
    verdict = "pass" if diff.value <= tol else "FAIL"
    line = (f"{verdict}: {diff.describe(ids, names)} over {len(onehot)} golden sequences, tolerance {tol:g} "
            f"({contract.golden.precision}-bit, {exporter.runtime})")
    return GoldenResult(diff, tol, len(onehot), exporter.runtime, line, changed)


def contract_summary(folder: str | Path) -> str:
    """One line about an export folder: format, architecture, input, outputs (for the CLI)."""
    c = read_contract(folder)
    return (f"{c.format} ({c.file}, run with {c.runtime}): {c.architecture}, input {c.input.name} "
            f"{json.dumps(c.input.shape)} float32, output {c.output.name} {[t.name for t in c.output.targets]} "
            f"({c.output.scale} scale)")
