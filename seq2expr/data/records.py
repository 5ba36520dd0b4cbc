"""Records: sequences, their IDs, measured targets and group labels, as read from one source.

The reader's output and the encoder's input. Sequences stay raw strings here; validation and encoding
happen once in :mod:`seq2expr.data.cache` so error messages can still name the source line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seq2expr.data.errors import DataError


@dataclass
class Records:
    """``N`` sequences with unique ``ids``, ``(N, T)`` float32 ``targets`` (``T`` may be 0) and groups."""

    ids: np.ndarray
    sequences: list[str]
    targets: np.ndarray
    target_names: list[str]
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    lines: np.ndarray | None = None  # source line (tables, header = line 1) or row number, for messages
    line_kind: str = "line"  # what ``lines`` counts: "line" (text tables) or "row" (parquet)
    dataset: str | None = None  # the registry entry these records come from (its scorer applies), if any

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids).astype(str)
        self.sequences = list(self.sequences)
        n = len(self.sequences)
        t = np.asarray(self.targets, dtype=np.float32)
        if t.ndim == 1 and t.size == n * len(self.target_names):
            t = t.reshape(n, len(self.target_names))
        self.targets = t
        self.groups = {k: np.asarray(v) for k, v in self.groups.items()}
        if len(self.ids) != n or self.targets.ndim != 2 or self.targets.shape[0] != n:
            raise DataError(f"records disagree in length: {len(self.ids)} ids, {n} sequences, "
                            f"{self.targets.shape[0]} target rows", source=self.source)
        if self.targets.shape[1] != len(self.target_names):
            raise DataError(f"{self.targets.shape[1]} target columns but names {self.target_names}",
                            source=self.source)
        for k, v in self.groups.items():
            if len(v) != n:
                raise DataError(f"group column {k!r} has {len(v)} values for {n} records", source=self.source)

    def __len__(self) -> int:
        return len(self.sequences)

    def label(self, i: int) -> str:
        """How record ``i`` is named in messages: ``line 12 (id X)`` for tables, the ID for FASTA."""
        if self.lines is not None:
            return f"{self.line_kind} {int(self.lines[i])} (id {self.ids[i]})"
        return str(self.ids[i])

    def labels(self) -> list[str]:
        return [self.label(i) for i in range(len(self))]

    def subset(self, idx: np.ndarray | list[int]) -> Records:
        """Rows ``idx`` (int indices or a boolean mask), as a new :class:`Records`."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return Records(
            ids=self.ids[idx],
            sequences=[self.sequences[i] for i in idx],
            targets=self.targets[idx],
            target_names=list(self.target_names),
            groups={k: v[idx] for k, v in self.groups.items()},
            source=self.source,
            lines=None if self.lines is None else self.lines[idx],
            line_kind=self.line_kind,
            dataset=self.dataset,
        )


def concat_records(parts: list[Records]) -> Records:
    """Stack records with the same target and group columns; IDs must stay unique across parts."""
    if not parts:
        raise DataError("no records to concatenate")
    first = parts[0]
    for p in parts[1:]:
        if p.target_names != first.target_names:
            raise DataError(f"target columns {p.target_names} differ from {first.target_names} in {first.source}",
                            source=p.source)
        if set(p.groups) != set(first.groups):
            raise DataError(f"group columns {sorted(p.groups)} differ from {sorted(first.groups)} in "
                            f"{first.source}", source=p.source)
    ids = np.concatenate([p.ids for p in parts])
    uniq, first_pos, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][:5].tolist()
        raise DataError(f"IDs occur in more than one input file: {dup}; every row needs its own ID: set "
                        "data.id_column: null (row numbers, told apart per file), or put the rows in one table with a "
                        "split column (data.split.method: column, data.split.split_column: its name)",
                        source=", ".join(p.source for p in parts))
    return Records(
        ids=ids,
        sequences=[s for p in parts for s in p.sequences],
        targets=np.concatenate([p.targets for p in parts]),
        target_names=list(first.target_names),
        groups={k: np.concatenate([p.groups[k].astype(str) for p in parts]) for k in first.groups},
        source=" + ".join(p.source for p in parts),
        lines=None,
        dataset=first.dataset if all(p.dataset == first.dataset for p in parts) else None,
    )
