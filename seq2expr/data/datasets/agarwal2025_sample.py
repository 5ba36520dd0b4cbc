"""Human lentiMPRA sample (Agarwal et al. 2025): the 1,000-row train/valid/test files the DREAM challenge's
authors publish as the format of their human MPRA benchmark; registers ``agarwal2025_sample`` and its subsets
``train``, ``valid``, ``test``. A sample for trying the format and the tools, not for benchmarks: the three files
were drawn independently (26 test and 12 validation sequences are also in the training file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seq2expr.data.records import Records
from seq2expr.data.remote import DatasetEntry, RemoteFile, read_splits, register_dataset, split_subsets

# pinned to the commit that last changed the files (their content sha256 is the mirror's, decompressed)
_RAW = ("https://raw.githubusercontent.com/de-Boer-Lab/random-promoter-dream-challenge-2022/"
        "977f438e16ad1e946a0ea41bbf3210054b6f1316/benchmarks/human/data")
_SUMS = {  # split: (sha256 of the .gz, sha256 of its content, size of the .gz)
    "train": ("059e0a8624282ebcc7dd0b6f91f6ad64ac0254a0d637ddd62ede5c965e01cf4e",
              "f70b10aba904dfaccf4b1c6e00f7aa818c4ccac078ab93cb6fcd928975840887", 70396),
    "valid": ("9653aed957c7f8020bc3d133e993c716c32f8f9a4168b155d866b2c8cd80efa2",
              "37335175d7132d0556f1e5643e55bd991f0a48bebff360e1335f870319c2bac7", 70571),
    "test": ("2038b30ac807f42012a3cf6824bc476659320e56b1396e4b93281287eb6b54fc",
             "f52f30144dd13de49635ab7b902a5fd21b04b94d35d06b9691a1314ea470d233", 70392),
}
SPLITS = tuple(_SUMS)


def _load(paths: dict[str, Path]) -> Records:
    """The three files as one set of records: ``split`` (train/valid/test), ``fold`` (the source's 10 folds) and
    ``orientation`` (forward, or reverse for IDs marked ``_Reversed``) groups; IDs ``split:seq_id``."""
    df = read_splits(paths, {s: f"human_sample_{s}.txt.gz" for s in SPLITS}, ["seq_id", "seq", "mean_value", "fold"],
                     sep="\t")
    ids = df["seq_id"].astype(str)
    groups = {"split": df["split"], "fold": df["fold"],
              "orientation": np.where(ids.str.contains("_Reversed"), "reverse", "forward")}
    sequences = df["seq"].astype(str).str.upper().tolist()
    return Records(ids=(df["split"] + ":" + ids).to_numpy().astype(str), sequences=sequences,
                   targets=df["mean_value"].to_numpy(np.float32)[:, None], target_names=["mean_value"],
                   groups={k: np.asarray(v).astype(str) for k, v in groups.items()},
                   source=str(Path(next(iter(paths.values()))).parent))


register_dataset(DatasetEntry(
    name="agarwal2025_sample",
    description="Human lentiMPRA sample (Agarwal et al. 2025): 1,000 230-nt elements (200 nt between 15-nt "
                "adapters) per split, mean log2(RNA/DNA) activity; for trying formats, not for benchmarks; select "
                "e.g. agarwal2025_sample:train",
    citation="Agarwal V et al. (2025) Massively parallel characterization of transcriptional regulatory elements. "
             "Nature 639:411-420. doi:10.1038/s41586-024-08430-9 (sample: github.com/de-Boer-Lab/"
             "random-promoter-dream-challenge-2022, benchmarks/human/data; Rafi AM et al. (2024) Nat Biotechnol)",
    licence="MIT",
    folder="mpra_samples",
    files=tuple(RemoteFile(f"human_sample_{s}.txt.gz", f"{_RAW}/sample_{s}.txt", sha, size, content)
                for s, (sha, content, size) in _SUMS.items()),
    loader=_load,
    subsets=split_subsets(SPLITS),
    construct=("AGGACCGGATCAACT", "CATTGCGTGAACCGA"),
))
