"""From a DataConfig to a DataBundle: read, encode (cached memmap), split, label, transform targets.

The one place where the data steps are put together, so training, tuning and benchmarks all see the
same rows, splits and target scale. The target transform is fitted on training rows only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace

import numpy as np

from seq2expr.config import DataConfig
from seq2expr.data.cache import data_hash as _records_hash
from seq2expr.data.cache import encode_cached
from seq2expr.data.coordinates import Tiles, coordinate_columns, missing_coordinates, read_tiles
from seq2expr.data.errors import DataError
from seq2expr.data.genome.windows import WindowSource, read_window_source
from seq2expr.data.io.tables import read_records, table_columns, validate_sequences
from seq2expr.data.records import Records, concat_records
from seq2expr.data.sequences import SequencePolicy, reverse_complement
from seq2expr.data.splits import SPLITS, check_splits, make_fold_splits, make_splits
from seq2expr.data.targets import TargetTransform, make_labels
from seq2expr.memory import release_memory

log = logging.getLogger(__name__)


@dataclass
class DataBundle:
    """Everything a model needs: codes, targets (transformed), splits and how to undo the transform."""

    codes: np.ndarray  # (N, L) uint8, a read-only np.memmap
    targets: np.ndarray  # (N, T) float32 after the transform / labelling (NaN on rows dropped by labelling)
    raw_targets: np.ndarray  # (N, T) float32 as measured
    ids: np.ndarray
    groups: dict[str, np.ndarray]
    splits: dict[str, np.ndarray]  # train/valid/test -> row indices
    target_names: list[str]
    transform: TargetTransform
    policy: SequencePolicy
    data_hash: str
    seq_len: int
    source: str = ""
    fold_splits: list[dict[str, np.ndarray]] | None = None  # every fold's splits when data.split.folds is set
    windows: WindowSource | None = None  # gene windows built by `seq2expr data genes`: how, for variant scoring
    raw_lengths: tuple[int, int] | None = None  # shortest and longest sequence as read, before the policy fits them
    tiles: Tiles | None = None  # genomic coordinates of the rows, when the table has chrom/start/end columns

    def split_sizes(self) -> dict[str, int]:
        return {k: int(len(v)) for k, v in self.splits.items()}

    def with_fold(self, fold: int) -> DataBundle:
        """The same data with fold ``fold`` of ``data.split.folds`` as validation split."""
        if self.fold_splits is None:
            raise ValueError("this data bundle has no folds (set data.split.folds)")
        return replace(self, splits=self.fold_splits[fold])


def _group_columns(cfg: DataConfig) -> list[str]:
    """The group columns the config names (kept in the bundle for per-group metrics and the split summary)."""
    return list(dict.fromkeys([*cfg.group_columns,
                               *([cfg.split.group_column] if cfg.split.group_column else []),
                               *([cfg.split.valid_group_column] if cfg.split.valid_group_column else []),
                               *([cfg.split.split_column] if cfg.split.split_column else [])]))


def _read(cfg: DataConfig, path: str, values: str | None) -> Records:
    """A table's records with the named group columns and, when it has them, its chrom/start/end columns."""
    try:
        header = table_columns(values or path)
    except (OSError, ValueError):  # the reader below names what is wrong with the file
        header = []
    coords = coordinate_columns(header)
    records = read_records(path, values=values, id_column=cfg.id_column, sequence_column=cfg.sequence_column,
                           target_columns=cfg.target_columns,
                           group_columns=list(dict.fromkeys([*_group_columns(cfg), *(coords or ())])))
    if coords is None and cfg.split.method == "coordinates":
        raise DataError(f"split.method coordinates needs chromosome, start and end columns; missing "
                        f"{', '.join(missing_coordinates(header))} (columns: {', '.join(header) or 'none'})",
                        source=str(values or path))
    return records


def _read_extra(cfg: DataConfig, path: str, prefix: str) -> Records:
    """A further file of the same layout (validation or test); row-number IDs get ``prefix`` so none collide."""
    more = _read(cfg, path, None)
    validate_sequences(more, cfg.policy)
    return replace(more, ids=np.char.add(prefix, more.ids)) if cfg.id_column is None else more


def load_records(cfg: DataConfig) -> tuple[Records, np.ndarray]:
    """Records of the whole data set and each row's predefined role: ``""`` (split by ``cfg.split``), ``valid``
    (from ``valid_path``) or ``test`` (from ``test_path``, or a ``split`` column holding ``test``)."""
    if cfg.dataset:
        from seq2expr.data.registry import load_dataset

        records = load_dataset(cfg.dataset)
        if cfg.split.method == "coordinates" and coordinate_columns(list(records.groups)) is None:
            raise DataError(f"split.method coordinates needs chromosome, start and end columns; missing "
                            f"{', '.join(missing_coordinates(list(records.groups)))}", source=cfg.dataset)
    elif cfg.path:
        records = _read(cfg, cfg.path, cfg.values)
    else:
        raise DataError("no data: set data.path (a table or FASTA) or data.dataset (a registry name)")
    validate_sequences(records, cfg.policy)
    extra = [(name, _read_extra(cfg, path, f"{name}:"))
             for path, name in ((cfg.valid_path, "valid"), (cfg.test_path, "test")) if path]
    records, extra = _test_duplicates(cfg, records, extra)
    role = np.full(len(records), "", dtype="<U5")
    split_col = records.groups.get("split")
    if split_col is not None and cfg.split.method != "column" and not cfg.test_path:
        role[np.char.lower(np.asarray(split_col).astype(str)) == "test"] = "test"
    if not extra:
        return records, role
    parts = [records, *(more for _, more in extra)]
    common = sorted(set.intersection(*(set(p.groups) for p in parts)))  # group columns every file has
    parts = [replace(p, groups={k: p.groups[k] for k in common}) for p in parts]
    role = np.concatenate([role, *(np.full(len(more), name) for name, more in extra)])
    return concat_records(parts), role


def _test_duplicates(cfg: DataConfig, records: Records, extra: list[tuple[str, Records]]
                     ) -> tuple[Records, list[tuple[str, Records]]]:
    """Sequences of the test file (either strand) that are also in the training or validation file: an error naming
    the files and the count, or with ``data.dedupe`` dropped from the training side (and logged)."""
    test = next((r for name, r in extra if name == "test"), None)
    if test is None:
        return records, extra
    upper = [s.upper() for s in test.sequences]
    seen = {*upper, *map(reverse_complement, upper)}  # both strands of the (small) test file: one lookup a row
    sides = [("", records), *((name, r) for name, r in extra if name != "test")]
    hits = {name: np.fromiter((s.upper() in seen for s in r.sequences), bool, len(r)) for name, r in sides}
    n = int(sum(h.sum() for h in hits.values()))
    if n == 0:
        return records, extra
    files = " and ".join(str(r.source) for name, r in sides if hits[name].any())
    if not cfg.dedupe:
        raise DataError(f"{n} sequence(s) of {files} also occur in the test file (either strand), so the test would "
                        "score sequences the model trained on: set data.dedupe: true (train --dedupe) to drop them "
                        "from the training side, or remove them", source=test.source)
    log.warning("data.dedupe: %d sequence(s) of %s that occur in the test file %s (either strand) dropped", n, files,
                test.source)
    keep = {name: r.subset(np.flatnonzero(~hits[name])) for name, r in sides}
    if len(keep[""]) == 0:
        raise DataError(f"data.dedupe: every sequence of {records.source} occurs in the test file",
                        source=test.source)
    return keep[""], [(name, keep.get(name, r)) for name, r in extra]


def _splits_with_valid_file(cfg: DataConfig, codes: np.ndarray, records: Records, role: np.ndarray
                            ) -> dict[str, np.ndarray]:
    """Validation = the ``valid_path`` rows; train/test among the others as ``cfg.split`` says (no further
    validation drawn), so predefined test rows stay test and a test set is still held out without one."""
    if cfg.split.folds:
        raise DataError("data.valid_path fixes the validation rows; drop data.split.folds (or valid_path)")
    rest = np.flatnonzero(role != "valid")
    split_cfg = cfg.split.model_copy(update={"valid_fraction": 0.0, "valid_groups": None})
    test = role[rest] == "test"
    local = make_splits(split_cfg, codes[rest], records.ids[rest], {k: v[rest] for k, v in records.groups.items()},
                        test if test.any() else None)
    valid = np.union1d(rest[local["valid"]], np.flatnonzero(role == "valid"))
    splits = {"train": rest[local["train"]], "valid": valid, "test": rest[local["test"]]}
    check_splits(splits, len(codes))
    return splits


def _tiles(cfg: DataConfig, records: Records, seq_len: int) -> Tiles | None:
    """The rows' genomic tiles for the leakage check; columns that are not coordinates only matter to the split."""
    try:
        return read_tiles(records.groups, seq_len, source=records.source)
    except DataError:
        if cfg.split.method == "coordinates":
            raise
        log.info("chrom/start/end-like columns of %s are not coordinates; no overlap check", records.source)
        return None


def _window_source(cfg: DataConfig) -> WindowSource | None:
    """How the gene windows of a table built by ``seq2expr data genes`` were made (None for other tables)."""
    return read_window_source(cfg.path, cfg.sequence_column) if cfg.path else None


def _drop_rows(splits: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[keep[v]] for k, v in splits.items()}


def prepare_data(cfg: DataConfig, task: str = "regression") -> DataBundle:
    """Read, encode, split and transform the data described by ``cfg`` for a regression/classification task.

    The sequences read as strings are dropped once encoded, and the memory they took is handed back to the OS
    (:func:`seq2expr.memory.release_memory`): training then holds only the memmapped codes and per-row arrays.
    """
    bundle = _prepare(cfg, task)
    release_memory()
    return bundle


def _prepare(cfg: DataConfig, task: str) -> DataBundle:
    records, role = load_records(cfg)
    policy = cfg.policy
    key = json.dumps({"dataset": cfg.dataset, "sequence_column": cfg.sequence_column, "id_column": cfg.id_column},
                     sort_keys=True)
    dhash = _records_hash(records, policy, key_extra=key)
    lengths = np.fromiter(map(len, records.sequences), dtype=np.int64, count=len(records))
    codes = encode_cached(records, policy, cache_dir=cfg.cache_dir, key=dhash)
    test_mask = role == "test"
    predefined = test_mask if test_mask.any() else None
    fold_splits = None
    if (role == "valid").any():
        splits = _splits_with_valid_file(cfg, codes, records, role)
    elif cfg.split.folds:
        fold_splits = make_fold_splits(cfg.split, codes, records.groups, predefined)
        splits = fold_splits[cfg.split.fold]
    else:
        splits = make_splits(cfg.split, codes, records.ids, records.groups, predefined)
    # what label thresholds and target statistics are fitted on: the training rows, or with k folds all
    # non-test rows (the fold members must share one target scale to be averaged)
    fit_rows = np.sort(np.concatenate([splits["train"], splits["valid"]])) if fold_splits else splits["train"]
    raw = records.targets
    tc = cfg.target
    if raw.shape[1] == 0:
        raise DataError("no target columns to train on", source=records.source)
    if task == "classification":
        transform = TargetTransform("none", False)
        if tc.label_quantiles is not None or tc.label_threshold is not None:
            labels, keep = make_labels(raw, tc.label_quantiles, tc.label_threshold, fit_rows=fit_rows)
            targets = np.where(keep[:, None], labels, np.nan).astype(np.float32)
            splits = _drop_rows(splits, keep)
            fold_splits = [_drop_rows(f, keep) for f in fold_splits] if fold_splits else None
        else:
            bad = ~np.isin(raw, (0.0, 1.0))
            if bad.any():
                i = int(np.flatnonzero(bad.any(axis=1))[0])
                raise DataError(f"classification targets must be 0/1 (got {raw[i].tolist()}); set "
                                "target.label_quantiles or target.label_threshold", source=records.source,
                                record=records.label(i))
            targets = raw.astype(np.float32)
        if len(splits["train"]) == 0:
            raise DataError("no training rows left after labelling", source=records.source)
    elif task == "regression":
        transform = TargetTransform(tc.transform, tc.standardize).fit(raw[fit_rows])
        targets = transform.apply(raw)
    else:
        raise ValueError(f"unknown task {task!r}")
    tiles = _tiles(cfg, records, int(codes.shape[1]))
    named = set(_group_columns(cfg))
    groups = {k: v for k, v in records.groups.items()
              if cfg.dataset or k in named or tiles is None or k not in tiles.columns}
    return DataBundle(codes=codes, targets=targets, raw_targets=raw, ids=records.ids, groups=groups, tiles=tiles,
                      splits={k: splits[k] for k in SPLITS}, target_names=list(records.target_names),
                      transform=transform, policy=policy,
                      data_hash=dhash, seq_len=int(codes.shape[1]),
                      source=records.source, fold_splits=fold_splits, windows=_window_source(cfg),
                      raw_lengths=(int(lengths.min()), int(lengths.max())))
