"""Prediction: the one function every layer predicts through, and its streaming form for files of any size.

* :func:`predict` runs a saved model (or a bare ``nn.Module``) over strings, uint8 codes or one-hot arrays,
  in batches, averaging forward and reverse-complement outputs as the model was trained, and returns values
  on the original measurement scale (probabilities for classification) or the model's own scale.
* :func:`predict_file` streams a table or FASTA into a TSV written atomically; memory does not grow with it.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seq2expr.atomic import atomic_path
from seq2expr.data.errors import DataError
from seq2expr.data.io.tables import file_kind
from seq2expr.files import fault_point
from seq2expr.inference.compute import Compute, compute_of
from seq2expr.inference.device import autocast, model_state
from seq2expr.inference.engine import engine_setup, onnxruntime_forward
from seq2expr.inference.fold import folded
from seq2expr.inference.inputs import (
    Inputs,
    as_array,
    as_module,
    batch_onehot,
    config_of,
    encode_for,
    length_note,
    off_length,
)
from seq2expr.inference.readout import Readout, as_readout
from seq2expr.inference.saved import SavedModel, SavedModelConfig, Scale, load_model
from seq2expr.inference.shard import Shard, write_sidecar
from seq2expr.outputs import check_output
from seq2expr.progress import track
from seq2expr.tsv import TsvWriter

log = logging.getLogger(__name__)

# most rows per forward pass on a CPU, and the most bytes its largest activation may take: passes beyond either
# overflow the caches and page-fault fresh memory for every layer (bench/results/cpu_passes.md)
CPU_FORWARD_ROWS = 128
CPU_PASS_BYTES = 16 * 2**20

_ROWS: weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()


def _largest_activation(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the largest tensor any sub-module of ``model`` outputs for the input ``x``."""
    big = [0]

    def hook(_module, _inputs, out) -> None:
        for t in out if isinstance(out, tuple | list) else (out,):
            if torch.is_tensor(t):
                big[0] = max(big[0], t.numel() * t.element_size())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return big[0]


def cpu_forward_rows(model: nn.Module, x: torch.Tensor) -> int:
    """Rows per CPU forward pass of ``model`` on inputs shaped like ``x``: a power of two, at most
    :data:`CPU_FORWARD_ROWS`, whose largest activation stays within :data:`CPU_PASS_BYTES`.

    Measured once per model, input shape, dtype and autocast state (one forward pass of one row, hooks on every
    module). Why by bytes: the best pass size shrinks with the activations, e.g. LegNet on this machine's CPU runs
    best at 64 rows of 110 bp (14 MB) but 16 rows of 440 bp (14 MB), the default ``cnn`` at 128 rows of 110 bp.
    A model in training mode is not run (batch norm would update): it gets :data:`CPU_FORWARD_ROWS`.
    """
    if model.training or x.dim() < 1 or len(x) == 0:
        return CPU_FORWARD_ROWS
    key = (tuple(x.shape[1:]), x.dtype, torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))
    cache = _ROWS.setdefault(model, {})
    if key not in cache:
        per_row = max(1, _largest_activation(model, x[:1]))
        rows = 1
        while rows * 2 <= CPU_FORWARD_ROWS and rows * 2 * per_row <= CPU_PASS_BYTES:
            rows *= 2
        cache[key] = rows
    return cache[key]


def forward_in_parts(fn, x: torch.Tensor, *, model: nn.Module | None = None) -> torch.Tensor:
    """``fn(x)`` computed in passes of :func:`cpu_forward_rows` rows when ``x`` is on a CPU, concatenated.

    ``model`` is the network ``fn`` runs (``fn`` itself when it is a module; without either, passes of
    :data:`CPU_FORWARD_ROWS` rows). Why: a forward pass's activations must fit the caches; LegNet runs ~2.5x
    slower per sequence at 2,048 rows than at 128, and ~1.2x faster at 64 than at 128 on this machine's CPU.
    Row-wise functions only (eval mode): the result equals one pass.
    """
    if x.device.type != "cpu":
        return fn(x)
    net = model if model is not None else fn if isinstance(fn, nn.Module) else None
    rows = cpu_forward_rows(net, x) if net is not None else CPU_FORWARD_ROWS
    if len(x) <= rows:
        return fn(x)
    return torch.cat([fn(part) for part in x.split(rows)])


@torch.inference_mode()
def predict(model: SavedModel | nn.Module, X: Inputs, *, readout: Readout | str | None = None,
            compute: Compute | None = None, batch_size: int | None = None, device: str | torch.device | None = None,
            rc_average: bool | None = None, scale: Scale | None = None, n_value: float | None = None,
            precision: str | None = None, engine: str | None = None, strict_length: bool = False) -> np.ndarray:
    """Predictions ``(N, K)`` float32 for sequences (a list, or a DataFrame's sequence column), ``(N, L)`` uint8
    codes or ``(N, 4, L)`` one-hot.

    Sequences of another length than the model takes are padded or truncated by its policy, counted in one warning;
    ``strict_length`` refuses them instead (one :class:`~seq2expr.data.errors.DataError` line).

    ``readout`` (:class:`~seq2expr.inference.readout.Readout`, or its text: :meth:`Readout.parse`) says which
    outputs, strands, scale and transform; without one, every target: a :class:`SavedModel` (strings are encoded
    with its policy) averages strands as trained and gives the ``"original"`` scale, a bare ``nn.Module`` its raw
    outputs on one strand. ``rc_average`` and ``scale`` are the older spelling of a readout's ``strands`` and
    ``scale`` (:func:`~seq2expr.inference.readout.as_readout`).
    ``device`` and ``precision`` (``"auto"``, the default: bf16 where the device runs it natively, else float32;
    ``"32"``, exact; ``"bf16"``, ``"16"``): see :mod:`seq2expr.inference.device`. The model is put back in its
    previous mode and device. A memmap is read one batch at a time; per batch there is one vectorised one-hot,
    and forward passes (two with strand averaging) of :func:`cpu_forward_rows` rows on a CPU, where larger passes
    overflow the caches (LegNet runs ~1.7x slower per sequence at 512 rows than at 64). The passes run on
    :func:`~seq2expr.inference.fold.folded` (batch norm inside the convolutions, the same function).
    ``engine="onnxruntime"`` runs the same passes as an ONNX graph on the CPU in float32
    (:mod:`seq2expr.inference.engine`), a batch at a time. ``compute`` (:class:`~seq2expr.inference.compute.Compute`)
    carries device, precision, batch size (default 512) and engine at once; the keywords are its spellings.
    """
    cfg = config_of(model)
    net = as_module(model)
    bound = as_readout(readout, rc_average=rc_average, scale=scale, saved=cfg is not None).resolve(model)
    nv = (cfg.policy.n_value if cfg is not None else 0.0) if n_value is None else n_value
    data = as_array(model, X, strict_length=strict_length)
    ctx = compute_of(compute, batch_size=batch_size, device=device, precision=precision, engine=engine).resolve(net)
    dev, batch_size = ctx.device, ctx.batch(512)
    outs = []
    with model_state(net, dev), autocast(ctx.precision, dev):
        run = onnxruntime_forward(net, bound.rc_average, data.shape[-1], bound.positions) \
            if ctx.engine == "onnxruntime" and len(data) else None
        net = folded(net)  # batch norm inside the convolutions: the same function, one pass fewer per layer
        for start in track(range(0, len(data), batch_size), description="predict"):
            x = batch_onehot(data[start:start + batch_size], nv).to(dev)
            out = run(x) if run is not None else \
                forward_in_parts(lambda part: bound.network(net, part).float(), x, model=net).cpu()
            outs.append(out[:, None] if out.ndim == 1 else out)
    if outs:
        raw = torch.cat(outs).numpy()
    else:
        raw = np.zeros((0, cfg.model.n_targets if cfg is not None else int(getattr(net, "n_targets", 1))), np.float32)
    return bound.values(raw)


def input_columns(model: SavedModel | SavedModelConfig, path: str | Path, sequence_column: str | None = None,
                  id_column: str | None = None) -> tuple[str, str | None]:
    """Sequence and ID columns to read ``path`` with: the caller's, else the training run's when ``path`` has them.

    A model trained on a table with ``Sequence``/``ID`` columns then predicts, evaluates and explains tables of
    the same layout without restating them; otherwise ``sequence``, and the IDs of a column named ``id`` or ``ID``
    (row numbers only when there is none).
    """
    if sequence_column and id_column:
        return sequence_column, id_column
    from seq2expr.data.io.tables import table_columns

    data = config_of(model).data
    header = set(table_columns(path))
    seq = sequence_column or (data.sequence_column if data.sequence_column in header else "sequence")
    ids = id_column or (data.id_column if data.id_column in header else
                        next((c for c in ("id", "ID") if c in header), None))
    return seq, ids


def column_options(model: SavedModel | SavedModelConfig, sequence_column: str | None = None,
                   id_column: str | None = None) -> Callable[[Path], dict[str, str | None]]:
    """:func:`input_columns` as the ``file_options`` of :func:`seq2expr.data.inputs.read_inputs`: a file is read
    with the caller's columns, else the training run's when the file has them."""

    def options(path: Path) -> dict[str, str | None]:
        seq, ids = input_columns(model, path, sequence_column, id_column)
        return {"sequence_column": seq, "id_column": ids}

    return options


def write_prediction_table(out_path: str | Path, chunks: Iterable[tuple[Sequence[str], np.ndarray]],
                           columns: list[str]) -> int:
    """Write ``id, <columns...>`` rows from ``(ids, predictions)`` chunks to a TSV, atomically; returns rows.

    Each chunk is formatted in one pandas call (values as ``%.6g``, :class:`seq2expr.tsv.TsvWriter`).
    """
    import pandas as pd

    with atomic_path(out_path) as tmp, open(tmp, "w", newline="") as fh:
        table = TsvWriter(fh, ["id", *columns])
        for ids, pred in chunks:
            pred = np.asarray(pred).reshape(len(pred), -1)
            if len(ids) != len(pred):
                raise ValueError(f"{len(ids)} IDs for {len(pred)} predictions")
            frame = pd.DataFrame(pred, columns=columns)
            frame.insert(0, "id", np.asarray(ids))
            table.write(frame)
    return table.rows


def check_sizes(**sizes: int) -> None:
    """Batch, chunk and similar sizes must be whole numbers >= 1 (0 would mean: do nothing, or loop forever)."""
    for name, value in sizes.items():
        if value is None or int(value) < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")


class UniqueIds:
    """Refuses a record ID seen before in a stream of chunks (:class:`DataError` naming the first duplicate).

    Holds a 64-bit hash per ID (8 bytes a record), so a stream of any length is checked in bounded memory per
    record; sorted runs are merged as they accumulate.
    """

    def __init__(self, source: str):
        self.source, self.runs = source, []

    def add(self, ids) -> None:
        import pandas as pd

        ids = np.asarray(ids).astype(str)
        if not len(ids):
            return
        h = pd.util.hash_array(ids.astype(object))
        order = np.argsort(h, kind="stable")
        hs = h[order]
        repeats = order[1:][hs[1:] == hs[:-1]]  # a stable sort: each repeat comes after its first occurrence
        hit = [int(repeats.min())] if repeats.size else []
        for run in self.runs:
            pos = np.searchsorted(run, h).clip(max=len(run) - 1)
            seen = np.flatnonzero(run[pos] == h)
            if seen.size:
                hit.append(int(seen[0]))
        if hit:
            first = ids[min(hit)]
            raise DataError(f"duplicate ID {str(first)!r}: the output rows could not be told apart (IDs must be "
                            "unique; --allow-duplicates / allow_duplicates=True predicts them anyway)",
                            source=self.source, record=str(first))
        self.runs.append(hs)
        if len(self.runs) > 8:
            self.runs = [np.sort(np.concatenate(self.runs))]


def _input_parts(saved: SavedModel, input_path: str | Path, chunk_size: int, id_column: str | None,
                 sequence_column: str | None) -> tuple[Callable[[], Iterable], str | None, bool]:
    """``predict_file``'s input: a function giving its chunks ``(ids, sequences, labels, source)``, the ID column
    and whether it is a registry data set."""
    from seq2expr.data.inputs import dataset_input
    from seq2expr.data.io.tables import iter_sequence_chunks

    records = dataset_input(input_path)
    if records is not None:
        return lambda: [(records.ids, records.sequences, records.labels(), records.source)], id_column, True
    sequence_column, id_column = input_columns(saved, input_path, sequence_column, id_column)
    return (lambda: ((ids, seqs, list(ids), str(input_path))
                     for ids, seqs in iter_sequence_chunks(input_path, chunk_size, id_column, sequence_column)),
            id_column, False)


def predict_file(model: SavedModel | str | Path, input_path: str | Path, out_path: str | Path, *,
                 batch_size: int | None = None, chunk_size: int = 100_000, id_column: str | None = None,
                 sequence_column: str | None = None, device: str | torch.device | None = None,
                 readout: Readout | str | None = None, scale: Scale | None = None, precision: str | None = None,
                 shard: Shard | str | None = None, allow_duplicates: bool = False, engine: str | None = None,
                 strict_length: bool = False, compute: Compute | None = None) -> int:
    """Stream ``input_path`` (table or FASTA, or a registry data set ``NAME[:SUBSET]``) through a saved model into
    a TSV ``id, <output...>``.

    ``readout`` (a :class:`~seq2expr.inference.readout.Readout` or its text, e.g. ``"NAME"``, ``"A,B"``,
    ``"diff:A,B"``) says which outputs, as in :func:`predict`; the columns are named after them (the chosen targets'
    names, ``A-B``, ``mean(A,B)``; every target: the model's published names). ``scale`` is the older spelling of
    the readout's scale (:func:`~seq2expr.inference.readout.as_readout`).

    Reads ``chunk_size`` records at a time, so memory does not grow with the input; the output appears
    only when complete (atomic rename). Returns the number of rows written. Columns default as in
    :func:`input_columns`. ``shard="K/N"`` predicts only the K-th of N contiguous parts of the input (and
    records which, for :func:`~seq2expr.inference.shard.merge_tables`); see :mod:`seq2expr.inference.shard`.

    The output may not be, hold or lie inside the model folder or the input (:func:`seq2expr.outputs.check_output`).
    Record IDs must be unique, or the output rows could not be told apart: the first duplicate is an error
    unless ``allow_duplicates``. ``engine``: ``torch`` or ``onnxruntime`` (:func:`predict`); ``compute`` carries
    device, precision, batch size and engine at once (:class:`~seq2expr.inference.compute.Compute`). Sequences the
    model's policy pads or truncates are counted in one warning at the end, or refused with ``strict_length``.
    """
    check_output(out_path, [model, input_path], command="predict")
    ctx = compute_of(compute, batch_size=batch_size, device=device, precision=precision, engine=engine)
    check_sizes(batch_size=512 if ctx.batch_size is None else ctx.batch_size, chunk_size=chunk_size)
    engine_setup(ctx.engine, ctx.device, ctx.precision)  # a wrong engine, device or precision before anything is read
    saved = load_model(model)
    chosen = as_readout(readout, scale=scale)
    bound = chosen.resolve(saved)  # a wrong target before anything is read
    every = bound.columns is None and chosen.transform is None
    names = saved.config.output_names if every else bound.names()
    part = Shard.parse(shard)
    parts, id_column, spec = _input_parts(saved, input_path, chunk_size, id_column, sequence_column)
    ctx = ctx.resolve(saved)  # once: every chunk predicts with the same device and precision
    # row numbers are unique by construction; IDs read from the input are checked as the chunks stream by
    unique = None if allow_duplicates or spec or (id_column is None and file_kind(input_path) != "fasta") \
        else UniqueIds(str(input_path))

    lo, hi, total = 0, None, None
    bs = ctx.batch(512)
    if part is not None:  # a first pass counts the records (reading is cheap next to predicting)
        total = sum(len(ids) for ids, *_ in parts())
        lo, hi = part.range(total, align=bs)

    def chunks():
        start = 0
        for ids, seqs, labels, source in track(parts(), description="predict chunks"):
            if unique is not None:
                unique.add(ids)
            end = start + len(ids)
            first = start
            if hi is not None:  # keep this shard's records [lo, hi) of the chunk [start, end)
                a, b = max(lo, start) - start, min(hi, end) - start
                first, start = start + a, end
                if b <= a:
                    continue
                ids, seqs, labels = ids[a:b], seqs[a:b], labels[a:b]
            else:
                start = end
            off.update(off_length(seqs, saved.config))
            codes = encode_for(saved, seqs, ids=labels, source=source, strict_length=strict_length, warn=False)
            del seqs  # hold only IDs and predictions while the next chunk is read
            # batches start at multiples of batch_size of the whole input, whatever the chunk or shard bounds:
            # a batch holds the same sequences in any run, so shards merge to the single run's exact numbers
            cuts = [0, *range(-first % bs or bs, len(codes), bs), len(codes)]
            pieces = [predict(saved, codes[a:b], readout=chosen, compute=ctx) for a, b in pairwise(cuts) if b > a]
            if pieces:
                yield ids, np.concatenate(pieces)
                fault_point("chunk")  # a test hook: a kill or a signal with part of the output written

    off: Counter = Counter()  # lengths the policy padded or truncated, over every chunk
    rows = write_prediction_table(out_path, chunks(), names)
    if off:
        log.warning("%s (%s)", length_note(off, saved.config), input_path)
    if part is not None:
        write_sidecar(out_path, part, input=str(input_path), records=total, lo=lo, hi=hi, rows=rows)
    return rows
