"""Named public data sets: where their files live, how they are checked, and how they become Records.

Every entry lists its files with the public URL, size and sha256. A file is looked for, in order, in

1. the ``mirror`` argument (a folder holding ``<folder>/<file>``),
2. ``$SEQ2EXPR_DATA_MIRROR/<folder>/<file>`` (a local copy, e.g. a lab share),
3. the download cache ``$SEQ2EXPR_CACHE/downloads/<folder>/<file>`` (default ``~/.cache/seq2expr/downloads``),

and is checksum-verified before use. :func:`fetch` downloads missing files into the cache through
:func:`seq2expr.download.download` (pooch: a progress bar, a temporary file; size and sha256 checked before the
file is moved into place, so a truncated or altered download leaves nothing cached). Checksums were taken from
the reference copies of the files; ``.gz`` files published uncompressed upstream are checked on their content, then
gzipped.

``load_dataset("vaishnav2022:native_complex")`` selects a named subset of an entry (``name:subset``).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seq2expr.data.errors import DataError
from seq2expr.data.records import Records
from seq2expr.download import ChecksumError, DownloadError, Pin, check_file, download
from seq2expr.download import sha256_file as sha256_file  # re-exported: the checksum the entries are written with
from seq2expr.user_cache import cache_folder

MIRROR_ENV = "SEQ2EXPR_DATA_MIRROR"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: path inside the data set folder, public URL, sha256 and size in bytes."""

    name: str
    url: str
    sha256: str
    size: int
    content_sha256: str | None = None  # sha256 of the decompressed bytes (``.gz`` files)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered data set and the function turning its resolved files into :class:`Records`."""

    name: str
    description: str
    citation: str
    licence: str
    files: tuple[RemoteFile, ...]
    loader: Callable[[dict[str, Path]], Records]
    folder: str = ""  # folder under the mirror / cache (default: ``name``)
    subsets: dict[str, Callable[[Records], np.ndarray]] = field(default_factory=dict)
    # name of a scorer of its own (``seq2expr.evaluation.scorers``), e.g. a challenge score, that evaluation and
    # training apply to predictions of its records beside the usual metrics
    scorer: str | None = None
    # the fixed sequence around the measured variable region in every construct (left, right), for models that
    # score genomic sequence in the assay's context (variant scoring in centred mode)
    construct: tuple[str, str] | None = None

    @property
    def dir_name(self) -> str:
        return self.folder or self.name


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"data set {entry.name!r} registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def list_datasets() -> list[DatasetEntry]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_entry(name: str) -> DatasetEntry:
    """The entry for ``name`` (a ``:subset`` suffix is ignored)."""
    base = name.split(":", 1)[0]
    try:
        return _REGISTRY[base]
    except KeyError:
        raise DataError(f"unknown data set {base!r}; known: {', '.join(sorted(_REGISTRY))}") from None


# ----------------------------------------------------------------------------------------------- files


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Download cache folder: ``cache_dir``, else ``$SEQ2EXPR_CACHE/downloads`` (:func:`cache_folder`)."""
    return Path(cache_dir) if cache_dir is not None else cache_folder("downloads")


def _pin(f: RemoteFile) -> Pin:
    return Pin(sha256=f.sha256, size=f.size, content_sha256=f.content_sha256)


def verify_file(path: Path, f: RemoteFile) -> None:
    """Raise :class:`DataError` unless ``path`` has the registered checksum (raw, or decompressed for .gz)."""
    try:
        check_file(path, _pin(f))
    except ChecksumError as err:
        raise DataError(err.problem, source=err.path) from None


def _candidates(entry: DatasetEntry, f: RemoteFile, mirror: str | Path | None,
                cache_dir: str | Path | None) -> list[tuple[str, Path]]:
    out = []
    if mirror is not None:
        out.append(("mirror argument", Path(mirror) / entry.dir_name / f.name))
    env = os.environ.get(MIRROR_ENV)
    if env:
        out.append((f"${MIRROR_ENV}", Path(env) / entry.dir_name / f.name))
    out.append(("download cache", cache_root(cache_dir) / entry.dir_name / f.name))
    return out


def locate(entry: DatasetEntry, f: RemoteFile, *, mirror: str | Path | None = None,
           cache_dir: str | Path | None = None) -> tuple[Path | None, str]:
    """First existing copy of ``f`` and where it came from (``(None, "missing")`` when there is none)."""
    for where, path in _candidates(entry, f, mirror, cache_dir):
        if path.is_file():
            return path, where
    return None, "missing"


def _missing_message(entry: DatasetEntry, f: RemoteFile, mirror, cache_dir) -> str:
    looked = "; ".join(f"{w}: {p}" for w, p in _candidates(entry, f, mirror, cache_dir))
    return (f"data set {entry.name!r}: file {f.name} not found (looked in {looked}). Run `seq2expr data fetch "
            f"{entry.name}` to download it, or set {MIRROR_ENV} to a folder holding {entry.dir_name}/{f.name}")


def resolve_files(entry: DatasetEntry, *, mirror: str | Path | None = None,
                  cache_dir: str | Path | None = None, verify: bool = True) -> dict[str, Path]:
    """Paths of all files of ``entry`` (checksum-verified), or a :class:`DataError` naming the missing one."""
    out = {}
    for f in entry.files:
        path, _ = locate(entry, f, mirror=mirror, cache_dir=cache_dir)
        if path is None:
            raise DataError(_missing_message(entry, f, mirror, cache_dir))
        if verify:
            verify_file(path, f)
        out[f.name] = path
    return out


def _download(f: RemoteFile, dest: Path, timeout: float) -> None:
    """Download ``f`` into ``dest`` through :func:`seq2expr.download.download` (checked before it is moved into
    place); a ``.gz`` file published uncompressed is checked on its content, then gzipped here."""
    if f.name.endswith(".gz") and not f.url.endswith(".gz"):
        def gz(src: Path, out: Path) -> None:
            with open(src, "rb") as raw, gzip.GzipFile(out, "wb", mtime=0) as packed:
                shutil.copyfileobj(raw, packed)

        download(f.url, dest, Pin(sha256=f.content_sha256), timeout=timeout, transform=gz)
    else:
        download(f.url, dest, _pin(f), timeout=timeout)


def fetch(name: str, *, cache_dir: str | Path | None = None, mirror: str | Path | None = None,
          timeout: float = 60.0, force: bool = False) -> dict[str, tuple[Path, str]]:
    """Make every file of ``name`` available: keep verified local copies, download the rest into the cache.

    Returns ``{file: (path, where)}``. Without network access, raises a :class:`DataError` telling the user
    to point ``SEQ2EXPR_DATA_MIRROR`` at a local copy.
    """
    entry = get_entry(name)
    out = {}
    for f in entry.files:
        path, where = locate(entry, f, mirror=mirror, cache_dir=cache_dir)
        if path is not None and not force:
            verify_file(path, f)
            out[f.name] = (path, where)
            continue
        dest = cache_root(cache_dir) / entry.dir_name / f.name
        try:
            _download(f, dest, timeout)
        except ChecksumError as err:
            raise DataError(err.problem, source=f"{entry.name}/{f.name} from {f.url}") from None
        except DownloadError as err:  # no network, DNS, timeouts, HTTP errors
            raise DataError(f"could not download {f.url} ({err.problem}). Without network access, copy the files "
                            f"to a folder and set {MIRROR_ENV} to it (expected layout: "
                            f"$SEQ2EXPR_DATA_MIRROR/{entry.dir_name}/{f.name})", source=entry.name) from err
        out[f.name] = (dest, "downloaded")
    return out


# --------------------------------------------------------------------------------------------- loading


def load_dataset(name: str, *, mirror: str | Path | None = None, cache_dir: str | Path | None = None) -> Records:
    """Records of a registered data set, optionally one named subset (``"vaishnav2022:native_complex"``)."""
    entry = get_entry(name)
    paths = resolve_files(entry, mirror=mirror, cache_dir=cache_dir)
    records = entry.loader(paths)
    records.dataset = entry.name
    if ":" in name:
        sub = name.split(":", 1)[1]
        if sub not in entry.subsets:
            raise DataError(f"data set {entry.name!r} has no subset {sub!r}; known: "
                            f"{', '.join(sorted(entry.subsets)) or 'none'}")
        records = records.subset(entry.subsets[sub](records))
    return records


def parse_dataset_spec(text: str | Path) -> str | None:
    """``text`` if it names a registry data set (``name`` or ``name:subset``) and is not an existing path."""
    text = str(text)
    if Path(text).exists():
        return None
    return text if text.split(":", 1)[0] in _REGISTRY else None


def load_split(spec: str, *, mirror: str | Path | None = None, cache_dir: str | Path | None = None) -> Records:
    """Records of a registry data set ``name[:subset]``.

    ``subset`` is one of the entry's named subsets (e.g. ``dream2022:test``); otherwise it selects rows
    whose ``split`` group column holds that value.
    """
    name, _, sub = spec.partition(":")
    if not sub or sub in get_entry(name).subsets:
        return load_dataset(spec, mirror=mirror, cache_dir=cache_dir)
    records = load_dataset(name, mirror=mirror, cache_dir=cache_dir)
    if "split" not in records.groups:
        raise DataError(f"data set {name!r} has no subset {sub!r} and no 'split' column", source=name)
    split = np.asarray(records.groups["split"]).astype(str)
    if not (split == sub).any():
        raise DataError(f"no rows with split {sub!r}; splits present: {sorted(set(split))}", source=name)
    return records.subset(split == sub)


def _read_csv(path: Path, **kw):
    import pandas as pd

    try:
        return pd.read_csv(path, **kw)
    except Exception as err:  # pandas raises several types for malformed input
        raise DataError(f"cannot read table: {err}", source=str(path)) from err


def _need(df, cols: list[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {list(df.columns)}", source=str(path))


# dream2022 ------------------------------------------------------------------------------------------

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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read JSON: {err}", source=str(path)) from err


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
        keys = list(_read_json(pj))
        if paired:
            pub = np.array([[int(x) for x in k.split(",")] for k in keys], dtype=np.int64).reshape(-1, 2)
            pair_rows.append(_index_array(pub, pj, n))
        else:
            mask[_index_array([int(k) for k in keys], pj, n)] = True
        if table:
            tp = paths[f"test_subset_ids/{table}"]
            df = _read_csv(tp)
            if paired:
                _need(df, ["alt_pos", "ref_pos"], tp)
                pair_rows.append(_index_array(df[["alt_pos", "ref_pos"]].to_numpy(), tp, n))
            else:
                _need(df, ["pos"], tp)
                mask[_index_array(df["pos"].to_numpy(), tp, n)] = True
        if paired:
            pr = np.unique(np.concatenate(pair_rows), axis=0)
            pairs[sub] = pr
            mask[pr.ravel()] = True
        masks[sub] = mask
    return masks, pairs


def _load_dream_test(paths: dict[str, Path]) -> Records:
    tp = paths[DREAM_TEST]
    df = _read_csv(tp)
    _need(df, ["seq", "true_expr", "orig_model_expr", "mini_model_expr"], tp)
    n = len(df)
    if n != DREAM_N_TEST:
        raise DataError(f"{n} rows but the DREAM test set has {DREAM_N_TEST}", source=str(tp))
    true = df["true_expr"].to_numpy(np.float32)
    gp = paths["public_leaderboard_ids/ground.json"]
    ground = _read_json(gp)
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
    paths = resolve_files(get_entry("dream2022"), mirror=mirror, cache_dir=cache_dir)
    return dream_subset_members(paths)[1]


def _load_dream_demo(paths: dict[str, Path]) -> Records:
    p = paths["demo_train_6369.txt.gz"]
    df = _read_csv(p, sep="\t", header=None, names=["sequence", "expression"])
    if df["expression"].isna().any():
        i = int(np.flatnonzero(df["expression"].isna().to_numpy())[0])
        raise DataError("missing expression value", source=str(p), record=f"line {i + 1}")
    return Records(ids=np.array([f"demo{i}" for i in range(len(df))]), sequences=df["sequence"].tolist(),
                   targets=df["expression"].to_numpy(np.float32)[:, None], target_names=["expression"],
                   groups={}, source=str(p), lines=np.arange(len(df)) + 1)


_DREAM_CITATION = ("Rafi AM et al. (2024) A community effort to optimize sequence-based deep learning models of "
                   "gene regulation. Nat Biotechnol. doi:10.1038/s41587-024-02414-w; Camformer predictions: "
                   "Malik et al., github.com/gautammalik-git/Camformer")

register_dataset(DatasetEntry(
    name="dream2022",
    description="Random Promoter DREAM Challenge 2022 test set: 71,103 yeast promoters (110 nt), measured "
                "expression, subset membership, public (train) / private (test) split, Camformer predictions",
    citation=_DREAM_CITATION,
    licence="MIT",
    files=_DREAM_TEST_FILES,
    loader=_load_dream_test,
    scorer="dream2022",
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


# vaishnav2022 ---------------------------------------------------------------------------------------

_VAISHNAV_RAW = ("https://raw.githubusercontent.com/1edv/evolution/master/manuscript_code/model/"
                 "reproduce_test_data_performance")
_VAISHNAV_SUMS = {
    "Drift_complex.csv.gz": ("97fbb8b688db386d221e0a92c8543d972ff5834d1fdd0db96d8846508f8ad1fb",
                             "cfe7f44734142f0ed57a31477b05e17c613992481d231e8c45540c3a34e14d77", 117669),
    "Drift_defined.csv.gz": ("efe0daff57599641849141450c476845d801acac85f3b82b1b7e7d25dd6e1d35",
                             "b9dc8bc2935ac2c87e3499045e961c1ccc8d0081f9c6b37a43e338fa1237bafe", 118124),
    "Native_complex.csv.gz": ("9d4794b9668191abf102e40411c5dae1bc390ac00d8ab2c4f54249d9c2a8a340",
                              "59d81b20739815108de4ecf095f78a96042685ee14ed32b95d3ae37242f569b0", 110787),
    "Native_defined.csv.gz": ("b0ce799e63bc02be51b07b01735d829a2c4b824cb1c5c2a4dcc128f774b00a4e",
                              "87722d2accaa1a0543b2258e56bd37c71d4832bd24a8c5231df836bcb2417643", 109651),
    "Random_complex.csv.gz": ("a7979ab78eaa518b74dde692de54d909c4e227009d3b1b1ac3be69f45b850743",
                              "d14fd0c396b1ff3687ad956f9163b1ae344c340fc5b9af79e99f2da818cae305", 150871),
    "Random_defined.csv.gz": ("65345ead68a948fba526a6d48e97f9c942eb839af09e0e15602f5d49d65c8f1d",
                              "f76404dc7dd50a0dfc24a08cd6c509d8ddcc15c67dcea4340be4c96673dbc6f8", 548265),
    "SSWM_complex.csv.gz": ("493ea20ecd0292a9b1a75e7d88edec2b3b726a5e8181731de5465a3adf8760b0",
                            "e2e03462ded85a59529f2cab0588ae09bf23ae700b78738a6acb1032248357fd", 288696),
    "SSWM_defined.csv.gz": ("cdd7d0e7b2eaeafdd61f8c514bff8cdc4800343ed5f3fae11fb0fb33f2f7afe4",
                            "1ef75dc3d9a7da2da552f1af53d3383cbb4d7150c75f3eddfe18624ca697e817", 181285),
}
VAISHNAV_SETS = ("Native", "Random", "Drift", "SSWM")
VAISHNAV_MEDIA = ("complex", "defined")


def _load_vaishnav(paths: dict[str, Path]) -> Records:
    import pandas as pd

    parts = []
    for s in VAISHNAV_SETS:
        for m in VAISHNAV_MEDIA:
            p = paths[f"{s}_{m}.csv.gz"]
            df = _read_csv(p)
            seq_col = "sequence" if "sequence" in df.columns else "seq110"  # Random_defined keeps seq110
            _need(df, [seq_col, "Measured Expression", "Predicted Expression"], p)
            parts.append(pd.DataFrame({"id": [f"{s}_{m}:{i}" for i in range(len(df))],
                                       "sequence": df[seq_col].astype(str).str.upper(),
                                       "y": df["Measured Expression"].astype(np.float32),
                                       "pred": df["Predicted Expression"].astype(np.float32),
                                       "set": s, "medium": m, "line": np.arange(len(df)) + 2,
                                       "src": p.name}))
    df = pd.concat(parts, ignore_index=True)
    return Records(ids=df["id"].to_numpy(), sequences=df["sequence"].tolist(),
                   targets=df["y"].to_numpy(np.float32)[:, None], target_names=["Measured Expression"],
                   groups={"set": df["set"].to_numpy().astype(str), "medium": df["medium"].to_numpy().astype(str),
                           "paper_prediction": df["pred"].to_numpy(np.float32)},
                   source=str(Path(next(iter(paths.values()))).parent))


register_dataset(DatasetEntry(
    name="vaishnav2022",
    description="Vaishnav et al. 2022 yeast test sets (Native, Random, Drift, SSWM) in complex and defined "
                "media, 0-17 bin scale, with the paper's transformer predictions; select e.g. "
                "vaishnav2022:native_complex",
    citation="Vaishnav ED et al. (2022) The evolution, evolvability and engineering of gene regulatory DNA. "
             "Nature 603:455-463. doi:10.1038/s41586-022-04506-6 (data: github.com/1edv/evolution, "
             "Zenodo 4436477)",
    licence="MIT",
    files=tuple(RemoteFile(n, f"{_VAISHNAV_RAW}/{n.removesuffix('.gz')}", sha, size, content)
                for n, (sha, content, size) in _VAISHNAV_SUMS.items()),
    loader=_load_vaishnav,
    subsets={f"{s.lower()}_{m}": (lambda r, s=s, m=m: (r.groups["set"] == s) & (r.groups["medium"] == m))
             for s in VAISHNAV_SETS for m in VAISHNAV_MEDIA},
))
