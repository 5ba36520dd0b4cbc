"""What a designed sequence must respect: fixed positions (construct flanks, protected regions), an edit budget,
a GC-content range, forbidden sites (restriction enzymes by name, via Biopython, or IUPAC patterns; homopolymers
longer than n) and required motifs. Every check works on batches of uint8 codes (A=0 C=1 G=2 T=3 N=4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from seq2expr.data.errors import DataError
from seq2expr.data.sequences import decode, reverse_complement

_IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "[AG]", "Y": "[CT]", "S": "[CG]", "W": "[AT]", "K": "[GT]",
          "M": "[AC]", "B": "[CGT]", "D": "[AGT]", "H": "[ACT]", "V": "[ACG]", "N": "[ACGT]"}


def site_pattern(site: str) -> str:
    """A regular expression for an IUPAC site (e.g. ``GCCNNNNNGGC``)."""
    try:
        return "".join(_IUPAC[c] for c in site.upper())
    except KeyError as err:
        raise DataError(f"site {site!r}: {err.args[0]!r} is not an IUPAC nucleotide code") from None


def resolve_site(name_or_site: str) -> tuple[str, str]:
    """``(label, IUPAC site)`` of a restriction enzyme name (Biopython's REBASE list) or a site itself."""
    text = name_or_site.strip()
    if re.fullmatch(r"[ACGTRYSWKMBDHVNacgtryswkmbdhvn]+", text):
        return text.upper(), text.upper()
    from Bio.Restriction import AllEnzymes

    try:
        enzyme = AllEnzymes.get(text)
    except ValueError:  # Biopython: "... is not a RestrictionType"
        enzyme = None
    if enzyme is None:
        raise DataError(f"{text!r} is neither a nucleotide site nor a restriction enzyme known to Biopython "
                        "(REBASE names, e.g. EcoRI, BsaI, NotI)")
    return f"{text} ({enzyme.site})", str(enzyme.site)


def _spellings(motif: str, limit: int = 4096) -> list[str] | None:
    """Every ACGT sequence an IUPAC motif stands for (None beyond ``limit``)."""
    options = [_IUPAC[c].strip("[]") for c in motif]
    count = 1
    for o in options:
        count *= len(o)
    if count > limit:
        return None
    from itertools import product

    return ["".join(x) for x in product(*options)]


@dataclass
class Constraints:
    """Constraints on designs of length ``length``; see the module docstring.

    ``left``/``right``: fixed flanks (sequences written at the ends, never edited); ``protect``: further
    ``(start, end)`` ranges never edited; ``max_edits``: at most this many positions differ from the start;
    ``gc``: the GC fraction of the editable positions must lie in ``[lo, hi]``; ``forbid``: enzyme names or IUPAC
    sites absent on both strands; ``max_homopolymer``: no run of one base longer than this; ``require``: IUPAC
    motifs present (either strand). ``construct``: where the flanks come from (what the summary says), if named.
    """

    length: int
    left: str = ""
    right: str = ""
    protect: list[tuple[int, int]] = field(default_factory=list)
    max_edits: int | None = None
    gc: tuple[float, float] | None = None
    forbid: list[str] = field(default_factory=list)
    max_homopolymer: int | None = None
    require: list[str] = field(default_factory=list)
    construct: str | None = None

    def __post_init__(self) -> None:
        self.left, self.right = self.left.upper(), self.right.upper()
        if len(self.left) + len(self.right) >= self.length:
            raise DataError(f"fixed flanks ({len(self.left)} + {len(self.right)} bp) leave nothing to design in "
                            f"{self.length} bp")
        for a, b in self.protect:
            if a >= b:
                raise DataError(f"protected range {a}-{b} is {'reversed' if a > b else 'empty'}: give START-END "
                                f"with START < END (e.g. {min(a, b)}-{max(a, b) if a != b else a + 1})")
            if not 0 <= a < b <= self.length:
                raise DataError(f"protected range {a}-{b} outside 0-{self.length}")
        if self.gc is not None and not 0 <= self.gc[0] <= self.gc[1] <= 1:
            raise DataError(f"GC range {self.gc} must satisfy 0 <= lo <= hi <= 1")
        sites = [resolve_site(s) for s in self.forbid]
        self.forbidden = [(label, re.compile(site_pattern(site))) for label, site in sites]
        self.rc_forbidden = [(label, re.compile(site_pattern(reverse_complement(site)))) for label, site in sites]
        if self.max_homopolymer is not None:
            run = self.max_homopolymer + 1
            self.forbidden.append((f"homopolymer > {self.max_homopolymer}", re.compile(f"A{{{run}}}|C{{{run}}}|"
                                                                                           f"G{{{run}}}|T{{{run}}}")))
        self.required = [(m.upper(), re.compile(site_pattern(m)), re.compile(site_pattern(reverse_complement(m))))
                         for m in self.require]
        self._check_required()

    def _check_required(self) -> None:
        """Required motifs that no sequence can hold: longer than the sequence, or banned by ``forbid`` (or the
        homopolymer limit) on every spelling of the motif; named up front, not after a fruitless search."""
        for motif in self.require:
            m = motif.upper()
            if len(m) > self.length:
                raise DataError(f"required motif {m} ({len(m)} bp) is longer than the {self.length}-bp sequence")
            spellings = _spellings(m)
            if spellings is None:
                continue  # too degenerate to enumerate: left to the search
            for label, pattern in self.forbidden + self.rc_forbidden:
                if all(pattern.search(x) for x in spellings):
                    raise DataError(f"required motif {m} contains {label}, which --forbid bans"
                                    if not label.startswith("homopolymer") else
                                    f"required motif {m} has a run of one base longer than {self.max_homopolymer}, "
                                    f"which --max-homopolymer {self.max_homopolymer} bans")

    @property
    def editable(self) -> np.ndarray:
        """Positions the designer may change."""
        mask = np.ones(self.length, bool)
        mask[: len(self.left)] = False
        mask[self.length - len(self.right):] = False
        for a, b in self.protect:
            mask[a:b] = False
        return mask

    def apply_flanks(self, codes: np.ndarray) -> np.ndarray:
        """Codes with the fixed flanks written in (for random or given starts)."""
        from seq2expr.data.sequences import encode

        out = np.array(codes, dtype=np.uint8, copy=True)
        if self.left:
            out[:, : len(self.left)] = encode([self.left])[0]
        if self.right:
            out[:, self.length - len(self.right):] = encode([self.right])[0]
        return out

    def gc_fraction(self, codes: np.ndarray) -> np.ndarray:
        e = self.editable
        sub = codes[:, e]
        return ((sub == 1) | (sub == 2)).sum(1) / max(1, int(e.sum()))

    def violations(self, codes: np.ndarray, start: np.ndarray | None = None) -> list[list[str]]:
        """For each sequence, the constraints it breaks (empty when it honours all)."""
        out: list[list[str]] = [[] for _ in range(len(codes))]
        for i, bad in enumerate(self._bad(codes, start)):
            if bad:
                out[i] = self._reasons(codes[i], None if start is None else start[i])
        return out

    def ok(self, codes: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        """Whether each sequence honours every constraint."""
        return ~self._bad(codes, start)

    def _bad(self, codes: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        bad = np.zeros(len(codes), bool)
        if start is not None:
            fixed = ~self.editable
            bad |= (codes[:, fixed] != start[:, fixed]).any(1)
            if self.max_edits is not None:
                bad |= (codes != start).sum(1) > self.max_edits
        if self.gc is not None:
            g = self.gc_fraction(codes)
            bad |= (g < self.gc[0] - 1e-9) | (g > self.gc[1] + 1e-9)
        if self.forbidden or self.required:
            for i, s in enumerate(decode(codes)):
                if not bad[i]:
                    bad[i] = self._text_bad(s)
        return bad

    def _text_bad(self, s: str) -> bool:
        if any(p.search(s) for _, p in self.forbidden) or any(p.search(s) for _, p in self.rc_forbidden):
            return True
        return any(not (f.search(s) or r.search(s)) for _, f, r in self.required)

    def _reasons(self, c: np.ndarray, start: np.ndarray | None) -> list[str]:
        why = []
        if start is not None:
            if (c[~self.editable] != start[~self.editable]).any():
                why.append("fixed position changed")
            n = int((c != start).sum())
            if self.max_edits is not None and n > self.max_edits:
                why.append(f"{n} edits > {self.max_edits}")
        if self.gc is not None:
            g = float(self.gc_fraction(c[None])[0])
            if not self.gc[0] - 1e-9 <= g <= self.gc[1] + 1e-9:
                why.append(f"GC {g:.2f} outside {self.gc[0]}-{self.gc[1]}")
        s = decode(c)[0]
        why += [f"has {label}" for label, p in self.forbidden + self.rc_forbidden if p.search(s)]
        why += [f"lacks {m}" for m, f, r in self.required if not (f.search(s) or r.search(s))]
        return list(dict.fromkeys(why))
