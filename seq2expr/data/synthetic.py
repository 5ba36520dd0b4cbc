"""The embedded default data set: synthetic promoters with real yeast TF motifs planted at known places.

Why: the demo, the tests and the interpretation layer need data whose answer is known. Each sequence is a
random background (GC fraction configurable) with some of a fixed set of motifs planted; every instance is
*sampled* from a real JASPAR position frequency matrix (read offline from the sqlite that ships inside
``pyjaspar``), on a random strand. Expression follows a declared model::

    expression = baseline
                 + sum over planted sites s of effect[motif(s)] * w(position(s))     (additive, position-weighted)
                 + interaction.effect * [a present] * [b present]                   (one pairwise term)
                 + Normal(0, noise_sd)                                              (measurement noise)

with ``w(x) = lo + (hi - lo) * x`` and ``x`` the site centre as a fraction of the length (0 = 5' end,
1 = 3' end, where the TSS would be): sites close to the TSS act more strongly. Activators have positive
effects, the repressor a negative one. The ground truth (every site, the global model) goes to
``truth.json``; the planted matrices go to ``motifs.meme``. Everything is reproducible from ``seed``.

Planted sites are PWM draws conditioned on scoring at least ``min_score`` x the matrix's best log-odds
score (sites a scanner would call), and background windows that reach that score by chance are redrawn,
so the truth lists every site that matters: a model can in principle reach the noise ceiling.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seq2expr.atomic import atomic_path, write_json, write_text
from seq2expr.data.errors import DataError
from seq2expr.data.io.motifs import jaspar_counts, jaspar_releases, meme_text
from seq2expr.data.sequences import ALPHABET, decode, reverse_complement_codes, reverse_complement_onehot

JASPAR_RELEASE = "JASPAR2024"  # pinned so the default data set never changes under a pyjaspar upgrade
TRUTH_VERSION = 1


@dataclass(frozen=True)
class MotifSpec:
    """One planted motif: a JASPAR matrix and its additive effect on expression (negative: repressor)."""

    name: str
    matrix_id: str
    effect: float

    @property
    def role(self) -> str:
        return "activator" if self.effect > 0 else "repressor"


@dataclass(frozen=True)
class Interaction:
    """A pairwise term added when both motifs are present (positive: synergy, negative: antagonism)."""

    a: str
    b: str
    effect: float


# Well-known S. cerevisiae regulators (TBP's TATA box is the JASPAR core-promoter matrix).
DEFAULT_MOTIFS: tuple[MotifSpec, ...] = (
    MotifSpec("RAP1", "MA0359.3", 2.0),
    MotifSpec("ABF1", "MA0265.3", 1.5),
    MotifSpec("REB1", "MA0363.3", 1.2),
    MotifSpec("GCN4", "MA0303.3", 1.0),
    MotifSpec("MCM1", "MA0331.1", 0.8),
    MotifSpec("TBP", "MA0108.3", 1.0),
    MotifSpec("NRG1", "MA0347.3", -2.0),
)
DEFAULT_INTERACTION = Interaction("RAP1", "REB1", 1.0)  # two activators synergise
TATA_NAMES = ("TBP", "SPT15")


def load_pwms(motifs: tuple[MotifSpec, ...] | list[MotifSpec], release: str = JASPAR_RELEASE,
              pseudocount: float = 0.5) -> tuple[dict[str, np.ndarray], str]:
    """Fetch each motif's counts from the offline JASPAR sqlite; return ``{name: (w, 4) probs}`` and the release.

    ``pseudocount`` (per base) keeps rare bases possible. A matrix ID missing from the release is a
    :class:`DataError` naming it (no network fallback: the demo must work offline).
    """
    if release not in jaspar_releases():
        raise DataError(f"{release} is not in the installed pyjaspar (has {', '.join(jaspar_releases())})",
                        source="pyjaspar")
    pwms: dict[str, np.ndarray] = {}
    for m in motifs:
        counts = jaspar_counts(m.matrix_id, release)[1].T  # (w, 4): positions first, as the sampler reads them
        probs = (counts + pseudocount) / (counts + pseudocount).sum(1, keepdims=True)
        pwms[m.name] = probs
    return pwms, release


def background_probs(gc: float) -> np.ndarray:
    """ACGT probabilities of an i.i.d. background with GC fraction ``gc``."""
    return np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])


def log_odds(pwm: np.ndarray, gc: float = 0.5) -> np.ndarray:
    """``(w, 4)`` log2(p / background) scores of a probability matrix."""
    return np.log2(pwm / background_probs(gc)[None, :])


def score_site(codes: np.ndarray, pwm: np.ndarray, strand: str, gc: float = 0.5) -> float:
    """Log-odds score of a ``(w,)`` window of uint8 codes under ``pwm`` on the given strand."""
    lo = log_odds(pwm, gc)
    if strand == "-":
        lo = reverse_complement_onehot(lo.T).T  # the matrix is (w, 4)
    codes = np.asarray(codes)
    if (codes > 3).any():
        return float("-inf")
    return float(lo[np.arange(len(codes)), codes].sum())


def position_weight(centre: np.ndarray | float, length: int, lo: float, hi: float) -> np.ndarray | float:
    """Position effect: ``lo`` at the 5' end rising linearly to ``hi`` at the 3' end (the TSS side)."""
    return lo + (hi - lo) * (np.asarray(centre) / length)


def _coerce_motifs(motifs: Any) -> tuple[MotifSpec, ...]:
    if motifs is None:
        return DEFAULT_MOTIFS
    out = []
    for m in motifs:
        if isinstance(m, MotifSpec):
            out.append(m)
        elif isinstance(m, dict):
            try:
                out.append(MotifSpec(str(m["name"]), str(m["matrix_id"]), float(m["effect"])))
            except KeyError as e:
                raise ValueError(f"motif {m!r} needs name, matrix_id and effect") from e
        else:
            raise ValueError(f"motif {m!r} must be a MotifSpec or a dict")
    names = [m.name for m in out]
    if not out:
        raise ValueError("motifs: at least one motif is needed")
    if len(set(names)) != len(names):
        raise ValueError(f"motif names must be unique: {names}")
    return tuple(out)


def _validate(n: int, length: int, gc: float, p_present: float, min_score: float, noise_sd: float,
              position: tuple[float, float], motifs: tuple[MotifSpec, ...], pwms: dict[str, np.ndarray],
              interaction: Interaction | None) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0.0 < gc < 1.0:
        raise ValueError(f"gc must be in (0, 1), got {gc}")
    if not 0.0 <= p_present <= 1.0:
        raise ValueError(f"p_present must be in [0, 1], got {p_present}")
    if not 0.0 <= min_score < 1.0:
        raise ValueError(f"min_score must be in [0, 1), got {min_score}")
    if noise_sd < 0:
        raise ValueError(f"noise_sd must be >= 0, got {noise_sd}")
    if len(position) != 2:
        raise ValueError(f"position must be (lo, hi), got {position!r}")
    total = sum(len(p) for p in pwms.values())
    if length < total + len(motifs):
        raise ValueError(f"length {length} is too short to hold every motif ({total} bp in all) without overlap")
    if interaction is not None:
        names = {m.name for m in motifs}
        for x in (interaction.a, interaction.b):
            if x not in names:
                raise ValueError(f"interaction motif {x!r} is not among the planted motifs {sorted(names)}")
        if interaction.a == interaction.b:
            raise ValueError("interaction needs two different motifs")


def _sample_sites(rng: np.random.Generator, pwm: np.ndarray, k: int, lo: np.ndarray | None = None,
                  min_score: float = -np.inf) -> np.ndarray:
    """``k`` instances ``(k, w)`` drawn base by base from the matrix (not the consensus).

    With log-odds ``lo`` and ``min_score``, draws scoring below it are redrawn (rejection sampling), so
    every planted site is one a motif scanner would call: the matrix conditioned on being a binding site.
    """
    cdf = np.cumsum(pwm, axis=1)  # (w, 4)
    out = np.empty((k, len(pwm)), dtype=np.uint8)
    todo = np.arange(k)
    for _ in range(1000):
        u = rng.random((len(todo), len(pwm)))[:, :, None]
        draw = np.minimum((u > cdf[None, :, :]).sum(2), 3).astype(np.uint8)
        out[todo] = draw
        if lo is None:
            return out
        todo = todo[lo[np.arange(len(pwm)), draw].sum(1) < min_score]
        if not len(todo):
            return out
    raise ValueError(f"min_score {min_score:.2f} is too strict for this matrix")  # pragma: no cover


def _place(rng: np.random.Generator, length: int, widths: list[int]) -> list[int] | None:
    """Random non-overlapping starts for sites of the given widths (None if it did not fit in a few tries)."""
    for _ in range(20):
        taken: list[tuple[int, int]] = []
        for w in widths:
            for _ in range(100):
                s = int(rng.integers(0, length - w + 1))
                if all(s + w <= a or s >= b for a, b in taken):
                    taken.append((s, s + w))
                    break
            else:
                break
        if len(taken) == len(widths):
            return [a for a, _ in taken]
    return None


def _window_scores(codes: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``(n, L - w + 1)`` best-strand log-odds scores of every window (codes 0-3 only)."""
    w = len(lo)
    width = codes.shape[1] - w + 1
    lo_f = np.ascontiguousarray(lo, dtype=np.float32)
    lo_r = np.ascontiguousarray(reverse_complement_onehot(lo.T).T, dtype=np.float32)
    fwd = np.zeros((len(codes), width), np.float32)
    rev = np.zeros_like(fwd)
    for k in range(w):  # in-place accumulation of table look-ups: no (n, width, w) temporary
        win = codes[:, k : k + width]
        fwd += lo_f[k].take(win)
        rev += lo_r[k].take(win)
    return np.maximum(fwd, rev, out=fwd)


def _overlap(planted: np.ndarray, w: int) -> np.ndarray:
    """``(n, L - w + 1)`` number of planted bases inside each window of width ``w``."""
    c = np.concatenate([np.zeros((len(planted), 1), np.int32), np.cumsum(planted, axis=1, dtype=np.int32)], axis=1)
    return c[:, w:] - c[:, :-w]


def _scrub(codes: np.ndarray, planted: np.ndarray, los: dict[str, np.ndarray], floors: dict[str, float],
           rng: np.random.Generator, gc: float, rounds: int = 200) -> tuple[int, int]:
    """Redraw background bases of accidental motif hits (score >= floor, mostly outside planted sites), in place.

    Why: a hit the truth does not list would be an unexplained effect, so the truth would be incomplete.
    A window sharing at least half its bases with planted sites is a shadow of those sites (e.g. a
    palindromic site read one base shifted on the other strand) that could not be bound beside them, so it
    is left alone; redrawing its few background bases could never remove it. Returns the number of bases
    redrawn and the number of sequences still holding an accidental hit after ``rounds`` (normally 0).
    """
    rows = np.arange(len(codes))
    total = 0
    for _ in range(rounds):
        redraw = np.zeros((len(rows), codes.shape[1]), dtype=bool)
        sub, prot = codes[rows], planted[rows]
        for name, lo in los.items():
            w = len(lo)
            hit = (_window_scores(sub, lo) >= floors[name]) & (2 * _overlap(prot, w) < w)
            if not hit.any():
                continue
            cover = np.zeros_like(redraw)
            for k in range(w):  # bases covered by any hit window
                cover[:, k : k + hit.shape[1]] |= hit
            redraw |= cover & ~prot
        redraw_rows = redraw.any(1)
        if not redraw_rows.any():
            return total, 0
        r_idx, c_idx = np.nonzero(redraw)
        codes[rows[r_idx], c_idx] = rng.choice(4, size=len(r_idx), p=background_probs(gc)).astype(np.uint8)
        total += len(r_idx)
        rows = rows[redraw_rows]
    return total, len(rows)


def make_synthetic(n: int = 20000, length: int = 150, seed: int = 0, motifs: Any = None, *,
                   gc: float = 0.4, p_present: float = 0.35, position: tuple[float, float] = (0.4, 1.0),
                   interaction: Interaction | dict | None = DEFAULT_INTERACTION, noise_sd: float = 0.5,
                   baseline: float = 0.0, min_score: float = 0.6,
                   release: str = JASPAR_RELEASE) -> tuple[pd.DataFrame, dict]:
    """Generate ``n`` sequences of ``length`` bp; return the table (id, sequence, expression, subset) and the truth.

    Each motif is planted (at most once per sequence) with probability ``p_present`` at a random
    non-overlapping position and strand. ``subset`` is ``TATA``/``TATA-less`` when a TBP motif is planted
    (``<name>+``/``<name>-`` of the first motif otherwise), for per-group metrics.
    """
    motifs = _coerce_motifs(motifs)
    if isinstance(interaction, dict):
        interaction = Interaction(str(interaction["a"]), str(interaction["b"]), float(interaction["effect"]))
    pwms, used_release = load_pwms(motifs, release)
    _validate(n, length, gc, p_present, min_score, noise_sd, tuple(position), motifs, pwms, interaction)
    lo, hi = float(position[0]), float(position[1])
    n = int(n)
    rng = np.random.default_rng(seed)
    codes = rng.choice(4, size=(n, length), p=background_probs(gc)).astype(np.uint8)
    present = rng.random((n, len(motifs))) < p_present
    names = [m.name for m in motifs]

    ids = [f"syn{i:06d}" for i in range(n)]
    starts = _placements(rng, length, [len(pwms[m.name]) for m in motifs], present, ids)
    signal = np.full(n, baseline, dtype=np.float64)
    floors = {m.name: min_score * log_odds(pwms[m.name], gc).max(1).sum() for m in motifs}
    planted = np.zeros((n, length), dtype=bool)
    parts = [_plant(rng, codes, planted, signal, j, m, pwms[m.name], present, starts, ids, gc=gc, floor=floors[m.name],
                    position=(lo, hi)) for j, m in enumerate(motifs)]  # one motif at a time, for all its sequences
    n_scrubbed, n_unscrubbed = _scrub(codes, planted, {k: log_odds(v, gc) for k, v in pwms.items()}, floors, rng, gc)
    site_table = pd.concat(parts).sort_values(["row", "start"]).drop(columns="row")
    sites = {k: site_table[k].tolist() for k in site_table.columns}
    inter = np.zeros(n)
    if interaction is not None:
        both = present[:, names.index(interaction.a)] & present[:, names.index(interaction.b)]
        inter = interaction.effect * both
        signal += inter
    expression = signal + rng.normal(0.0, noise_sd, n)

    tata = next((m.name for m in motifs if m.name.upper() in TATA_NAMES), None)
    key = tata or names[0]
    has = present[:, names.index(key)]
    labels = ("TATA", "TATA-less") if tata else (f"{key}+", f"{key}-")
    table = pd.DataFrame({"id": ids, "sequence": decode(codes), "expression": np.round(expression, 6),
                          "subset": np.where(has, labels[0], labels[1])})
    params = {"n": n, "length": int(length), "seed": seed, "gc": gc, "p_present": p_present, "baseline": baseline,
              "min_score": min_score, "release": used_release}
    truth = _truth(params, motifs, pwms, interaction, noise_sd, (lo, hi), (key, labels), signal, sites,
                   (n_scrubbed, n_unscrubbed))
    return table, truth


def _placements(rng: np.random.Generator, length: int, widths: list[int], present: np.ndarray, ids: list[str]
                ) -> np.ndarray:
    """Start of each present motif in each sequence (-1: absent): random order, no overlap."""
    n, k = present.shape
    starts = np.full((n, k), -1, dtype=np.int64)
    for i in range(n):
        chosen = [j for j in rng.permutation(k) if present[i, j]]
        placed = _place(rng, length, [widths[j] for j in chosen])
        if placed is None:  # pragma: no cover - validated lengths make this practically impossible
            raise DataError("could not place the motifs without overlap; use longer sequences", record=ids[i])
        starts[i, chosen] = placed
    return starts


def _plant(rng: np.random.Generator, codes: np.ndarray, planted: np.ndarray, signal: np.ndarray, j: int,
           m: Any, pwm: np.ndarray, present: np.ndarray, starts: np.ndarray, ids: list[str], *, gc: float,
           floor: float, position: tuple[float, float]) -> pd.DataFrame:
    """Sample motif ``j``'s sites, write them into ``codes`` (either strand), add their effect to ``signal``;
    return the table of its sites."""
    length = codes.shape[1]
    rows = np.flatnonzero(present[:, j])
    w = len(pwm)
    lo_f = log_odds(pwm, gc)
    site = _sample_sites(rng, pwm, len(rows), lo_f, floor)
    minus = rng.random(len(rows)) < 0.5
    site[minus] = reverse_complement_codes(site[minus])
    s = starts[rows, j]
    codes[rows[:, None], s[:, None] + np.arange(w)[None, :]] = site
    planted[rows[:, None], s[:, None] + np.arange(w)[None, :]] = True
    lo_r = reverse_complement_onehot(lo_f.T).T
    score = np.where(minus, lo_r[np.arange(w), site].sum(1), lo_f[np.arange(w), site].sum(1))
    pw = position_weight(s + w / 2, length, *position)
    np.add.at(signal, rows, m.effect * pw)
    return pd.DataFrame({"row": rows, "id": np.asarray(ids)[rows], "motif": m.name, "start": s, "end": s + w,
                         "strand": np.where(minus, "-", "+"), "site": decode(site), "score": np.round(score, 3),
                         "position_weight": np.round(pw, 6), "contribution": np.round(m.effect * pw, 6)})


def _truth(params: dict, motifs: list, pwms: dict[str, np.ndarray], interaction: Interaction | None,
           noise_sd: float, position: tuple[float, float], subset: tuple[str, tuple[str, str]], signal: np.ndarray,
           sites: dict, scrubbed: tuple[int, int]) -> dict:
    """The ground truth written beside a synthetic table (what was planted where, and the expression model)."""
    lo, hi = position
    key, labels = subset
    n_scrubbed, n_unscrubbed = scrubbed
    gc, used_release = params["gc"], params["release"]
    return {
        "version": TRUTH_VERSION,
        "generator": "seq2expr.data.synthetic.make_synthetic",
        "params": params,
        "background": {"gc": gc, "iid": True, "scrubbed_bases": int(n_scrubbed),
                       "unscrubbed_sequences": int(n_unscrubbed),
                       "note": ("i.i.d. bases; accidental hits scoring >= min_score * max log-odds (windows "
                                "overlapping planted sites by less than half their width) were redrawn")},
        "model": ("expression = baseline + sum_sites effect[motif] * position_weight(centre) "
                  "+ interaction.effect * [a present] * [b present] + Normal(0, noise_sd)"),
        "motifs": [{**asdict(m), "role": m.role, "width": int(len(pwms[m.name])), "jaspar_release": used_release,
                    "consensus": "".join(ALPHABET[k] for k in pwms[m.name].argmax(1))} for m in motifs],
        "position_effect": {"type": "linear", "lo": lo, "hi": hi,
                            "formula": "w = lo + (hi - lo) * (start + width / 2) / length",
                            "note": "0 = 5' end, 1 = 3' end (TSS side): sites near the TSS act more strongly"},
        "interaction": (None if interaction is None else
                        {**asdict(interaction), "kind": "synergy" if interaction.effect > 0 else "antagonism"}),
        "noise_sd": noise_sd,
        "subset": {"column": "subset", "motif": key, "labels": list(labels)},
        "signal": np.round(signal, 6).tolist(),  # noise-free expression, row order of the table
        "sites": sites,  # one entry per planted site (columnar)
        "pwms": {k: np.round(v, 6).tolist() for k, v in pwms.items()},
    }


def write_synthetic(out_dir: str | Path, **kwargs) -> dict[str, Path]:
    """Generate with :func:`make_synthetic` and write ``data.tsv``, ``truth.json``, ``motifs.meme`` atomically."""
    out = Path(out_dir)
    table, truth = make_synthetic(**kwargs)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"data": out / "data.tsv", "truth": out / "truth.json", "motifs": out / "motifs.meme"}
    with atomic_path(paths["data"]) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    write_json(paths["truth"], truth)
    ids = {m["name"]: m["matrix_id"] for m in truth["motifs"]}
    pwms = {k: np.asarray(v) for k, v in truth["pwms"].items()}
    named = {f"{ids[k]} {k}" if ids and k in ids else k: v.T for k, v in pwms.items()}  # (4, w), the one layout
    write_text(paths["motifs"], meme_text(named, background_probs(truth["params"]["gc"])))
    return paths


def read_truth(path: str | Path) -> dict:
    """Load ``truth.json`` and check it is a synthetic truth file this version understands."""
    path = Path(path)
    try:
        truth = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read the truth file: {e}", source=str(path)) from e
    if not isinstance(truth, dict) or truth.get("version") != TRUTH_VERSION or "sites" not in truth:
        raise DataError(f"not a version-{TRUTH_VERSION} synthetic truth file", source=str(path))
    return truth


def truth_features(ids: list[str] | np.ndarray, truth: dict) -> tuple[np.ndarray, list[str]]:
    """Design matrix of the declared model: one column per motif (sum of position weights of its sites in the
    sequence) plus the interaction indicator; regressing expression on it recovers the effects."""
    names = [m["name"] for m in truth["motifs"]]
    row = {str(k): i for i, k in enumerate(ids)}
    x = np.zeros((len(row), len(names)))
    present = np.zeros((len(row), len(names)), dtype=bool)
    s = truth["sites"]
    for sid, motif, pw in zip(s["id"], s["motif"], s["position_weight"], strict=True):
        i = row.get(sid)
        if i is not None:
            x[i, names.index(motif)] += pw
            present[i, names.index(motif)] = True
    cols = list(names)
    inter = truth.get("interaction")
    if inter:
        both = present[:, names.index(inter["a"])] & present[:, names.index(inter["b"])]
        x = np.column_stack([x, both.astype(float)])
        cols.append(f"{inter['a']}x{inter['b']}")
    return x, cols
