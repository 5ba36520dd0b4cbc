"""Readers: every format, and every kind of bad input named by file, record and reason."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from seq2expr.data.errors import DataError
from seq2expr.data.io.tables import iter_sequence_chunks, read_records, validate_sequences
from seq2expr.data.sequences import SequencePolicy

GOOD_TSV = "id\tsequence\texpression\tchrom\nr1\tACGTACGT\t1.5\tI\nr2\tacgtnnAA\t-2\tII\nr3\tTTTTCCCC\t0\tI\n"


def _error(fn, *args, **kw) -> str:
    with pytest.raises(DataError) as err:
        fn(*args, **kw)
    return str(err.value)


def _fasta(path, records: dict[str, str], gz: bool = False) -> None:
    text = "".join(f">{k} some description\n{v[:5]}\n{v[5:]}\n" for k, v in records.items())
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())


@pytest.mark.parametrize("name", ["data.tsv", "data.tsv.gz", "data.txt", "data.csv", "data.csv.gz"])
def test_reads_tables(tmp_table, name):
    text = GOOD_TSV.replace("\t", ",") if ".csv" in name else GOOD_TSV
    r = read_records(tmp_table(text, name), id_column="id", group_columns=["chrom"])
    assert r.ids.tolist() == ["r1", "r2", "r3"]
    assert r.sequences[1] == "acgtnnAA"
    assert r.targets.dtype == np.float32 and r.targets.shape == (3, 1)
    assert r.targets[:, 0].tolist() == [1.5, -2.0, 0.0]
    assert r.groups["chrom"].tolist() == ["I", "II", "I"]
    assert r.label(1) == "line 3 (id r2)"
    sub = r.subset([2, 0])
    assert sub.ids.tolist() == ["r3", "r1"] and sub.targets[:, 0].tolist() == [0.0, 1.5] and len(sub) == 2


def test_row_number_ids_and_multiple_targets(tmp_table):
    r = read_records(tmp_table("sequence,a,b\nACGT,1,2\nGGGG,3,4\n", "m.csv"), target_columns=["a", "b"])
    assert r.ids.tolist() == ["0", "1"] and r.targets.tolist() == [[1, 2], [3, 4]] and r.target_names == ["a", "b"]


def test_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"name": ["a", "b"], "sequence": ["ACGT", "TTTT"], "expression": [0.5, 2.0]}).to_parquet(path)
    r = read_records(path, id_column="name")
    assert r.ids.tolist() == ["a", "b"] and r.targets[:, 0].tolist() == [0.5, 2.0]
    pd.DataFrame({"name": ["a", "b"], "sequence": ["ACGT", "TTTT"], "expression": [0.5, np.nan]}).to_parquet(path)
    msg = _error(read_records, path, id_column="name")
    assert str(path) in msg and "row 2 (id b)" in msg and "NaN" in msg


def test_headerless_two_column_tsv(tmp_table):
    path = tmp_table("ACGTACGT\t3.5\nTTTTAAAA\t12\n", "h.txt.gz")
    for header in (None, False):  # auto-detected, or stated
        r = read_records(path, header=header)
        assert r.sequences == ["ACGTACGT", "TTTTAAAA"] and r.targets[:, 0].tolist() == [3.5, 12.0]
        assert r.label(1) == "line 2 (id 1)"


@pytest.mark.parametrize("gz", [False, True])
def test_fasta_with_values(tmp_path, gz):
    fa = tmp_path / ("s.fa.gz" if gz else "s.fasta")
    _fasta(fa, {"g1": "ACGTACGTAA", "g2": "TTTTTGGGGG"}, gz=gz)
    vals = tmp_path / "v.csv"
    vals.write_text("gene,tpm,species\ng2,7,ath\ng1,3,zma\n")
    r = read_records(fa, values=vals, target_columns=["tpm"], group_columns=["species"])
    assert r.ids.tolist() == ["g1", "g2"] and r.sequences == ["ACGTACGTAA", "TTTTTGGGGG"]
    assert r.targets[:, 0].tolist() == [3.0, 7.0] and r.groups["species"].tolist() == ["zma", "ath"]
    pred = read_records(fa, require_targets=False, target_columns=[])
    assert pred.targets.shape == (2, 0)


def test_empty_files(tmp_table, tmp_path):
    for path in (tmp_table("", "e.tsv"), tmp_table("", "e.fa")):
        msg = _error(read_records, path)
        assert str(path) in msg and "empty file" in msg
    path = tmp_table("sequence\texpression\n", "header_only.tsv")
    msg = _error(read_records, path)
    assert str(path) in msg and "no records" in msg


def test_missing_columns_lists_available(tmp_table):
    path = tmp_table(GOOD_TSV)
    msg = _error(read_records, path, id_column="id", target_columns=["tpm"])
    assert str(path) in msg and "record header" in msg and "'tpm'" in msg and "'expression'" in msg
    msg = _error(read_records, path, id_column="id", group_columns=["species"])
    assert "'species'" in msg and "'chrom'" in msg


def test_duplicate_ids_name_both_lines(tmp_table, tmp_path):
    path = tmp_table(GOOD_TSV + "r2\tACGTACGT\t1\tI\n")
    msg = _error(read_records, path, id_column="id")
    assert str(path) in msg and "duplicate ID 'r2'" in msg and "line 3" in msg and "line 5" in msg
    fa = tmp_path / "d.fa"
    _fasta(fa, {"a": "ACGTACGTAA"})
    fa.write_text(fa.read_text() * 2)
    msg = _error(read_records, fa, require_targets=False)
    assert str(fa) in msg and "duplicate ID 'a'" in msg


@pytest.mark.parametrize(
    ("value", "reason"), [("nan", "NaN"), ("", "NaN"), ("NA", "NaN"), ("inf", "infinite"), ("-inf", "infinite"),
                          ("high", "non-numeric target 'high'")],
)
def test_bad_targets(tmp_table, value, reason):
    path = tmp_table(GOOD_TSV.replace("\t0\t", f"\t{value}\t"))
    msg = _error(read_records, path, id_column="id")
    assert str(path) in msg and "line 4 (id r3)" in msg and reason in msg and "'expression'" in msg


def test_empty_sequence(tmp_table, tmp_path):
    path = tmp_table(GOOD_TSV.replace("TTTTCCCC", ""))
    msg = _error(read_records, path, id_column="id")
    assert str(path) in msg and "line 4 (id r3)" in msg and "empty sequence" in msg
    fa = tmp_path / "e.fa"
    fa.write_text(">a\nACGT\n>b\n>c\nAC\n")
    msg = _error(read_records, fa, require_targets=False)
    assert str(fa) in msg and "record b" in msg and "empty sequence" in msg


def test_invalid_characters_named_by_validate(tmp_table):
    path = tmp_table(GOOD_TSV.replace("TTTTCCCC", "TTTTXCCC"))
    r = read_records(path, id_column="id")  # reading keeps raw strings
    msg = _error(validate_sequences, r, SequencePolicy(length=8))
    assert str(path) in msg and "line 4 (id r3)" in msg and "'X'" in msg and "position 5" in msg
    path = tmp_table(GOOD_TSV.replace("TTTTCCCC", "TTTTRCCC"), "iupac.tsv")
    r = read_records(path, id_column="id")
    msg = _error(validate_sequences, r, SequencePolicy(length=8))
    assert "line 4 (id r3)" in msg and "IUPAC" in msg
    validate_sequences(r, SequencePolicy(length=8, iupac="n"))


def test_invalid_character_found_past_the_first_chunk(tmp_table):
    """Validation works in chunks of records; a bad base far into a large file is still named exactly."""
    n = 70_000
    rows = [f"r{i}\t{'ACGTACGT' if i != 66_001 else 'ACGTAC-T'}\t1" for i in range(n)]
    path = tmp_table("id\tsequence\texpression\n" + "\n".join(rows) + "\n", "big.tsv.gz")
    msg = _error(validate_sequences, read_records(path, id_column="id"), SequencePolicy())
    assert f"line {66_001 + 2} (id r66001)" in msg and "'-'" in msg and "position 7" in msg


def test_ragged_named_by_validate(tmp_table):
    path = tmp_table(GOOD_TSV.replace("TTTTCCCC", "TTTTCCC"))
    r = read_records(path, id_column="id")
    msg = _error(validate_sequences, r, SequencePolicy())
    assert str(path) in msg and "line 4 (id r3)" in msg and "ragged" in msg
    validate_sequences(r, SequencePolicy(length=8))


def test_values_table_mismatch(tmp_path):
    fa = tmp_path / "s.fa"
    _fasta(fa, {"g1": "ACGTACGTAA", "g2": "TTTTTGGGGG", "g3": "CCCCCAAAAA"})
    vals = tmp_path / "v.tsv"
    vals.write_text("id\texpression\ng1\t1\ng2\t2\n")
    msg = _error(read_records, fa, values=vals)
    assert str(fa) in msg and "g3" in msg and "no row in the values table" in msg
    vals.write_text("id\texpression\ng1\t1\ng2\t2\ng3\t3\ng4\t4\ng5\t5\n")
    msg = _error(read_records, fa, values=vals)
    assert str(vals) in msg and "line 5 (id g4)" in msg and "'g5'" in msg and "no sequence" in msg
    msg = _error(read_records, fa)
    assert str(fa) in msg and "values table" in msg


def test_not_fasta_and_unknown_type(tmp_table):
    path = tmp_table("ACGT\n>a\nACGT\n", "x.fa")
    msg = _error(read_records, path, require_targets=False)
    assert str(path) in msg and "line 1" in msg and "before the first '>'" in msg
    path = tmp_table("whatever", "x.xlsx")
    assert "unknown file type" in _error(read_records, path)


def test_iter_sequence_chunks(tmp_table, tmp_path):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=12)) for _ in range(25)]
    table = tmp_table("name\tsequence\n" + "".join(f"s{i}\t{s}\n" for i, s in enumerate(seqs)), "big.tsv.gz")
    fa = tmp_path / "big.fa"
    _fasta(fa, {f"s{i}": s for i, s in enumerate(seqs)})
    pq = tmp_path / "big.parquet"
    pd.DataFrame({"name": [f"s{i}" for i in range(25)], "sequence": seqs}).to_parquet(pq)
    for path, id_col in ((table, "name"), (fa, None), (pq, "name")):
        chunks = list(iter_sequence_chunks(path, chunk_size=10, id_column=id_col))
        assert [len(c[1]) for c in chunks] == [10, 10, 5]
        assert [s for c in chunks for s in c[1]] == seqs
        assert np.concatenate([c[0] for c in chunks]).tolist() == [f"s{i}" for i in range(25)]
    no_ids = np.concatenate([c[0] for c in iter_sequence_chunks(table, chunk_size=7)])
    assert no_ids.tolist() == [str(i) for i in range(25)]


def test_real_dream_files(mirror):
    demo = read_records(mirror / "dream2022" / "demo_train_6369.txt.gz")
    assert len(demo) >= 6369 and demo.target_names == ["expression"]
    assert demo.targets.min() >= 0 and demo.targets.max() <= 18
    msg = _error(validate_sequences, demo, SequencePolicy())  # real lengths vary: 110 bp mostly, some 109
    assert "ragged" in msg and "demo_train_6369" in msg
    validate_sequences(demo, SequencePolicy(length=110))
    human = read_records(mirror / "mpra_samples" / "human_sample_test.txt.gz", id_column="seq_id",
                         sequence_column="seq", target_columns=["mean_value"], group_columns=["fold"])
    assert len(human) == 1000 and {len(s) for s in human.sequences} == {230}
