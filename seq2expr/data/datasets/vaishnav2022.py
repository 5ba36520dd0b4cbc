"""Vaishnav et al. 2022 yeast test sets (Native, Random, Drift, SSWM) in complex and defined media, with the paper's
transformer predictions; registers ``vaishnav2022`` and its subsets ``<set>_<medium>`` (e.g. ``native_complex``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seq2expr.data.records import Records
from seq2expr.data.remote import DatasetEntry, RemoteFile, need_columns, read_csv, register_dataset

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
            df = read_csv(p)
            seq_col = "sequence" if "sequence" in df.columns else "seq110"  # Random_defined keeps seq110
            need_columns(df, [seq_col, "Measured Expression", "Predicted Expression"], p)
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
