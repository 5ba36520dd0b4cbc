"""The training curve of a run: per-epoch training loss, validation loss and validation metric, as
``training_curve.tsv`` and ``training_curve.png`` in the run folder (and, for an ensemble, in each member's folder
with all members drawn together in the run folder).

Read from the per-epoch values Lightning logged (``logs/metrics.csv``, the CSVLogger's file, which keeps the
epochs before a resume); both files are written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.atomic import atomic_path
from seq2expr.evaluation.plots import training_curve_plot

CURVE_TSV, CURVE_PNG = "training_curve.tsv", "training_curve.png"
LOG = Path("logs") / "metrics.csv"


def epoch_table(log_file: str | Path, monitor: str) -> pd.DataFrame:
    """One row per epoch: ``epoch, train_loss, valid_loss, <monitor>`` (NaN where an epoch logged no value).

    Lightning logs training and validation values of an epoch on separate rows; they are joined by epoch.
    """
    cols = ["epoch", "train_loss", "valid_loss", monitor]
    path = Path(log_file)
    if not path.is_file():
        return pd.DataFrame(columns=cols)
    log = pd.read_csv(path)
    if "epoch" not in log or log.empty:
        return pd.DataFrame(columns=cols)
    log = log.rename(columns={"val_loss": "valid_loss"})
    for c in cols[1:]:
        if c not in log:
            log[c] = np.nan
    table = log.dropna(subset=["epoch"]).groupby("epoch", sort=True)[cols[1:]].last().reset_index()
    table["epoch"] = table["epoch"].astype(int) + 1  # 1-based, as epochs are counted in the progress bar
    return table[cols]


def write_training_curve(run_dir: str | Path, monitor: str) -> Path | None:
    """Write ``training_curve.tsv`` and ``.png`` into ``run_dir`` from its log; returns the figure (None: no log)."""
    run_dir = Path(run_dir)
    table = epoch_table(run_dir / LOG, monitor)
    if table.empty:
        return None
    return _write(run_dir, {"": table}, monitor)


def write_ensemble_curve(out_dir: str | Path, members: Mapping[str, str | Path], monitor: str) -> Path | None:
    """All members' curves in one table (column ``member``) and one figure in ``out_dir``."""
    tables = {name: epoch_table(Path(d) / LOG, monitor) for name, d in members.items()}
    tables = {k: v for k, v in tables.items() if not v.empty}
    if not tables:
        return None
    return _write(Path(out_dir), tables, monitor)


def _write(out_dir: Path, tables: Mapping[str, pd.DataFrame], monitor: str) -> Path:
    named = [t.assign(member=name) if name else t for name, t in tables.items()]
    table = pd.concat(named, ignore_index=True)
    if "member" in table:
        table = table[["member", *[c for c in table.columns if c != "member"]]]
    with atomic_path(out_dir / CURVE_TSV) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return training_curve_plot(tables, monitor, out_dir / CURVE_PNG)
