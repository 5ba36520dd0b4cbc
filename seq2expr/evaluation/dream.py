"""The Random Promoter DREAM Challenge 2022 score (Rafi et al. 2024), as computed by the official evaluation.

Per-sequence subsets (all, high, low, yeast, random, challenging) are scored on the predictions themselves;
pair subsets (SNV, motif perturbation, motif tiling) on the differences ``alt - ref`` of predicted versus
measured expression. For each metric (Pearson r^2 and Spearman rho) the challenge score is

    (all + 0.3 high + 0.3 low + 0.3 yeast + 0.3 random + 0.5 challenging + 1.25 SNV
     + 0.3 motif_perturbation + 0.4 motif_tiling) / 4.65

SNV pairs: the full (private) SNV pair list was never published, only the public-leaderboard pairs.
:func:`snv_pairs_from_sequences` rebuilds it as all test-sequence pairs one substitution apart; on the
public set this finds every published SNV pair (4,669 of 4,669) plus ~3% other single-base pairs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import pearsonr, spearmanr

from seq2expr.evaluation.scorers import register_scorer

WEIGHTS: dict[str, float] = {"all": 1.0, "high": 0.3, "low": 0.3, "yeast": 0.3, "random": 0.3, "challenging": 0.5,
                             "snv": 1.25, "motif_perturbation": 0.3, "motif_tiling": 0.4}
SINGLE_SUBSETS = ("high", "low", "yeast", "random", "challenging")
PAIR_SUBSETS = ("snv", "motif_perturbation", "motif_tiling")


def _corr(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, int]:
    ok = np.isfinite(pred) & np.isfinite(true)
    pred, true = pred[ok], true[ok]
    if len(pred) < 3 or np.ptp(pred) == 0 or np.ptp(true) == 0:
        return float("nan"), float("nan"), int(len(pred))
    return float(pearsonr(pred, true)[0]), float(spearmanr(pred, true)[0]), int(len(pred))


def pair_metrics(pred: np.ndarray, true: np.ndarray, pairs: np.ndarray) -> dict[str, float]:
    """Pearson r^2 and Spearman rho of predicted vs measured ``x[alt] - x[ref]`` over ``(P, 2)`` pairs."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    r, rho, n = _corr(pred[pairs[:, 0]] - pred[pairs[:, 1]], true[pairs[:, 0]] - true[pairs[:, 1]])
    return {"pearson_r2": r * r, "pearson_r": r, "spearman": rho, "n": n}


def single_metrics(pred: np.ndarray, true: np.ndarray, idx: np.ndarray) -> dict[str, float]:
    """Pearson r^2 and Spearman rho over the sequences ``idx``."""
    idx = np.unique(np.asarray(idx, dtype=np.int64))
    r, rho, n = _corr(pred[idx], true[idx])
    return {"pearson_r2": r * r, "pearson_r": r, "spearman": rho, "n": n}


def _as_array(pred: np.ndarray | Mapping, n: int) -> np.ndarray:
    if isinstance(pred, Mapping):
        out = np.full(n, np.nan)
        for k, v in pred.items():
            out[int(k)] = float(v)
        return out
    return np.asarray(pred, dtype=np.float64).ravel()


def restrict(subsets: Mapping[str, np.ndarray], pairs: Mapping[str, np.ndarray], keep: np.ndarray,
             pair_rule: str = "any") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Subsets limited to the test indices where ``keep`` (bool over all indices) is true.

    ``pair_rule="any"`` keeps a pair when at least one member is kept (close to the official private
    leaderboard, which dropped only the published public pairs: motif references are public sequences,
    so requiring both members leaves no motif pair); ``"both"`` keeps pairs whose members are both kept.
    """
    if pair_rule not in ("any", "both"):
        raise ValueError(f"pair_rule must be 'any' or 'both', not {pair_rule!r}")
    keep = np.asarray(keep, bool)
    subs = {k: np.asarray(v)[keep[np.asarray(v, dtype=np.int64)]] for k, v in subsets.items()}
    prs = {}
    for k, v in pairs.items():
        v = np.asarray(v, dtype=np.int64).reshape(-1, 2)
        a, b = keep[v[:, 0]], keep[v[:, 1]]
        prs[k] = v[(a & b) if pair_rule == "both" else (a | b)]
    return subs, prs


def challenge_scores(pred, true: np.ndarray, subsets: Mapping[str, np.ndarray], pairs: Mapping[str, np.ndarray],
                     *, keep: np.ndarray | None = None, pair_rule: str = "any") -> dict:
    """Per-subset metrics and the weighted challenge scores.

    Predictions for records of ``dream2022`` (whole, or a subset such as ``dream2022:test``) are scored by
    :func:`score_ids`.

    ``pred``/``true``: over all test indices (``pred`` may be a dict index -> value, missing ones NaN).
    ``subsets``: name -> member indices for all/high/low/yeast/random/challenging (``all`` defaults to every
    index with a finite prediction). ``pairs``: name -> ``(P, 2)`` (alt, ref) indices for snv /
    motif_perturbation / motif_tiling. ``keep``: optional bool mask (e.g. the private set) restricting every
    subset to its kept members and every pair subset by ``pair_rule`` (see :func:`restrict`).

    Returns ``{"subsets": {name: {pearson_r2, spearman, n}}, "score_pearson", "score_spearman"}``; a subset
    that is absent or has fewer than 3 members is left out of the weighted sums and the weights renormalised
    (``weights_used`` says which were used).
    """
    true = np.asarray(true, dtype=np.float64).ravel()
    p = _as_array(pred, len(true))
    if len(p) != len(true):
        raise ValueError(f"{len(p)} predictions for {len(true)} measured values")
    subs = dict(subsets)
    if "all" not in subs:
        subs["all"] = np.flatnonzero(np.isfinite(p))
    prs = dict(pairs)
    if keep is not None:
        subs, prs = restrict(subs, prs, keep, pair_rule)
    res: dict[str, dict] = {}
    for k, idx in subs.items():
        res[k] = single_metrics(p, true, idx)
    for k, pr in prs.items():
        res[k] = pair_metrics(p, true, pr)
    used = {k: w for k, w in WEIGHTS.items() if k in res and np.isfinite(res[k]["pearson_r2"])}
    total = sum(used.values())
    out = {"subsets": res, "weights_used": used}
    if total > 0:
        out["score_pearson"] = sum(w * res[k]["pearson_r2"] for k, w in used.items()) / total
        out["score_spearman"] = sum(w * res[k]["spearman"] for k, w in used.items()) / total
    else:
        out["score_pearson"] = out["score_spearman"] = float("nan")
    return out


def snv_pairs_from_sequences(seqs: list[str] | np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """All ``(i, j)`` index pairs (``i < j``) of equal-length sequences differing at exactly one position.

    Hash every sequence with one position masked, per position: two sequences one substitution apart share
    exactly one masked form. ``exclude``: ``(P, 2)`` pairs to drop (e.g. motif-tiling pairs).
    """
    arr = np.asarray(seqs)
    if arr.dtype.kind in "US":
        lengths = {len(s) for s in arr}
        if len(lengths) != 1:
            raise ValueError("snv_pairs_from_sequences needs sequences of one length")
        length = lengths.pop()
        codes = np.frombuffer("".join(arr.tolist()).encode(), dtype=np.uint8).reshape(len(arr), length)
    else:
        codes = np.asarray(arr, dtype=np.uint8)
    n, length = codes.shape
    found = []
    varying = np.flatnonzero((codes != codes[:1]).any(axis=0))  # constant flanks cannot hold a substitution
    for pos in varying:
        masked = codes.copy()
        masked[:, pos] = 0
        keys = np.ascontiguousarray(masked).view(np.dtype((np.void, length))).ravel()
        order = np.argsort(keys, kind="stable")
        ks = keys[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        sizes = np.diff(np.r_[starts, n])
        for s, z in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
            members = np.sort(order[s:s + z])
            ii, jj = np.triu_indices(z, 1)
            found.append(np.stack([members[ii], members[jj]], 1))
    if not found:
        return np.zeros((0, 2), np.int64)
    pairs = np.unique(np.concatenate(found), axis=0)
    if exclude is not None and len(exclude):
        ex = np.sort(np.asarray(exclude, dtype=np.int64).reshape(-1, 2), axis=1)
        ex_keys = set(map(tuple, ex.tolist()))
        pairs = pairs[[tuple(p) not in ex_keys for p in pairs.tolist()]]
    return pairs.astype(np.int64)


def dream_eval_sets(records, *, reconstruct_snv: bool = True, pairs: Mapping[str, np.ndarray] | None = None,
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Subsets and pairs of a ``dream2022`` Records set (from :func:`seq2expr.data.registry.load_dataset`).

    ``pairs`` defaults to the published pairs (:func:`seq2expr.data.registry.dream_pairs`); with
    ``reconstruct_snv`` the SNV pairs are the published ones plus every other one-substitution pair.
    """
    from seq2expr.data.registry import dream_pairs

    subs = {k.removeprefix("subset_"): np.flatnonzero(v) for k, v in records.groups.items()
            if k.startswith("subset_") and k.removeprefix("subset_") in SINGLE_SUBSETS}
    prs = dict(pairs) if pairs is not None else dream_pairs()
    if reconstruct_snv:
        rebuilt = snv_pairs_from_sequences(records.sequences, exclude=np.concatenate(
            [prs.get("motif_tiling", np.zeros((0, 2))), prs.get("motif_perturbation", np.zeros((0, 2)))]))
        pub = np.sort(prs.get("snv", np.zeros((0, 2), np.int64)), axis=1)
        prs["snv"] = np.unique(np.concatenate([pub, rebuilt]), axis=0)
    return subs, prs


_SETS_CACHE: dict[tuple, tuple[dict, dict, np.ndarray]] = {}


def full_test_sets(mirror=None, cache_dir=None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Subsets, pairs (SNV rebuilt) and measured values of the whole DREAM test set, cached per process."""
    key = (str(mirror), str(cache_dir))
    if key not in _SETS_CACHE:
        from seq2expr.data.registry import dream_subset_members, get_entry, load_dataset, resolve_files

        full = load_dataset("dream2022", mirror=mirror, cache_dir=cache_dir)
        pairs = dream_subset_members(resolve_files(get_entry("dream2022"), mirror=mirror, cache_dir=cache_dir))[1]
        subs, prs = dream_eval_sets(full, pairs=pairs)
        _SETS_CACHE[key] = (subs, prs, full.targets[:, 0].astype(np.float64))
    return _SETS_CACHE[key]


@register_scorer("dream2022")
def score_ids(ids: np.ndarray, pred: np.ndarray, *, pair_rule: str = "any") -> dict:
    """Challenge scores of ``pred`` for the DREAM test rows ``ids`` (their test indices).

    Rows are placed at their test index; subsets are restricted to the rows present (e.g. the private set
    for ``dream2022:test``), pairs by ``pair_rule``.
    """
    subs, prs, true = full_test_sets()
    idx = np.asarray(ids).astype(np.int64)
    full = np.full(len(true), np.nan)
    full[idx] = np.asarray(pred, dtype=np.float64).reshape(len(idx), -1)[:, 0]
    keep = np.zeros(len(true), bool)
    keep[idx] = True
    return challenge_scores(full, true, subs, prs, keep=keep, pair_rule=pair_rule)
