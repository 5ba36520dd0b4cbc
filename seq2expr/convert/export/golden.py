"""Golden vectors: deterministic sequences in the model's construct, the outputs ``predict`` gives for them, and
the comparison every deployed copy is held to (Kipoi's model test, for any runtime)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seq2expr.inference import SavedModel

N_GOLDEN = 64
SEED = 33


def golden_sequences(saved: SavedModel, flanks: tuple[str, str] | None, n: int = N_GOLDEN) -> tuple[list[str], str]:
    """``n`` sequences of the model's input length, the same on every run: random bases between the construct's
    flanks, every fourth with a few N; a two-segment model's spacer is N. Returns them and how they were drawn."""
    length = saved.config.seq_len
    left, right = flanks if flanks and len(flanks[0]) + len(flanks[1]) < length else ("", "")
    rng = np.random.default_rng(SEED)
    inner = saved.members[0].model
    spacer = None
    if hasattr(inner, "branch_lengths") and getattr(inner, "spacer", 0):
        spacer = (inner.branch_lengths[0], inner.branch_lengths[0] + inner.spacer)
    seqs = []
    for i in range(n):
        middle = rng.integers(0, 4, length - len(left) - len(right))
        if i % 4 == 3:
            middle[rng.random(len(middle)) < 0.03] = 4
        s = np.frombuffer(b"ACGTN", dtype=np.uint8)[middle].tobytes().decode()
        full = left + s + right
        if spacer is not None:
            full = full[:spacer[0]] + "N" * (spacer[1] - spacer[0]) + full[spacer[1]:]
        seqs.append(full)
    how = (f"{n} random sequences (numpy default_rng({SEED})), every fourth with 3% N"
           + (f", between the construct's flanks ({len(left)} + {len(right)} nt)" if left or right else "")
           + (", the spacer N" if spacer is not None else ""))
    return seqs, how


@dataclass(frozen=True)
class Difference:
    """The largest difference of outputs from the expected ones: its value (relative to max(1, |expected|)), where
    it is (row, column) and the two numbers."""

    value: float
    row: int
    column: int
    got: float
    expected: float

    def describe(self, ids: list[str], names: list[str]) -> str:
        where = f"{ids[self.row] if self.row < len(ids) else self.row}, target {names[self.column]}"
        return f"largest difference {self.value:.3g} at {where} (got {self.got:.9g}, expected {self.expected:.9g})"


def largest_difference(got: np.ndarray, expected: np.ndarray) -> Difference:
    """:class:`Difference` of ``got`` from ``expected`` (NaN counts as infinitely far; shapes must match)."""
    got = np.asarray(got, dtype=np.float64).reshape(len(got), -1)
    expected = np.asarray(expected, dtype=np.float64).reshape(len(expected), -1)
    if got.shape != expected.shape:
        raise ValueError(f"outputs of shape {got.shape} for expected outputs of shape {expected.shape}")
    err = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    err = np.where(np.isnan(err), np.inf, err)
    if not err.size:
        return Difference(0.0, 0, 0, 0.0, 0.0)
    r, c = np.unravel_index(int(np.argmax(err)), err.shape)
    return Difference(float(err[r, c]), int(r), int(c), float(got[r, c]), float(expected[r, c]))
