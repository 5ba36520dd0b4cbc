"""Read sequence tables (TSV/CSV, plain or gzip; parquet) and FASTA (+ a values table) into Records.

Every problem raises :class:`~seq2expr.data.errors.DataError` naming the file, the record (table line
counting the header as line 1, parquet row, or FASTA ID) and the reason; a file that cannot be read at all
(truncated, bad compression, binary, no permission) a :class:`~seq2expr.files.FileError` naming it.
Sequences are kept as raw strings; :func:`validate_sequences` checks them against a :class:`SequencePolicy`
(the encoder does the same check, so callers rarely need it separately).
:func:`iter_sequence_chunks` streams inputs of any size.
"""

from __future__ import annotations

import errno
import gzip
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.data.records import Records
from seq2expr.data.sequences import SequencePolicy, encode_one, ragged_lengths
from seq2expr.files import reading

FASTA_SUFFIXES = {".fa", ".fasta", ".fna", ".fas"}
TABLE_SUFFIXES = {".tsv": "\t", ".txt": "\t", ".tab": "\t", ".csv": ","}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_DNA = re.compile(r"^[ACGTNacgtnRYSWKMBDHVryswkmbdhv]{4,}$")
_N_SHOWN = 5
_VALIDATE_CHUNK = 65_536  # records checked per vectorised call


_EXPECTED = "expected a .tsv/.txt/.csv (optionally .gz), .parquet or .fa/.fasta/.fna file"


def _suffix(path: Path) -> str:
    """File kind suffix, ignoring a trailing ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bgz"):
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def file_kind(path: str | Path) -> str:
    """``fasta``, ``table`` or ``parquet`` from the file name."""
    if Path(path).is_dir():
        raise DataError(f"is a folder, not a file; {_EXPECTED}", source=str(path))
    suf = _suffix(Path(path))
    if suf in FASTA_SUFFIXES:
        return "fasta"
    if suf in PARQUET_SUFFIXES:
        return "parquet"
    if suf in TABLE_SUFFIXES:
        return "table"
    raise DataError(f"unknown file type {suf or '(no suffix)'!r}; {_EXPECTED}", source=str(path))


def _open_text(path: Path):
    """Text of a plain or gzip file; a UTF-8 byte-order mark (some spreadsheet exports) is dropped, as pandas does,
    so the first column's name is read the same way by every reader."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def _check_nonempty(path: Path) -> None:
    if not path.exists():
        if path.is_symlink():  # a loop, or a link to nothing
            try:
                path.resolve(strict=True)
            except (RuntimeError, OSError) as err:
                loop = isinstance(err, RuntimeError) or getattr(err, "errno", None) == errno.ELOOP
                raise DataError("is a symlink loop (its links lead back to themselves)" if loop else
                                "is a symlink to nothing (its target does not exist)", source=str(path)) from None
        raise DataError("file not found", source=str(path))
    if path.is_dir():
        raise DataError(f"is a folder, not a file; {_EXPECTED}", source=str(path))
    if path.stat().st_size == 0:
        raise DataError("empty file", source=str(path))


def _first_line(path: Path) -> str:
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                return line.rstrip("\r\n")
    raise DataError("empty file: no records", source=str(path))


def _detect_header(path: Path, sep: str, sequence_column: str) -> bool:
    """True unless the first line looks like data (a DNA field where the sequence column name should be)."""
    fields = [f.strip() for f in _first_line(path).split(sep)]
    return sequence_column in fields or not _DNA.match(fields[0])


@contextmanager
def _table_errors(path: Path) -> Iterator[None]:
    """What pandas or pyarrow raise for a malformed table (a ragged row, an unbalanced quote, a corrupt parquet
    file) as one :class:`DataError` naming the file: the one message of every table reader."""
    try:
        yield
    except pd.errors.EmptyDataError as err:
        raise DataError("empty file: no records", source=str(path)) from err
    except pd.errors.ParserError as err:
        text = " ".join(str(err).split()).removeprefix("Error tokenizing data. C error: ")
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
        if found:
            want, line, saw = found.groups()
            raise DataError(f"{saw} fields where the header has {want} (a ragged row, or a quote that does not "
                            "close)", source=str(path), record=f"line {line}") from err
        found = re.search(r"EOF inside string starting at row (\d+)", text)
        if found:  # pandas counts rows from 0, the header included
            raise DataError('a quote (") opened here never closes', source=str(path),
                            record=f"line {int(found.group(1)) + 1}") from err
        raise DataError(f"cannot parse table: {text}", source=str(path)) from err
    except DataError:
        raise
    except Exception as err:
        if type(err).__module__.startswith("pyarrow"):  # ArrowInvalid and kin: a damaged or non-parquet file
            why = re.sub(r"^Could not open Parquet input source '.*?': ", "", " ".join(str(err).split()))
            why = why.replace(" Either the file is corrupted or this is not a parquet file.", "").rstrip(".")
            raise DataError(f"not a parquet file, or a damaged one ({why})", source=str(path)) from err
        raise


def _parquet_file(path: Path):
    """``pyarrow.parquet.ParquetFile`` of ``path``; a damaged file is a :class:`DataError` naming it."""
    import pyarrow.parquet as pq

    with _table_errors(path):
        return pq.ParquetFile(path)


def _read_text_table(path: Path, header: bool | None, sequence_column: str, names: Sequence[str] | None,
                     **kw) -> tuple[pd.DataFrame, int]:
    """Read a text table as strings; returns the frame and the line number of its first data row."""
    sep = TABLE_SUFFIXES[_suffix(path)]
    if header is None:
        header = _detect_header(path, sep, sequence_column)
    with _table_errors(path):
        df = pd.read_csv(path, sep=sep, dtype=str, na_filter=False, skip_blank_lines=False,
                         header=0 if header else None, compression="infer", **kw)
    if header:
        df.columns = [str(c).strip() for c in df.columns]
    else:
        cols = list(names or [])
        extra = [f"column{i + 1}" for i in range(len(cols), df.shape[1])]
        df.columns = (cols + extra)[: df.shape[1]]
    return df, (2 if header else 1)


def _read_table(path: Path, header: bool | None, sequence_column: str, names: Sequence[str] | None
                ) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Read any table; returns frame (string cells), source line numbers per row, and the line kind."""
    if file_kind(path) == "parquet":
        with _table_errors(path):
            df = pd.read_parquet(path)
        for c in df.columns:  # missing strings read as "" (as in text tables), not "None"
            if not pd.api.types.is_numeric_dtype(df[c]):
                df[c] = df[c].astype(object).where(df[c].notna(), "")
        lines = np.arange(1, len(df) + 1)
        kind = "row"
    else:
        df, first = _read_text_table(path, header, sequence_column, names)
        lines = np.arange(first, first + len(df))
        kind = "line"
        blank = (df == "").all(axis=1).to_numpy()
        if blank.any():
            df, lines = df.loc[~blank].reset_index(drop=True), lines[~blank]
    if len(df) == 0:
        raise DataError("empty file: no records (header only)", source=str(path))
    return df, lines, kind


def _require_columns(df: pd.DataFrame, cols: Sequence[str], path: Path, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"missing {what} column(s) {missing}; available columns: {list(df.columns)}",
                        source=str(path), record="header")


def _where(lines: np.ndarray, kind: str, i: int, ids: np.ndarray | None = None) -> str:
    s = f"{kind} {int(lines[i])}"
    return f"{s} (id {ids[i]})" if ids is not None else s


def _parse_targets(df: pd.DataFrame, cols: Sequence[str], path: Path, lines: np.ndarray, kind: str,
                   ids: np.ndarray | None) -> np.ndarray:
    out = np.empty((len(df), len(cols)), dtype=np.float32)
    for j, c in enumerate(cols):
        raw = df[c]
        vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(vals))
        if bad.size:
            i = int(bad[0])
            text = str(raw.iloc[i]).strip()
            if np.isinf(vals[i]):
                reason = f"infinite target {text!r} in column {c!r}"
            elif text.lower() in ("", "na", "nan", "none", "null", "<na>"):
                reason = f"missing (NaN) target in column {c!r}"
            else:
                reason = f"non-numeric target {text!r} in column {c!r}"
            more = f" ({bad.size} such rows)" if bad.size > 1 else ""
            raise DataError(reason + more, source=str(path), record=_where(lines, kind, i, ids))
        out[:, j] = vals
    return out


def _check_unique(ids: np.ndarray, path: Path, where) -> None:
    uniq, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
    if (counts < 2).all():
        return
    dup = int(np.flatnonzero(counts > 1)[0])
    rows = np.flatnonzero(inv == dup)[:2]
    raise DataError(f"duplicate ID {str(uniq[dup])!r} (also at {where(int(rows[0]))})", source=str(path),
                    record=where(int(rows[1])))


def _check_sequences_present(seqs: list[str], path: Path, where) -> None:
    for i, s in enumerate(seqs):
        if not s:
            raise DataError("empty sequence", source=str(path), record=where(i))


def iter_fasta(path: str | Path) -> Iterator[tuple[str, str, int]]:
    """Stream ``(id, sequence, header_line)`` from a FASTA file (plain or gzip); ID = first word of header."""
    with reading(path):
        yield from _iter_fasta(Path(path))


def _iter_fasta(path: Path) -> Iterator[tuple[str, str, int]]:
    _check_nonempty(path)
    rid, start, parts = None, 0, []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if rid is not None:
                    yield rid, "".join(parts), start
                words = line[1:].split()
                if not words:
                    raise DataError("FASTA header without an ID", source=str(path), record=f"line {lineno}")
                rid, start, parts = words[0], lineno, []
            elif rid is None:
                raise DataError("sequence data before the first '>' header (not FASTA?)", source=str(path),
                                record=f"line {lineno}")
            else:
                parts.append(line)
    if rid is None:
        raise DataError("empty file: no FASTA records", source=str(path))
    yield rid, "".join(parts), start


def _read_fasta(path: Path) -> tuple[np.ndarray, list[str]]:
    ids, seqs = [], []
    for rid, seq, _ in iter_fasta(path):
        ids.append(rid)
        seqs.append(seq)
    ids_arr = np.asarray(ids, dtype=str)
    _check_unique(ids_arr, path, lambda i: str(ids_arr[i]))
    _check_sequences_present(seqs, path, lambda i: str(ids_arr[i]))
    return ids_arr, seqs


def _names_for_headerless(sequence_column: str, target_columns: Sequence[str], id_column: str | None) -> list[str]:
    return ([id_column] if id_column else []) + [sequence_column, *target_columns]


def read_records(path: str | Path, *, values: str | Path | None = None, id_column: str | None = None,
                 sequence_column: str = "sequence", target_columns: Sequence[str] = ("expression",),
                 group_columns: Sequence[str] = (), require_targets: bool = True,
                 header: bool | None = None) -> Records:
    """Read sequences (+ targets, + group columns) from a table or FASTA file.

    ``values``: a table joined by ID (its ``id_column``, or its first column) supplying targets and groups,
    needed for FASTA input. ``id_column=None`` makes the 0-based row number the ID (tables).
    ``header=None`` detects a headerless text table (first field is DNA); headerless columns are named
    ``[id_column,] sequence_column, *target_columns``, e.g. ``sequence<TAB>expression``.
    ``require_targets=False`` reads prediction input: targets are read only if all target columns exist.
    """
    with reading(path):
        return _read_records(Path(path), values, id_column, sequence_column, list(target_columns),
                             list(group_columns), require_targets, header)


def _read_records(path: Path, values: str | Path | None, id_column: str | None, sequence_column: str,
                  target_columns: list[str], group_columns: list[str], require_targets: bool,
                  header: bool | None) -> Records:
    _check_nonempty(path)
    kind = file_kind(path)
    target_columns, group_columns = list(target_columns), list(group_columns)
    seq_lines, seq_kind = None, "line"
    if kind == "fasta":
        ids, seqs = _read_fasta(path)
        frame = None
    else:
        frame, seq_lines, seq_kind = _read_table(
            path, header, sequence_column, _names_for_headerless(sequence_column, target_columns, id_column))
        _require_columns(frame, [sequence_column] + ([id_column] if id_column else []), path, "sequence/ID")
        if id_column:
            ids = frame[id_column].astype(str).str.strip().to_numpy().astype(str)
            _check_unique(ids, path, lambda i: _where(seq_lines, seq_kind, i, ids))
        else:
            ids = np.arange(len(frame)).astype(str)
        seqs = [s.strip() for s in frame[sequence_column].astype(str).tolist()]
        _check_sequences_present(seqs, path, lambda i: _where(seq_lines, seq_kind, i, ids if id_column else None))

    if values is not None:
        with reading(values):
            return _join_values(path, ids, seqs, seq_lines, seq_kind, Path(values), id_column, target_columns,
                                group_columns, require_targets)
    if frame is None:
        if require_targets and target_columns:
            raise DataError(f"FASTA input has no targets; pass a values table with columns {target_columns}",
                            source=str(path))
        if group_columns:
            raise DataError(f"FASTA input has no group columns {group_columns}; pass a values table",
                            source=str(path))
        return Records(ids=ids, sequences=seqs, targets=np.zeros((len(seqs), 0), np.float32), target_names=[],
                       source=str(path))
    return Records(ids=ids, sequences=seqs,
                   **_targets_and_groups(frame, path, seq_lines, seq_kind, ids if id_column else None,
                                         target_columns, group_columns, require_targets),
                   source=str(path), lines=seq_lines, line_kind=seq_kind)


def frame_records(frame: pd.DataFrame, *, id_column: str | None = None, sequence_column: str = "sequence",
                  target_columns: Sequence[str] = ("expression",), group_columns: Sequence[str] = (),
                  require_targets: bool = True, source: str = "DataFrame") -> Records:
    """:func:`read_records` of a pandas DataFrame with the columns a table file would have (rows numbered from 0)."""
    path, df = Path(source), frame.reset_index(drop=True)
    lines = np.arange(len(df))
    _require_columns(df, [sequence_column] + ([id_column] if id_column else []), path, "sequence/ID")
    ids = df[id_column].astype(str).str.strip().to_numpy().astype(str) if id_column else \
        np.arange(len(df)).astype(str)
    shown = ids if id_column else None
    if id_column:
        _check_unique(ids, path, lambda i: _where(lines, "row", i, shown))
    seqs = [str(v).strip() for v in df[sequence_column].tolist()]
    _check_sequences_present(seqs, path, lambda i: _where(lines, "row", i, shown))
    return Records(ids=ids, sequences=seqs, **_targets_and_groups(df, path, lines, "row", shown, list(target_columns),
                                                                  list(group_columns), require_targets),
                   source=source, lines=lines, line_kind="row")


def _targets_and_groups(df: pd.DataFrame, path: Path, lines: np.ndarray, kind: str, ids: np.ndarray | None,
                        target_columns: list[str], group_columns: list[str], require_targets: bool) -> dict:
    if require_targets:
        _require_columns(df, target_columns, path, "target")
    elif not all(c in df.columns for c in target_columns):
        target_columns = []
    _require_columns(df, group_columns, path, "group")
    targets = _parse_targets(df, target_columns, path, lines, kind, ids)
    groups = {c: df[c].astype(str).str.strip().to_numpy().astype(str) for c in group_columns}
    return {"targets": targets, "target_names": target_columns, "groups": groups}


def _join_values(seq_path: Path, ids: np.ndarray, seqs: list[str], seq_lines: np.ndarray | None, seq_kind: str,
                 values: Path, id_column: str | None, target_columns: list[str], group_columns: list[str],
                 require_targets: bool) -> Records:
    """Attach targets/groups from a values table to sequences by ID; every ID must be on both sides."""
    _check_nonempty(values)
    df, lines, kind = _read_table(values, True, id_column or "", None)
    key = id_column if id_column and id_column in df.columns else df.columns[0]
    vids = df[key].astype(str).str.strip().to_numpy().astype(str)
    _check_unique(vids, values, lambda i: _where(lines, kind, i, vids))
    pos = pd.Index(vids).get_indexer(ids)
    missing = np.flatnonzero(pos < 0)
    if missing.size:
        raise DataError(f"{missing.size} sequence ID(s) have no row in the values table {values}, e.g. "
                        f"{ids[missing[:_N_SHOWN]].tolist()}", source=str(seq_path), record=str(ids[missing[0]]))
    extra = np.setdiff1d(np.arange(len(vids)), pos)
    if extra.size:
        raise DataError(f"{extra.size} ID(s) in the values table have no sequence in {seq_path}, e.g. "
                        f"{vids[extra[:_N_SHOWN]].tolist()}", source=str(values),
                        record=_where(lines, kind, int(extra[0]), vids))
    tg = _targets_and_groups(df, values, lines, kind, vids, target_columns, group_columns, require_targets)
    return Records(ids=ids, sequences=seqs, targets=tg["targets"][pos], target_names=tg["target_names"],
                   groups={k: v[pos] for k, v in tg["groups"].items()}, source=str(seq_path),
                   lines=seq_lines, line_kind=seq_kind)


def validate_sequences(records: Records, policy: SequencePolicy = SequencePolicy()) -> None:
    """Check every sequence against ``policy`` (alphabet; equal lengths when ``policy.length`` is None).

    Vectorised over chunks of records (memory stays bounded); the first bad one is re-checked with
    ``encode_one`` for its message.
    """
    seqs = records.sequences
    if not seqs:
        raise DataError("no records", source=records.source)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise DataError("empty sequence", source=records.source, record=records.label(int(empty[0])))
    lax = SequencePolicy(iupac=policy.iupac)
    for start in range(0, len(seqs), _VALIDATE_CHUNK):
        chunk = seqs[start:start + _VALIDATE_CHUNK]
        try:
            encode_one("".join(chunk), lax)
        except DataError as err:
            pos = int(re.search(r"at position (\d+)", err.reason).group(1)) - 1 if "position" in err.reason else 0
            i = start + int(np.searchsorted(np.cumsum(lengths[start:start + len(chunk)]), pos, side="right"))
            encode_one(seqs[i], policy, source=records.source, record=records.label(i))
            raise  # pragma: no cover - the per-record call above always raises for the same character
    if policy.length is None and (lengths != lengths[0]).any():
        i = int(np.flatnonzero(lengths != lengths[0])[0])
        raise ragged_lengths(int(lengths[i]), int(lengths[0]), source=records.source, record=records.label(i))


def table_columns(path: str | Path) -> list[str]:
    """Column names of a table with a header row (parquet schema or first text line); [] for FASTA/headerless."""
    with reading(path):
        return _table_columns(Path(path))


def _table_columns(path: Path) -> list[str]:
    _check_nonempty(path)
    kind = file_kind(path)
    if kind == "fasta":
        return []
    if kind == "parquet":
        return list(_parquet_file(path).schema_arrow.names)
    fields = [f.strip() for f in _first_line(path).split(TABLE_SUFFIXES[_suffix(path)])]
    return [] if _DNA.match(fields[0]) else fields


def iter_sequence_chunks(path: str | Path, chunk_size: int = 100_000, id_column: str | None = None,
                         sequence_column: str = "sequence", header: bool | None = None
                         ) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Stream ``(ids, sequences)`` chunks from a table or FASTA of any size (for prediction).

    IDs are the ``id_column`` values, the FASTA IDs, or 0-based row numbers.
    """
    with reading(path), _table_errors(Path(path)):  # a ragged row or a damaged file further on: named too
        yield from _iter_sequence_chunks(Path(path), chunk_size, id_column, sequence_column, header)


def _iter_sequence_chunks(path: Path, chunk_size: int, id_column: str | None, sequence_column: str,
                          header: bool | None) -> Iterator[tuple[np.ndarray, list[str]]]:
    _check_nonempty(path)
    kind = file_kind(path)
    if kind == "fasta":
        ids: list[str] = []
        seqs: list[str] = []
        for rid, seq, line in iter_fasta(path):
            if not seq:
                raise DataError("empty sequence", source=str(path), record=f"{rid} (line {line})")
            ids.append(rid)
            seqs.append(seq)
            if len(seqs) >= chunk_size:
                yield np.asarray(ids, dtype=str), seqs
                ids, seqs = [], []
        if seqs:
            yield np.asarray(ids, dtype=str), seqs
        return
    if kind == "parquet":
        pf = _parquet_file(path)
        cols = [sequence_column] + ([id_column] if id_column else [])
        missing = [c for c in cols if c not in pf.schema_arrow.names]
        if missing:
            raise DataError(f"missing column(s) {missing}; available columns: {pf.schema_arrow.names}",
                            source=str(path), record="header")
        start = 0
        for batch in pf.iter_batches(batch_size=chunk_size, columns=cols):
            seqs = [str(s).strip() for s in batch.column(sequence_column).to_pylist()]
            ids_arr = (np.asarray(batch.column(id_column).to_pylist()).astype(str) if id_column
                       else np.arange(start, start + len(seqs)).astype(str))
            start += len(seqs)
            yield ids_arr, seqs
        return
    sep = TABLE_SUFFIXES[_suffix(path)]
    if header is None:
        header = _detect_header(path, sep, sequence_column)
    names = None if header else _names_for_headerless(sequence_column, [], id_column)
    start = 0
    reader = pd.read_csv(path, sep=sep, dtype=str, na_filter=False, header=0 if header else None,
                         chunksize=chunk_size, compression="infer")
    for chunk in reader:
        if names:
            chunk.columns = (names + [f"column{i + 1}" for i in range(len(names), chunk.shape[1])])[: chunk.shape[1]]
        else:
            chunk.columns = [str(c).strip() for c in chunk.columns]
        if start == 0:
            _require_columns(chunk, [sequence_column] + ([id_column] if id_column else []), path, "sequence/ID")
        seqs = [s.strip() for s in chunk[sequence_column].tolist()]
        ids_arr = (chunk[id_column].astype(str).to_numpy().astype(str) if id_column
                   else np.arange(start, start + len(seqs)).astype(str))
        start += len(seqs)
        yield ids_arr, seqs
