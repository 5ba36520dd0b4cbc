"""The Random Promoter DREAM Challenge 2022 (Rafi et al. 2024): its files, its records and its official score.

Registers ``dream2022`` (the 71,103-sequence test set: measured expression, subset membership, the public (train) /
private (test) split, Camformer's predictions) and ``dream2022_demo_train`` (6,369 noisy training rows).

The entry's scorer, :func:`score_ids`, is the challenge score as the official evaluation computes it.
Per-sequence subsets (all, high, low, yeast, random, challenging) are scored on the predictions themselves; pair
subsets (SNV, motif perturbation, motif tiling) on the differences ``alt - ref`` of predicted versus
measured expression. For each metric (Pearson r^2 and Spearman rho) the challenge score is

    (all + 0.3 high + 0.3 low + 0.3 yeast + 0.3 random + 0.5 challenging + 1.25 SNV
     + 0.3 motif_perturbation + 0.4 motif_tiling) / 4.65

SNV pairs: the full (private) SNV pair list was never published, only the public-leaderboard pairs.
:func:`snv_pairs_from_sequences` rebuilds it as all test-sequence pairs one substitution apart; on the
public set this finds every published SNV pair (4,669 of 4,669) plus ~3% other single-base pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from seq2expr.data.errors import DataError
from seq2expr.data.records import Records
from seq2expr.data.remote import (
    DatasetEntry,
    RemoteFile,
    load_entry,
    need_columns,
    read_csv,
    read_json,
    register_dataset,
    resolve_files,
)

_DREAM_RAW = "https://raw.githubusercontent.com/de-Boer-Lab/random-promoter-dream-challenge-2022/main/dream/data"
_CAMFORMER_RAW = ("https://raw.githubusercontent.com/gautammalik-git/Camformer/main/manuscript_figures/"
                  "Figure_3_S3/data/data_scatter_O_Mi.csv.gz")
DREAM_TEST = "test_71103_with_camformer_predictions.csv.gz"
DREAM_N_TEST = 71103
# subset name -> (test_subset_ids file, public json file, paired)
DREAM_SUBSETS: dict[str, tuple[str, str, bool]] = {
    "high": ("high_exp_seqs.csv.gz", "high_exp_indices.json", False),
    "low": ("low_exp_seqs.csv.gz", "low_exp_indices.json", False),
    "yeast": ("yeast_seqs.csv.gz", "yeast_exp_indices.json", False),
    "random": ("all_random_seqs.csv.gz", "random_exp_indices.json", False),
    "challenging": ("challenging_seqs.csv.gz", "challenging_exp_indices.json", False),
    "motif_perturbation": ("motif_perturbation_seqs.csv.gz", "motif_perturbation_exp_indices.json", True),
    "motif_tiling": ("motif_tiling_seqs.csv.gz", "motif_tiling_exp_indices.json", True),
    "snv": ("", "SNVs_exp_indices.json", True),
}
# published (as-stored) sha256, decompressed sha256, size
_DREAM_SUMS = {
    DREAM_TEST: ("c58b68f0991202fe62e63e021f0d52c86466cc66bd063ec37e4877f205cc5114",
                 "07a1adacb40ec7552c0d3852432041980ddf9c3a14ef60793bdd1d6077e76885", 2313900),
    "demo_train_6369.txt.gz": ("2ea87ff54e16b06fa8bcf8dce52563d450e33b38fbc5d685518fedde5973d7cb",
                               "277090c096efb1592d1b017fffef6d83d96817ae4430109ddc5ba45b66dd8ede", 201670),
    "plasmid.json": ("e1444cace7908c314be020e79c7790558f3947c3c932fd0c02136df14df59113", None, 8296),
    "public_leaderboard_ids/SNVs_exp_indices.json": (
        "d9c05e424283d904f7f7fddc42c47bd908f96ce2cd944dad7dd98b8c61720ff1", None, 256491),
    "public_leaderboard_ids/challenging_exp_indices.json": (
        "57fea77662a5eb45a2e4e734cacc7dea509f4e23ddbe20d4b8c70c44ad578d97", None, 5409),
    "public_leaderboard_ids/ground.json": (
        "c2980b4879fd86ba97885ab3cb8843f62a42820ff7ad34b2e0546cfed17f584e", None, 252964),
    "public_leaderboard_ids/high_exp_indices.json": (
        "55fc35e976866c66756663ef025a82d705cf31fa5776f47fc2af076572d051d9", None, 2574),
    "public_leaderboard_ids/low_exp_indices.json": (
        "41e0a632819d2df50e22a65c803c10bdfb612c9a39ff1b16e717e9206ea32ea2", None, 2770),
    "public_leaderboard_ids/motif_perturbation_exp_indices.json": (
        "14075add0dd9edef8cb986bb9bb522de5051125c1d7d8c3895ffb9dc42cc060e", None, 18346),
    "public_leaderboard_ids/motif_tiling_exp_indices.json": (
        "5b018298681f9dc431e18318f69f8da15972bd80131a7d72a9bed43bd1efdc1e", None, 14639),
    "public_leaderboard_ids/random_exp_indices.json": (
        "8f3d16a799454ca1e7a40e7041d07c63818041eb1dab089c79885d3a621d3084", None, 20701),
    "public_leaderboard_ids/yeast_exp_indices.json": (
        "83f1f62ec6fb3f5f7ab427cd48259c3f7d0e4bed629a83edc05f226384295162", None, 5837),
    "test_subset_ids/all_random_seqs.csv.gz": (
        "84a8b7dcca774b95c5abc8e296487e408bb2953d55747d2efc47772fb18f7bbd",
        "f1f3fb397cf664ce9bd5796e68418aad42e9ee017f60b129009b14c10e1096bb", 242107),
    "test_subset_ids/challenging_seqs.csv.gz": (
        "82cb43bcd147c5d89315742fef6aa5ac718cd9a0caa50b589ba1b0907c442b08",
        "b62de941b2d9cf4367d9933e4b43c3997ecb8c6f508f429d4488a3345193d097", 59182),
    "test_subset_ids/high_exp_seqs.csv.gz": (
        "313babd27bc3f0db31ec3159734a44ace8417a6e1d4d75b1fbb2d6f83b84d4b4",
        "8ca895e422e92770b715f917ff48593cc7e2d1a004683aef9eea37229de9480f", 33317),
    "test_subset_ids/low_exp_seqs.csv.gz": (
        "8dc57e93df2b816680a6c7ab0abf471bbff0f4ceb818e26c20018728db0f3cf8",
        "206926a6054c106039b8ae87b2807305ae5454ccc725bc8b162512496949a9c2", 34811),
    "test_subset_ids/motif_perturbation_seqs.csv.gz": (
        "d6f4f36975a575159241ac11792429ddb5bbb953dc683e5495db24489981986d",
        "627cba47abd45b54cfad6e522697cfa0f5b0c7b005290a9311d1ab9e6f45a65a", 58171),
    "test_subset_ids/motif_tiling_seqs.csv.gz": (
        "997359f3dfe3960467e2f556a16a4117e48a061e0af2d7fb74abc79abed2f9c1",
        "1edaaa96fe9af4987d119cd647a6f53da99dd87eb30e55fb85c76e753cfada03", 35628),
    "test_subset_ids/yeast_seqs.csv.gz": (
        "dcfbbc138c54662875d80c48e25cca0ef16de519dd2b552156e72e83c8e4d00d",
        "af3041c3645ba3ae4ff8a992abe1e5170ce57e625e7c5f819e4550036224b22e", 26008),
}


def _dream_url(name: str) -> str:
    if name == DREAM_TEST:
        return _CAMFORMER_RAW
    if name == "demo_train_6369.txt.gz":
        return f"{_DREAM_RAW}/demo_train.txt"
    if name.startswith("test_subset_ids/"):
        return f"{_DREAM_RAW}/{name.removesuffix('.gz')}"
    return f"{_DREAM_RAW}/{name}"


def _dream_file(name: str) -> RemoteFile:
    sha, content, size = _DREAM_SUMS[name]
    return RemoteFile(name, _dream_url(name), sha, size, content)


_DREAM_TEST_FILES = tuple(_dream_file(n) for n in _DREAM_SUMS
                          if n.startswith(("test_", "public_leaderboard_ids/")) or n == "plasmid.json")


def _index_array(values, path: Path, n: int) -> np.ndarray:
    idx = np.asarray(values, dtype=np.int64)
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
        raise DataError(f"test index {int(idx[bad[0]])} outside 0..{n - 1}", source=str(path), record=int(bad[0]) + 1)
    return idx


def dream_subset_members(paths: dict[str, Path], n: int = DREAM_N_TEST) -> tuple[dict[str, np.ndarray],
                                                                                   dict[str, np.ndarray]]:
    """Per-sequence membership masks and ``(P, 2)`` ``(alt, ref)`` pair arrays of every DREAM test subset.

    Members are the union of the published subset tables (all test rows) and the public-leaderboard JSON
    files. The SNV pairs come only from the public JSON file: the private SNV list was never published.
    """
    masks: dict[str, np.ndarray] = {}
    pairs: dict[str, np.ndarray] = {}
    for sub, (table, public, paired) in DREAM_SUBSETS.items():
        mask = np.zeros(n, bool)
        pair_rows: list[np.ndarray] = []
        pj = paths[f"public_leaderboard_ids/{public}"]
        keys = list(read_json(pj))
        if paired:
            pub = np.array([[int(x) for x in k.split(",")] for k in keys], dtype=np.int64).reshape(-1, 2)
            pair_rows.append(_index_array(pub, pj, n))
        else:
            mask[_index_array([int(k) for k in keys], pj, n)] = True
        if table:
            tp = paths[f"test_subset_ids/{table}"]
            df = read_csv(tp)
            if paired:
                need_columns(df, ["alt_pos", "ref_pos"], tp)
                pair_rows.append(_index_array(df[["alt_pos", "ref_pos"]].to_numpy(), tp, n))
            else:
                need_columns(df, ["pos"], tp)
                mask[_index_array(df["pos"].to_numpy(), tp, n)] = True
        if paired:
            pr = np.unique(np.concatenate(pair_rows), axis=0)
            pairs[sub] = pr
            mask[pr.ravel()] = True
        masks[sub] = mask
    return masks, pairs


def _load_dream_test(paths: dict[str, Path]) -> Records:
    tp = paths[DREAM_TEST]
    df = read_csv(tp)
    need_columns(df, ["seq", "true_expr", "orig_model_expr", "mini_model_expr"], tp)
    n = len(df)
    if n != DREAM_N_TEST:
        raise DataError(f"{n} rows but the DREAM test set has {DREAM_N_TEST}", source=str(tp))
    true = df["true_expr"].to_numpy(np.float32)
    gp = paths["public_leaderboard_ids/ground.json"]
    ground = read_json(gp)
    pub = _index_array([int(k) for k in ground], gp, n)
    vals = np.array(list(ground.values()), dtype=np.float64)
    off = np.abs(vals - true[pub])
    if off.max() > 1e-4:
        i = int(off.argmax())
        raise DataError(f"public value {vals[i]} differs from true_expr {true[pub[i]]} of test row {pub[i]}",
                        source=str(gp), record=int(pub[i]))
    split = np.full(n, "test", dtype=object)
    split[pub] = "train"
    masks, _ = dream_subset_members(paths, n)
    groups: dict[str, np.ndarray] = {"split": split.astype(str)}
    for sub, m in masks.items():
        groups[f"subset_{sub}"] = m
    groups["camformer"] = df["orig_model_expr"].to_numpy(np.float32)
    groups["camformer_mini"] = df["mini_model_expr"].to_numpy(np.float32)
    return Records(ids=np.arange(n).astype(str), sequences=df["seq"].tolist(), targets=true[:, None],
                   target_names=["expression"], groups=groups, source=str(tp),
                   lines=np.arange(n) + 2)


def dream_pairs(mirror: str | Path | None = None, cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """``(alt, ref)`` test-index pairs of the paired DREAM subsets (snv, motif_perturbation, motif_tiling)."""
    paths = resolve_files(DREAM, mirror=mirror, cache_dir=cache_dir)
    return dream_subset_members(paths)[1]


def _load_dream_demo(paths: dict[str, Path]) -> Records:
    p = paths["demo_train_6369.txt.gz"]
    df = read_csv(p, sep="\t", header=None, names=["sequence", "expression"])
    if df["expression"].isna().any():
        i = int(np.flatnonzero(df["expression"].isna().to_numpy())[0])
        raise DataError("missing expression value", source=str(p), record=f"line {i + 1}")
    return Records(ids=np.array([f"demo{i}" for i in range(len(df))]), sequences=df["sequence"].tolist(),
                   targets=df["expression"].to_numpy(np.float32)[:, None], target_names=["expression"],
                   groups={}, source=str(p), lines=np.arange(len(df)) + 1)



# the challenge score ---------------------------------------------------------------------------

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

    ``pairs`` defaults to the published pairs (:func:`dream_pairs`); with
    ``reconstruct_snv`` the SNV pairs are the published ones plus every other one-substitution pair.
    """
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
        full = load_entry(DREAM, mirror=mirror, cache_dir=cache_dir)
        pairs = dream_subset_members(resolve_files(DREAM, mirror=mirror, cache_dir=cache_dir))[1]
        subs, prs = dream_eval_sets(full, pairs=pairs)
        _SETS_CACHE[key] = (subs, prs, full.targets[:, 0].astype(np.float64))
    return _SETS_CACHE[key]


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


_DREAM_CITATION = ("Rafi AM et al. (2024) A community effort to optimize sequence-based deep learning models of "
                   "gene regulation. Nat Biotechnol. doi:10.1038/s41587-024-02414-w; Camformer predictions: "
                   "Malik et al., github.com/gautammalik-git/Camformer")

DREAM = register_dataset(DatasetEntry(
    name="dream2022",
    description="Random Promoter DREAM Challenge 2022 test set: 71,103 yeast promoters (110 nt), measured "
                "expression, subset membership, public (train) / private (test) split, Camformer predictions",
    citation=_DREAM_CITATION,
    licence="MIT",
    files=_DREAM_TEST_FILES,
    loader=_load_dream_test,
    scorer=score_ids,
    construct=("TGCATTTTTTTCACATC", "GGTTACGGCTGTT"),  # 17 + 80 variable + 13 = 110 nt
    subsets={"train": lambda r: r.groups["split"] == "train", "test": lambda r: r.groups["split"] == "test",
             **{s: (lambda r, s=s: r.groups[f"subset_{s}"]) for s in DREAM_SUBSETS}},
))

register_dataset(DatasetEntry(
    name="dream2022_demo_train",
    description="6,369 noisy rows of the DREAM 2022 training set (expression on the 0-17 bin scale, ~2 cells "
                "per sequence); none is in the test set",
    citation=_DREAM_CITATION,
    licence="MIT",
    files=(_dream_file("demo_train_6369.txt.gz"),),
    loader=_load_dream_demo,
    folder="dream2022",
))
