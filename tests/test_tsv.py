"""The one chunked TSV writer (``seq2expr.tsv.TsvWriter``): header once, chunks appended, ``%.6g`` floats."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from seq2expr.tsv import TsvWriter


def test_header_once_and_chunks_appended():
    fh = io.StringIO()
    table = TsvWriter(fh)
    table.write(pd.DataFrame({"id": ["a", "b"], "y": [1 / 3, 2.0]}))
    table.write(pd.DataFrame({"id": ["c"], "y": [np.float32(1e-7)]}))
    assert fh.getvalue() == "id\ty\na\t0.333333\nb\t2\nc\t1e-07\n" and table.rows == 3


def test_columns_given_up_front_make_a_header_without_rows():
    fh = io.StringIO()
    assert TsvWriter(fh, ["id", "prediction"]).rows == 0 and fh.getvalue() == "id\tprediction\n"
