"""Motif files, read and written in one place and one orientation: every matrix is ``(4, w)``, rows A, C, G, T
(a position probability matrix, or counts where said), keyed by a display name.

MEME v4 files through memelite (read) and :func:`write_meme` (write); JASPAR from the SQLite file bundled with
pyjaspar (offline, one query per collection or matrix), named ``"MA0363.3 REB1"`` (matrix id, TF name) so both
survive a MEME round trip.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from seq2expr.atomic import atomic_path
from seq2expr.data.errors import DataError
from seq2expr.files import reads

ALPHABET = "ACGT"


def jaspar_releases() -> list[str]:
    """The JASPAR releases bundled with pyjaspar, newest first."""
    from pyjaspar import jaspar_releases as releases

    return sorted(releases, reverse=True)


def jaspar_sqlite(release: str) -> Path:
    """pyjaspar's SQLite file of ``release``; ``ValueError`` naming the bundled ones when it is not there."""
    import pyjaspar

    path = Path(pyjaspar.__file__).parent / "data" / f"{release}.sqlite"
    if not path.is_file():
        raise ValueError(f"JASPAR release {release!r} is not bundled with pyjaspar (has "
                         f"{', '.join(jaspar_releases())})")
    return path


def _connect(release: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{jaspar_sqlite(release)}?mode=ro", uri=True)


def _counts(cells: list[tuple[str, int, float]]) -> np.ndarray:
    """``(4, w)`` counts from MATRIX_DATA rows ``(base, column 1.., value)``."""
    w = max(c for _, c, _ in cells)
    counts = np.zeros((4, w), dtype=np.float64)
    for row, col, val in cells:
        counts[ALPHABET.index(row.upper()), col - 1] = val
    return counts


def jaspar_counts(matrix_id: str, release: str) -> tuple[str, np.ndarray]:
    """``(TF name, (4, w) counts)`` of one JASPAR matrix (``"MA0363.3"``); a :class:`DataError` naming it when
    the release has no such matrix."""
    base, _, version = matrix_id.partition(".")
    con = _connect(release)
    try:
        row = con.execute("SELECT ID, NAME FROM MATRIX WHERE BASE_ID = ? AND VERSION = ?",
                          [base, int(version) if version.isdigit() else -1]).fetchone()
        cells = [] if row is None else [(r, int(c), float(v)) for r, c, v in con.execute(
            "SELECT row, col, val FROM MATRIX_DATA WHERE ID = ?", [row[0]])]
    finally:
        con.close()
    if not cells:
        raise DataError(f"JASPAR matrix {matrix_id} is not in {release} of the installed pyjaspar; choose another "
                        "matrix ID", source="pyjaspar", record=matrix_id)
    return row[1], _counts(cells)


def jaspar_species(matrix_id: str, release: str) -> str:
    """The species (names, comma-joined) a JASPAR matrix (``"MA0265.3"``) was measured in; ``"?"`` when unrecorded."""
    base, _, version = matrix_id.partition(".")
    con = _connect(release)
    try:
        names = [n for (n,) in con.execute(
            "SELECT TAX.SPECIES FROM MATRIX JOIN MATRIX_SPECIES ON MATRIX.ID = MATRIX_SPECIES.ID JOIN TAX ON "
            "TAX.TAX_ID = MATRIX_SPECIES.TAX_ID WHERE BASE_ID = ? AND VERSION = ?",
            [base, int(version) if version.isdigit() else -1])]
    finally:
        con.close()
    return ", ".join(names) or "?"


@lru_cache(maxsize=8)
def jaspar_collection(collection: str, taxon: str | None, release: str) -> tuple[tuple[str, np.ndarray], ...]:
    """Latest version of every matrix of a collection (and taxon) as ``(name, (4, w) probabilities)``.

    Same selection as ``jaspardb.fetch_motifs(collection=..., tax_group=[...])`` but one query instead of
    several per matrix (seconds instead of tens of seconds for the vertebrate set).
    """
    con = _connect(release)
    try:
        every = con.execute("SELECT ID, BASE_ID, VERSION, NAME FROM MATRIX WHERE COLLECTION = ? ORDER BY BASE_ID",
                            [collection]).fetchall()
        latest: dict[str, tuple] = {}
        for r in every:
            if r[1] not in latest or r[2] > latest[r[1]][2]:
                latest[r[1]] = r
        rows = list(latest.values())
        if taxon:
            tagged = {i for (i,) in con.execute("SELECT ID FROM MATRIX_ANNOTATION WHERE TAG = 'tax_group' AND VAL = ?",
                                                [taxon])}
            rows = [r for r in rows if r[0] in tagged]
        data: dict[int, list[tuple[str, int, float]]] = {}
        ids = [r[0] for r in rows]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"SELECT ID, row, col, val FROM MATRIX_DATA WHERE ID IN ({','.join('?' * len(chunk))})"
            for mid, row, col, val in con.execute(q, chunk):
                data.setdefault(mid, []).append((row, int(col), float(val)))
    finally:
        con.close()
    out = []
    for mid, base, version, name in rows:
        if data.get(mid):
            counts = _counts(data[mid])
            out.append((f"{base}.{version} {name}", (counts + 1e-3) / (counts + 1e-3).sum(0, keepdims=True)))
    return tuple(out)


@reads()
def read_meme(path: str | Path) -> dict[str, np.ndarray]:
    """Motifs of a MEME-format file as ``{name: (4, w)}``; raises DataError for a file with none."""
    from memelite.io import read_meme as _read

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", source=str(path))
    try:
        motifs = _read(str(path))
    except (ValueError, AttributeError, IndexError) as err:
        raise DataError(f"not a valid MEME motif file ({err})", source=str(path)) from None
    if not motifs:
        raise DataError("no MOTIF entries with a letter-probability matrix", source=str(path))
    for name, pwm in motifs.items():
        if pwm.shape[0] != 4 or not np.all(np.isfinite(pwm)) or (pwm < 0).any():
            raise DataError("matrix is not a 4-letter probability matrix", source=str(path), record=name)
    return {k: np.asarray(v, dtype=np.float64) for k, v in motifs.items()}


def meme_text(motifs: dict[str, np.ndarray], background: Sequence[float] = (0.25, 0.25, 0.25, 0.25)) -> str:
    """MEME v4 text of ``{name: (4, w)}`` probability matrices (columns renormalised; negative values clipped)."""
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "", "Background letter frequencies",
             " ".join(f"{b} {p:.3f}" for b, p in zip(ALPHABET, background, strict=True)), ""]
    for name, pwm in motifs.items():
        p = np.clip(np.asarray(pwm, dtype=np.float64), 0, None)
        if p.shape[0] != 4:
            raise ValueError(f"motif {name!r}: a (4, w) matrix (rows A, C, G, T) is expected, not {p.shape}")
        p = p / np.where(p.sum(0, keepdims=True) > 0, p.sum(0, keepdims=True), 1)
        lines += [f"MOTIF {name}", f"letter-probability matrix: alength= 4 w= {p.shape[1]} nsites= 20 E= 0"]
        lines += [" ".join(f"{v:.6f}" for v in col) for col in p.T]
        lines.append("")
    return "\n".join(lines) + "\n"


def write_meme(motifs: dict[str, np.ndarray], path: str | Path,
               background: Sequence[float] = (0.25, 0.25, 0.25, 0.25)) -> Path:
    """Write ``{name: (4, w)}`` probability matrices as a MEME v4 file (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(meme_text(motifs, background))
    return Path(path)
