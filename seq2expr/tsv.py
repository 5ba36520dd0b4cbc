"""The one chunked TSV writer: a table written a chunk (DataFrame) at a time, the header once.

Each chunk is formatted by one pandas call (floats as ``%.6g``, ``\\n`` line ends), never row by row, so memory
stays one chunk however long the table. Used by prediction tables and variant tables alike.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import pandas as pd

FLOAT_FORMAT = "%.6g"


class TsvWriter:
    """Appends DataFrame chunks to an open text file (opened with ``newline=""``) as TSV rows.

    ``columns``: write the header now (a table with no rows still has one); otherwise the first chunk's columns
    are the header.
    """

    def __init__(self, fh: TextIO, columns: Sequence[str] | None = None):
        self.fh, self.columns, self.rows = fh, None, 0
        if columns is not None:
            self._header(columns)

    def _header(self, columns: Sequence[str]) -> None:
        self.columns = [str(c) for c in columns]
        csv.writer(self.fh, delimiter="\t", lineterminator="\n").writerow(self.columns)

    def write(self, chunk: pd.DataFrame) -> None:
        """Append the rows of ``chunk`` (its columns are the header's, in order)."""
        if self.columns is None:
            self._header(chunk.columns)
        chunk.to_csv(self.fh, sep="\t", header=False, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        self.rows += len(chunk)
