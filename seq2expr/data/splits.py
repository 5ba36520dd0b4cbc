"""Train/validation/test splits, and checks that near-copies do not leak across them.

Methods: ``random``; ``group`` (whole chromosomes / species / subsets held out, plus :func:`group_kfold`;
test and validation may be held out by different columns, e.g. species and chromosome);
``ids`` (ID lists from files); ``column`` (a column saying train/valid/test); ``similarity`` (default);
``coordinates`` (genomic tiles: overlapping or nearby tiles stay in one split, :mod:`seq2expr.data.coordinates`).
:func:`make_fold_splits` gives k cross-validation folds over the units of ``random``, ``group``,
``similarity`` or ``coordinates`` (for a cross-validation ensemble).

Why ``similarity``: MPRA libraries hold SNV pairs, motif-perturbation and tiling variants that differ by
a few bases (and sometimes reverse complements). A random split puts one member of a pair in training
and the other in validation, so validation scores measure memorisation. :func:`similarity_clusters`
groups such sequences and :func:`similarity_split` assigns whole clusters.

The k-mer hashing behind the clusters and the leakage check live in :mod:`seq2expr.data.similarity`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from seq2expr.config import SplitConfig
from seq2expr.data.coordinates import coordinate_clusters, missing_coordinates, read_tiles
from seq2expr.data.errors import DataError
from seq2expr.data.similarity import similarity_clusters

SPLITS = ("train", "valid", "test")


def _as_split(train: np.ndarray, valid: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    return {name: np.sort(np.asarray(a, dtype=np.int64)) for name, a in zip(SPLITS, (train, valid, test), strict=True)}


def _counts(n: int, valid_fraction: float, test_fraction: float) -> tuple[int, int]:
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise ValueError(f"fractions must be in [0, 1) and sum below 1: valid={valid_fraction}, test={test_fraction}")
    return int(round(n * valid_fraction)), int(round(n * test_fraction))


def random_split(n: int, valid_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
                 ) -> dict[str, np.ndarray]:
    """Rows shuffled with ``seed``; sizes are the rounded fractions of ``n``."""
    n_valid, n_test = _counts(n, valid_fraction, test_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    return _as_split(perm[n_valid + n_test:], perm[:n_valid], perm[n_valid:n_valid + n_test])


def _pick_groups(names: np.ndarray, sizes: np.ndarray, target: int, avail: np.ndarray) -> np.ndarray:
    """Greedily add groups (in the given order) while that brings the row count closer to ``target``."""
    chosen = np.zeros(len(names), dtype=bool)
    total = 0
    if target <= 0:
        return chosen
    for i in np.flatnonzero(avail):
        if total >= target:
            break
        if total == 0 or abs(total + sizes[i] - target) < abs(total - target):
            chosen[i] = True
            total += sizes[i]
    return chosen


def group_split(groups: np.ndarray, valid_groups: Sequence[str] | None = None,
                test_groups: Sequence[str] | None = None, valid_fraction: float = 0.1, test_fraction: float = 0.1,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Hold out whole groups (chromosomes, species, subsets, similarity clusters).

    Explicit ``valid_groups`` / ``test_groups`` are used as given; otherwise groups are drawn in a seeded
    random order until each held-out split is as close as possible to its fraction of rows.
    """
    groups = np.asarray(groups)
    n = len(groups)
    names, inv, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    n_valid, n_test = _counts(n, valid_fraction, test_fraction)
    str_names = names.astype(str)
    order = np.random.default_rng(seed).permutation(len(names))
    role = np.zeros(len(names), dtype=np.int8)  # 0 train, 1 valid, 2 test

    def explicit(wanted: Sequence[str], code: int, what: str) -> None:
        unknown = sorted(set(map(str, wanted)) - set(str_names.tolist()))
        if unknown:
            raise DataError(f"{what} group(s) {unknown} not found; groups present: {str_names[:20].tolist()}")
        clash = np.isin(str_names, list(map(str, wanted))) & (role != 0)
        if clash.any():
            raise DataError(f"group(s) {str_names[clash].tolist()} are both valid and test groups")
        role[np.isin(str_names, list(map(str, wanted)))] = code

    if test_groups:
        explicit(test_groups, 2, "test")
    else:
        pick = _pick_groups(names[order], sizes[order], n_test, role[order] == 0)
        role[order[pick]] = 2
    if valid_groups:
        explicit(valid_groups, 1, "valid")
    else:
        pick = _pick_groups(names[order], sizes[order], n_valid, role[order] == 0)
        role[order[pick]] = 1
    row_role = role[inv]
    if not (row_role == 0).any():
        held = {what: str_names[role == code].tolist()[:10] for what, code in (("valid", 1), ("test", 2))}
        raise DataError(f"no group left for training: {len(names)} group(s), held out {held}; name fewer "
                        "valid/test groups, or draw validation from another column (split.valid_group_column)")
    return _as_split(*(np.flatnonzero(row_role == r) for r in (0, 1, 2)))


def group_kfold(groups: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` folds of whole groups with balanced row counts (e.g. leave-chromosomes-out, as DeepCRE)."""
    groups = np.asarray(groups)
    names, inv, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if k < 2 or k > len(names):
        raise DataError(f"group_kfold needs 2 <= k <= number of groups ({len(names)}), got k={k}")
    tiebreak = np.random.default_rng(seed).random(len(names))
    fold_of = np.empty(len(names), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for g in np.lexsort((tiebreak, -sizes)):
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += sizes[g]
    row_fold = fold_of[inv]
    return [(np.flatnonzero(row_fold != f), np.flatnonzero(row_fold == f)) for f in range(k)]


def _read_id_file(path: str | Path) -> list[tuple[str, int]]:
    path = Path(path)
    if not path.exists():
        raise DataError("ID file not found", source=str(path))
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            out.append((text.replace(",", "\t").split()[0], lineno))
    if not out:
        raise DataError("empty ID file", source=str(path))
    return out


def ids_split(ids: np.ndarray, files: Mapping[str, str | Path]) -> dict[str, np.ndarray]:
    """Valid/test rows from ID lists (one ID per line); everything else is training."""
    ids = np.asarray(ids).astype(str)
    lookup = {v: i for i, v in enumerate(ids.tolist())}
    role = np.zeros(len(ids), dtype=np.int8)
    for name, path in files.items():
        if name not in ("valid", "test"):
            raise DataError(f"ID file key {name!r} must be 'valid' or 'test'", source=str(path))
        code = 1 if name == "valid" else 2
        rows = []
        for rid, lineno in _read_id_file(path):
            if rid not in lookup:
                raise DataError(f"ID {rid!r} is not in the data", source=str(path), record=f"line {lineno}")
            rows.append(lookup[rid])
        rows = np.asarray(rows, dtype=np.int64)
        clash = rows[(role[rows] != 0) & (role[rows] != code)]
        if clash.size:
            raise DataError(f"ID(s) {ids[clash[:5]].tolist()} are listed as both valid and test", source=str(path))
        role[rows] = code
    return _as_split(*(np.flatnonzero(role == r) for r in (0, 1, 2)))


_SPLIT_NAMES = {"train": 0, "training": 0, "valid": 1, "val": 1, "validation": 1, "dev": 1, "test": 2,
                "testing": 2}


def column_split(values: np.ndarray, source: str | None = None) -> dict[str, np.ndarray]:
    """Rows by a column holding train/valid/test (also training, val, validation, dev, testing)."""
    low = np.char.lower(np.char.strip(np.asarray(values).astype(str)))
    names, inv = np.unique(low, return_inverse=True)
    unknown = [v for v in names.tolist() if v not in _SPLIT_NAMES]
    if unknown:
        row = int(np.flatnonzero(low == unknown[0])[0])
        raise DataError(f"split value {unknown[0]!r} is not train/valid/test", source=source, record=row)
    role = np.array([_SPLIT_NAMES[v] for v in names.tolist()], dtype=np.int8)[inv]
    return _as_split(*(np.flatnonzero(role == r) for r in (0, 1, 2)))


# ---------------------------------------------------------------- hashing helpers


def similarity_split(codes: np.ndarray, valid_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
                     rows: np.ndarray | None = None, **cluster_kw) -> dict[str, np.ndarray]:
    """Random split of whole :func:`similarity_clusters` (indices are local to ``rows`` when given)."""
    labels = similarity_clusters(codes, rows=rows, **cluster_kw)
    return group_split(labels, valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed)


def coordinate_split(groups: Mapping[str, np.ndarray], valid_fraction: float = 0.1, test_fraction: float = 0.1,
                     seed: int = 0, min_gap: int = 0, seq_len: int | None = None) -> dict[str, np.ndarray]:
    """Random split of whole :func:`~seq2expr.data.coordinates.coordinate_clusters` of the chrom/start/end columns."""
    return group_split(_coordinate_units(groups, min_gap, seq_len), valid_fraction=valid_fraction,
                       test_fraction=test_fraction, seed=seed)


def _coordinate_units(groups: Mapping[str, np.ndarray], min_gap: int, seq_len: int | None) -> np.ndarray:
    tiles = read_tiles(groups, seq_len)
    if tiles is None:
        raise DataError(f"split method 'coordinates' needs chromosome, start and end columns; missing "
                        f"{', '.join(missing_coordinates(list(groups)))} among {sorted(groups)}")
    return coordinate_clusters(tiles, min_gap)


def _merge_test(split: dict[str, np.ndarray], test_mask: np.ndarray) -> dict[str, np.ndarray]:
    test = np.union1d(split["test"], np.flatnonzero(test_mask))
    return _as_split(np.setdiff1d(split["train"], test), np.setdiff1d(split["valid"], test), test)


def _lift(local: dict[str, np.ndarray], pool: np.ndarray, test_rows: np.ndarray) -> dict[str, np.ndarray]:
    return _as_split(pool[local["train"]], pool[local["valid"]], np.union1d(pool[local["test"]], test_rows))


def _group_column(cfg: SplitConfig, groups: Mapping[str, np.ndarray], name: str = "group_column") -> np.ndarray:
    col = getattr(cfg, name)
    if not col or col not in groups:
        raise DataError(f"split method 'group' needs split.{name} naming one of {sorted(groups)}; got {col!r}")
    return np.asarray(groups[col])


def _group_split(cfg: SplitConfig, codes: np.ndarray, groups: Mapping[str, np.ndarray], pool: np.ndarray,
                 has_test: bool, test_fraction: float) -> dict[str, np.ndarray]:
    """Method ``group`` over the rows ``pool`` (local indices): test groups of ``group_column`` (``test_groups``,
    else drawn by ``test_fraction``), then validation inside the remaining (training) groups:

    * ``valid_groups`` (without ``valid_group_column``): those groups of ``group_column``;
    * ``valid_group_column``: groups of that column (``valid_groups``, else drawn by ``valid_fraction``);
    * otherwise ``valid_fraction`` of the training groups' rows, drawn by similarity clusters, so that a second
      species (say) is trained on rather than silently made the validation set.
    """
    col = _group_column(cfg, groups)[pool]
    test_groups = None if has_test else cfg.test_groups
    if cfg.valid_groups and not cfg.valid_group_column:
        return group_split(col, cfg.valid_groups, test_groups, cfg.valid_fraction, test_fraction, cfg.seed)
    outer = group_split(col, None, test_groups, 0.0, test_fraction, cfg.seed)
    rest = outer["train"]
    if cfg.valid_group_column:
        inner = group_split(_group_column(cfg, groups, "valid_group_column")[pool][rest], cfg.valid_groups, None,
                            cfg.valid_fraction, 0.0, cfg.seed)
    elif cfg.valid_fraction > 0:
        inner = similarity_split(codes, cfg.valid_fraction, 0.0, cfg.seed, rows=pool[rest], k=cfg.similarity_k,
                                 max_mismatch_fraction=cfg.max_mismatch_fraction)
    else:
        inner = {"train": np.arange(len(rest)), "valid": np.zeros(0, np.int64)}
    return _as_split(rest[inner["train"]], rest[inner["valid"]], outer["test"])


def make_fold_splits(cfg: SplitConfig, codes: np.ndarray, groups: Mapping[str, np.ndarray],
                     predefined_test_mask: np.ndarray | None = None) -> list[dict[str, np.ndarray]]:
    """``cfg.folds`` train/valid/test splits sharing one test set; fold ``f`` validates on the f-th fold.

    The units kept whole are those of ``cfg.method``: similarity clusters, groups (``group_column``) or
    single rows. Test rows are the predefined ones, else ``test_groups`` or ``test_fraction`` of the units;
    the other units are dealt into ``cfg.folds`` folds of balanced row counts (:func:`group_kfold`). With
    ``valid_group_column`` (method ``group``) the folds are made of that column's groups instead.
    """
    if not cfg.folds:
        raise ValueError("make_fold_splits needs split.folds")
    n = len(codes)
    test_mask = np.zeros(n, bool) if predefined_test_mask is None else np.asarray(predefined_test_mask, bool)
    pool = np.flatnonzero(~test_mask)
    if cfg.method == "similarity":
        units = similarity_clusters(codes, rows=pool, k=cfg.similarity_k,
                                    max_mismatch_fraction=cfg.max_mismatch_fraction)
    elif cfg.method == "group":
        units = _group_column(cfg, groups)[pool]
    elif cfg.method == "random":
        units = np.arange(len(pool))
    elif cfg.method == "coordinates":
        units = _coordinate_units({k: np.asarray(v)[pool] for k, v in groups.items()}, cfg.min_gap, codes.shape[1])
    else:
        raise DataError("split.folds works with methods similarity, group, random and coordinates, "
                        f"not {cfg.method!r}")
    if test_mask.any():
        keep = np.arange(len(pool))
    else:
        drawn = group_split(units, None, cfg.test_groups, valid_fraction=0.0, test_fraction=cfg.test_fraction,
                            seed=cfg.seed)
        keep = drawn["train"]
        test_mask = test_mask.copy()
        test_mask[pool[drawn["test"]]] = True
    test_rows = np.flatnonzero(test_mask)
    out = []
    if cfg.valid_group_column:  # test groups of group_column; folds of the other column's groups
        units = _group_column(cfg, groups, "valid_group_column")[pool]
    for train, valid in group_kfold(units[keep], cfg.folds, seed=cfg.seed):
        split = _as_split(pool[keep[train]], pool[keep[valid]], test_rows)
        check_splits(split, n)
        out.append(split)
    return out


def make_splits(cfg: SplitConfig, codes: np.ndarray, ids: np.ndarray, groups: Mapping[str, np.ndarray],
                predefined_test_mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Train/valid/test row indices for ``cfg.method``; predefined test rows (if any) are always test.

    With predefined test rows, validation is carved from the remaining rows (``valid_fraction`` of them)
    and no further test rows are drawn. With ``cfg.folds`` the split is fold ``cfg.fold`` of
    :func:`make_fold_splits`.
    """
    if cfg.folds:
        return make_fold_splits(cfg, codes, groups, predefined_test_mask)[cfg.fold]
    n = len(codes)
    test_mask = np.zeros(n, bool) if predefined_test_mask is None else np.asarray(predefined_test_mask, bool)
    has_test = bool(test_mask.any())
    test_rows = np.flatnonzero(test_mask)
    pool = np.flatnonzero(~test_mask)
    test_fraction = 0.0 if has_test else cfg.test_fraction
    method = cfg.method

    if method in ("column", "predefined"):
        col = cfg.split_column or "split"
        if col not in groups:
            raise DataError(f"split method {method!r} needs a column {col!r}; group columns: {sorted(groups)}")
        split = _merge_test(column_split(groups[col], source=f"column {col}"), test_mask)
        if method == "predefined" and len(split["valid"]) == 0:
            local = similarity_split(codes, cfg.valid_fraction, 0.0, cfg.seed, rows=split["train"],
                                     k=cfg.similarity_k, max_mismatch_fraction=cfg.max_mismatch_fraction)
            split = _as_split(split["train"][local["train"]], split["train"][local["valid"]], split["test"])
    elif method == "ids":
        if not cfg.ids_files:
            raise DataError("split method 'ids' needs split.ids_files: {valid: path, test: path}")
        split = _merge_test(ids_split(ids, cfg.ids_files), test_mask)
    elif method == "random":
        split = _lift(random_split(len(pool), cfg.valid_fraction, test_fraction, cfg.seed), pool, test_rows)
    elif method == "group":
        split = _lift(_group_split(cfg, codes, groups, pool, has_test, test_fraction), pool, test_rows)
    elif method == "similarity":
        local = similarity_split(codes, cfg.valid_fraction, test_fraction, cfg.seed, rows=pool,
                                 k=cfg.similarity_k, max_mismatch_fraction=cfg.max_mismatch_fraction)
        split = _lift(local, pool, test_rows)
    elif method == "coordinates":
        local = coordinate_split({k: np.asarray(v)[pool] for k, v in groups.items()}, cfg.valid_fraction,
                                 test_fraction, cfg.seed, cfg.min_gap, codes.shape[1])
        split = _lift(local, pool, test_rows)
    else:  # pragma: no cover - pydantic restricts the values
        raise ValueError(f"unknown split method {method!r}")
    check_splits(split, n)
    return split


def check_splits(split: Mapping[str, np.ndarray], n: int) -> None:
    """Raise unless train/valid/test are disjoint, cover ``0..n-1`` and train is non-empty."""
    allrows = np.concatenate([np.asarray(split[s]) for s in SPLITS])
    if len(allrows) != n or len(np.unique(allrows)) != n:
        raise DataError(f"splits overlap or miss rows: {len(np.unique(allrows))} distinct of {n}")
    if len(split["train"]) == 0:
        raise DataError("the training split is empty")


# ---------------------------------------------------------------- what a split holds


def _summary_columns(groups: Mapping[str, np.ndarray], max_values: int) -> dict[str, np.ndarray]:
    """Group columns worth a split-by-value table: text/integer columns with 2..``max_values`` values."""
    out = {}
    for col, raw in groups.items():
        raw = np.asarray(raw)
        if col == "split" or raw.dtype.kind in "fb":
            continue
        values = raw.astype(str)
        if 2 <= len(np.unique(values)) <= max_values:
            out[col] = values
    return out


def split_summary(splits: Mapping[str, np.ndarray], groups: Mapping[str, np.ndarray],
                  cfg: SplitConfig | None = None, fixed: Sequence[str] = (), max_values: int = 50) -> dict:
    """Rows per split and value of each group column, and warnings for a split that is a whole group unasked.

    Returns ``{"rows": {split: n}, "by": {column: {value: {train, valid, test}}}, "warnings": [...]}``. A
    validation or test split "is a whole group" of a column when it consists of every row of some of its values
    (e.g. all of species B); that is warned about unless the config named it (``test_groups``/``valid_groups``
    of ``group_column``, ``valid_group_column``, folds of groups, or a split fixed by a column, ID lists or
    files: ``fixed`` lists the splits a file fixed). Columns with more than ``max_values`` values are skipped.
    """
    rows = {k: int(len(splits.get(k, []))) for k in SPLITS}
    # every row, in a split or not (labelling by quantiles drops the middle rows from every split)
    n = max([len(np.asarray(v)) for v in groups.values()]
            + [int(np.max(v)) + 1 for v in splits.values() if len(v)] + [0])
    role = np.full(n, "", dtype="<U5")
    for k in SPLITS:
        role[np.asarray(splits.get(k, []), dtype=np.int64)] = k
    by: dict[str, dict[str, dict[str, int]]] = {}
    warnings: list[str] = []
    asked = set(fixed)  # splits that are exactly the groups the config named (whatever other columns nest in them)
    if cfg is not None and cfg.group_column in groups:
        col = np.asarray(groups[cfg.group_column]).astype(str)
        for k, listed in (("valid", cfg.valid_groups), ("test", cfg.test_groups)):
            if listed and np.array_equal(np.flatnonzero(np.isin(col, list(map(str, listed)))),
                                         np.sort(np.asarray(splits.get(k, []), dtype=np.int64))):
                asked.add(k)
    for col, values in _summary_columns(groups, max_values).items():
        names, inv = np.unique(values, return_inverse=True)
        table = np.zeros((len(names), len(SPLITS)), dtype=np.int64)
        for j, k in enumerate(SPLITS):
            np.add.at(table[:, j], inv[role == k], 1)
        by[col] = {str(v): {k: int(table[i, j]) for j, k in enumerate(SPLITS)} for i, v in enumerate(names)}
        for j, k in ((1, "valid"), (2, "test")):
            if k in asked:
                continue
            present = table[:, j] > 0
            if not present.any() or not (table[present].sum(axis=1) == table[present, j]).all():
                continue  # empty, or some value of the split also has rows elsewhere
            whole = [str(v) for v in names[present]]
            if _named(cfg, col, k, whole):
                continue
            how = {"valid": "split.valid_fraction", "test": "split.test_fraction"}[k]
            hint = ("validation is drawn inside the training groups unless split.valid_groups or "
                    "split.valid_group_column say otherwise" if k == "valid" else
                    f"name the test groups with split.test_groups: [{', '.join(whole)}]")
            warnings.append(f"the {k} split is the whole of {col} {', '.join(whole)} ({rows[k]} rows), which the "
                            f"config did not name (drawn by {how} or a split method); {hint}")
    return {"rows": rows, "by": by, "warnings": warnings}


def _named(cfg: SplitConfig | None, col: str, split: str, whole: list[str]) -> bool:
    """Whether the config asked for split ``split`` to be these whole groups of ``col``."""
    if cfg is None:
        return False
    if cfg.method in ("column", "ids", "predefined"):
        return True
    listed = cfg.test_groups if split == "test" else cfg.valid_groups
    if col == cfg.group_column and listed and set(whole) <= set(map(str, listed)):
        return True
    by_groups = col == cfg.valid_group_column or bool(cfg.folds and col == cfg.group_column)
    return split == "valid" and cfg.method == "group" and by_groups


def format_split_summary(summary: dict) -> list[str]:
    """The summary as text lines: the row counts, then one line per group value (``column=value``)."""
    rows = summary["rows"]
    lines = ["split summary: " + ", ".join(f"{k} {rows[k]}" for k in SPLITS)]
    width = max([len(f"{c}={v}") for c, vals in summary["by"].items() for v in vals] or [5])
    if summary["by"]:
        lines.append(f"  {'':{width}} " + " ".join(f"{k:>7}" for k in SPLITS))
    for col, vals in summary["by"].items():
        for v, counts in vals.items():
            lines.append(f"  {f'{col}={v}':{width}} " + " ".join(f"{counts[k]:>7}" for k in SPLITS))
    return lines
