"""Splitting a bulk job into N deterministic shards (one per task of a scheduler array) and joining their outputs.

Shard ``K/N`` (0-based) takes the contiguous records ``[K * n // N, (K + 1) * n // N)`` of an input of ``n``
records, so the shards' outputs, concatenated in shard order, are the single run's output in input order.
Prediction rounds the bounds to whole batches and batches at fixed multiples of the batch size, so every batch
holds the same sequences as in a single run and the merged numbers are the same to the last bit. Each
shard writes ``<output>.shard.json`` beside its output (which shard, of how many, of which input, which records);
:func:`merge_shards` checks that every shard of one job is there exactly once before joining them.

A Slurm array, for example::

    seq2expr predict MODEL big.tsv -o parts/p$SLURM_ARRAY_TASK_ID.tsv --shard $SLURM_ARRAY_TASK_ID/32
    seq2expr merge all.tsv parts/p*.tsv
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from seq2expr.atomic import atomic_path, write_json
from seq2expr.data.errors import DataError
from seq2expr.outputs import check_output

SIDECAR = ".shard.json"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, spec: str | Shard | None) -> Shard | None:
        """``"K/N"`` (0 <= K < N) or None."""
        if spec is None or isinstance(spec, Shard):
            return spec
        try:
            k, n = (int(v) for v in str(spec).split("/"))
        except ValueError:
            raise ValueError(f"--shard takes K/N (e.g. 0/4), not {spec!r}") from None
        if not 0 <= k < n:
            raise ValueError(f"--shard {spec}: K must be in 0..N-1")
        return cls(k, n)

    def range(self, n: int, align: int = 1) -> tuple[int, int]:
        """This shard's records ``[lo, hi)`` of ``n``; with ``align`` its bounds are multiples of it (but the end)."""
        def bound(k: int) -> int:
            return n if k == self.count else min(n, k * n // self.count // align * align)

        return bound(self.index), bound(self.index + 1)


def sidecar(output: str | Path) -> Path:
    return Path(str(output) + SIDECAR)


def write_sidecar(output: str | Path, shard: Shard, *, input: str, records: int, lo: int, hi: int,
                  rows: int) -> None:
    """Record which part of which input ``output`` holds (read by :func:`merge_shards`)."""
    write_json(sidecar(output), {**asdict(shard), "input": str(input), "records": int(records), "first": int(lo),
                                 "last": int(hi), "rows": int(rows), "output": Path(output).name})


def read_shards(parts: list[str | Path]) -> list[tuple[Path, dict]]:
    """The parts of one job in shard order; every shard ``0..N-1`` exactly once, of the same input."""
    found = []
    for p in map(Path, parts):
        meta_path = sidecar(p)
        if not meta_path.is_file():
            raise DataError(f"no {meta_path.name} beside it: not the output of a --shard run", source=str(p))
        try:
            meta = json.loads(meta_path.read_text())
            int(meta["index"]), int(meta["count"]), meta["input"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(f"unreadable shard record ({type(err).__name__}: {err})", source=str(meta_path)) from None
        found.append((p, meta))
    if not found:
        raise DataError("no shards to merge")
    count, source = found[0][1]["count"], found[0][1]["input"]
    for p, meta in found:
        if meta["count"] != count or meta["input"] != source:
            raise DataError(f"shard {meta['index']}/{meta['count']} of {meta['input']} does not belong with shard "
                            f"{found[0][1]['index']}/{count} of {source}", source=str(p))
    have = sorted(m["index"] for _, m in found)
    if have != list(range(count)):
        missing = sorted(set(range(count)) - set(have))
        twice = sorted({i for i in have if have.count(i) > 1})
        raise DataError(f"shards of {source}: " + "; ".join(
            s for s in (f"missing {missing}" if missing else "", f"given twice {twice}" if twice else "") if s))
    return sorted(found, key=lambda pm: pm[1]["index"])


def append_tsv(dst: BinaryIO, path: str | Path, header: bytes | None) -> tuple[bytes, int]:
    """Copy the TSV ``path`` onto ``dst`` as bytes: its header line only when ``header`` is None (the first part),
    else checked against it. Returns the header and the number of rows copied."""
    with open(path, "rb") as src:
        first = src.readline()
        if header is None:
            header = first
            dst.write(first)
        elif first != header:
            raise DataError("columns differ from the first shard's", source=str(path), record="header")
        lines = 0
        while chunk := src.read(1 << 20):
            dst.write(chunk)
            lines += chunk.count(b"\n")
    return header, lines


def merge_tables(out: str | Path, parts: list[str | Path]) -> int:
    """Join the TSV outputs of all shards of a job into ``out`` (header once, rows in input order), atomically;
    returns the number of rows. ``out`` may not be one of the parts (or their shard records)."""
    check_output(out, [*parts, *map(sidecar, parts)], command="merge")
    ordered = read_shards(parts)
    rows, header = 0, None
    with atomic_path(out) as tmp, open(tmp, "wb") as dst:
        for p, meta in ordered:
            header, lines = append_tsv(dst, p, header)
            if lines != int(meta["rows"]):
                raise DataError(f"{lines} rows where its shard record says {meta['rows']} (truncated?)", source=str(p))
            rows += lines
    return rows
