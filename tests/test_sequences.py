"""The sequence policy: alphabet, N handling, IUPAC, pad/truncate, reverse complement, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seq2expr.data.errors import DataError
from seq2expr.data.sequences import (
    SequencePolicy,
    decode,
    encode,
    encode_one,
    one_hot,
    reverse_complement,
    reverse_complement_codes,
    reverse_complement_onehot,
)


def _random_seqs(n: int, length: int, seed: int = 0, alphabet: str = "ACGTN") -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(alphabet), size=length)) for _ in range(n)]


def test_lowercase_is_uppercased():
    assert np.array_equal(encode_one("acgtn"), encode_one("ACGTN"))
    assert encode_one("acgtn").tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("n_value", [0.0, 0.25])
def test_n_encoding(n_value):
    x = one_hot(encode(["ANT"]), n_value=n_value)
    assert x.shape == (1, 4, 3) and x.dtype == torch.float32
    assert torch.allclose(x[0, :, 1], torch.full((4,), n_value))
    assert x[0, :, 0].tolist() == [1, 0, 0, 0] and x[0, :, 2].tolist() == [0, 0, 0, 1]


def test_iupac_rejected_by_default_and_mapped_on_request():
    with pytest.raises(DataError) as err:
        encode(["ACGT", "ACRT"], ids=["a", "b"], source="in.tsv")
    msg = str(err.value)
    assert "in.tsv" in msg and "record b" in msg and "'R'" in msg and "position 3" in msg and "iupac" in msg
    assert "--set data.policy.iupac=n" in msg and "iupac='n'" not in msg  # the way the command line sets it
    assert encode(["ACRT"], SequencePolicy(iupac="n")).tolist() == [[0, 1, 4, 3]]


@pytest.mark.parametrize("bad", ["AC-T", "AC1T", "AC T", "AC*T"])
def test_other_characters_always_rejected(bad):
    for policy in (SequencePolicy(), SequencePolicy(iupac="n")):
        with pytest.raises(DataError, match="invalid character"):
            encode_one(bad, policy, record=7)


def test_empty_sequence_rejected():
    with pytest.raises(DataError, match="record 2: empty sequence"):
        encode(["ACGT", ""])


@pytest.mark.parametrize(
    ("side", "padded", "truncated"),
    [("right", "ACGNNN", "AACC"), ("left", "NNNACG", "CCGG"), ("centre", "NACGNN", "ACCG")],
)
def test_pad_and_truncate_sides(side, padded, truncated):
    policy = SequencePolicy(length=6, pad=side, truncate=side)
    assert decode(encode(["ACG"], policy))[0] == padded
    policy4 = SequencePolicy(length=4, pad=side, truncate=side)
    assert decode(encode(["AACCGG"], policy4))[0] == truncated


def test_ragged_without_length_names_record():
    with pytest.raises(DataError) as err:
        encode(["ACGT", "ACGT", "ACG"], ids=["x", "y", "z"], source="f.fa")
    assert "record z" in str(err.value) and "ragged" in str(err.value) and "f.fa" in str(err.value)


def test_reverse_complement_codes_and_onehot_agree():
    seqs = _random_seqs(20, 37, seed=1)
    codes = encode(seqs)
    rc_codes = reverse_complement_codes(codes)
    assert decode(rc_codes) == [reverse_complement(s) for s in seqs]
    for n_value in (0.0, 0.25):
        assert torch.equal(one_hot(rc_codes, n_value), reverse_complement_onehot(one_hot(codes, n_value)))
    assert np.array_equal(reverse_complement_codes(rc_codes), codes)
    # numpy arrays (one-hot batches, a PWM) take the same rule, segment by segment too
    x = one_hot(codes).numpy()
    assert np.array_equal(reverse_complement_onehot(x), one_hot(rc_codes).numpy())
    assert reverse_complement_onehot(x).flags.c_contiguous
    pwm = np.random.default_rng(0).dirichlet(np.ones(4), 6).T  # (4, 6), column j the distribution at j
    np.testing.assert_array_equal(reverse_complement_onehot(pwm)[:, 0], pwm[::-1, -1])
    segs = [(0, 10), (15, 37)]
    assert np.array_equal(reverse_complement_onehot(x, segs),
                          reverse_complement_onehot(torch.from_numpy(x), segs).numpy())


def test_decode_encode_round_trip():
    seqs = _random_seqs(50, 64, seed=2)
    assert decode(encode(seqs)) == seqs
    assert decode(encode([s.lower() for s in seqs])) == seqs
