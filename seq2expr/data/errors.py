"""One error type for bad input: it always names the file, the record and the reason."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data. ``str(err)`` reads ``FILE: record R: REASON``."""

    def __init__(self, reason: str, *, source: str | None = None, record: str | int | None = None):
        self.reason = reason
        self.source = source
        self.record = record
        where = []
        if source is not None:
            where.append(str(source))
        if record is not None:
            where.append(f"record {record}")
        super().__init__(": ".join([*where, reason]))
