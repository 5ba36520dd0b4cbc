"""DeepSTARR enhancer sample (de Almeida et al. 2022): the 1,000-row train/val/test files the DREAM challenge's
authors publish as the format of their *Drosophila* STARR-seq benchmark; registers ``dealmeida2022_sample`` with
two targets (developmental and housekeeping enhancer activity) and subsets ``train``, ``valid``, ``test``. A sample
for trying the format and the tools, not for benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seq2expr.data.records import Records
from seq2expr.data.remote import DatasetEntry, RemoteFile, read_splits, register_dataset, split_subsets

# pinned to the commit that added the files (their content sha256 is the mirror's, decompressed)
_RAW = ("https://raw.githubusercontent.com/de-Boer-Lab/random-promoter-dream-challenge-2022/"
        "42cf16ce07370957c6e2db3d6f496139ad4d57d6/benchmarks/drosophila/data")
_SUMS = {  # split: (file's split name, sha256 of the .gz, sha256 of its content, size of the .gz)
    "train": ("train", "7d6205c0277ed0d37221d35a9e8ef12c28df8ee0b76c45b846c624b747bae3c5",
              "e819d1424f4f59434d7888724b2f787ca791af9ba9462818d16e03cf1a7463df", 113393),
    "valid": ("val", "c7e7356177590c44bef1defce9853ad82170d44ec5bf1b8bd86c9c83478d2821",
              "e35e5b92b5a1b83550b10c304cbf56c2cc00934b347c96bd2b8641d106587320", 112989),
    "test": ("test", "a536739a2957fb1371d0e86d46d9bd82632dc39a6d95b411ddc6605c57aa7823",
             "b610f47c3e1f108258773ed77dd6234757da1c7d8a652660739da76454d2395c", 113324),
}
SPLITS = tuple(_SUMS)
TARGETS = ("Dev_log2_enrichment", "Hk_log2_enrichment")


def _load(paths: dict[str, Path]) -> Records:
    """The three files as one set of records with targets ``Dev_log2_enrichment`` and ``Hk_log2_enrichment``,
    groups ``split`` (train/valid/test) and ``chrom``; IDs are the files' region IDs."""
    files = {split: f"drosophila_sample_{name}.txt.gz" for split, (name, *_) in _SUMS.items()}
    df = read_splits(paths, files, ["seqnames", "ID", "Sequence", *TARGETS], sep="\t")
    return Records(ids=df["ID"].to_numpy().astype(str), sequences=df["Sequence"].str.upper().tolist(),
                   targets=df[list(TARGETS)].to_numpy(np.float32), target_names=list(TARGETS),
                   groups={"split": df["split"].to_numpy().astype(str),
                           "chrom": df["seqnames"].to_numpy().astype(str)},
                   source=str(Path(next(iter(paths.values()))).parent))


register_dataset(DatasetEntry(
    name="dealmeida2022_sample",
    description="DeepSTARR sample (de Almeida et al. 2022): 1,000 249-nt Drosophila S2 enhancer candidates per "
                "split, developmental and housekeeping log2 STARR-seq enrichment; for trying formats, not for "
                "benchmarks; select e.g. dealmeida2022_sample:train",
    citation="de Almeida BP et al. (2022) DeepSTARR predicts enhancer activity from DNA sequence and enables the de "
             "novo design of synthetic enhancers. Nat Genet 54:613-624. doi:10.1038/s41588-022-01048-5 (sample: "
             "github.com/de-Boer-Lab/random-promoter-dream-challenge-2022, benchmarks/drosophila/data)",
    licence="MIT",
    folder="mpra_samples",
    files=tuple(RemoteFile(f"drosophila_sample_{name}.txt.gz", f"{_RAW}/sample_{name}.txt", sha, size, content)
                for name, sha, content, size in _SUMS.values()),
    loader=_load,
    subsets=split_subsets(SPLITS),
))
