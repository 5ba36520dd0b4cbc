"""Every trained run folder gets its training curve: a table with one row per epoch and a figure, in each
ensemble member's folder and (all members together) in the run folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.config import load_config
from seq2expr.data.synthetic import make_synthetic
from seq2expr.training import train

EPOCHS = 6
PNG = b"\x89PNG\r\n\x1a\n"


def test_training_curve_in_every_run_folder(tmp_path: Path):
    table, _ = make_synthetic(n=800, length=60, seed=0, noise_sd=0.3, interaction=None, p_present=0.5,
                              motifs=[{"name": "GCN4", "matrix_id": "MA0303.3", "effect": 2.0}])
    table.to_csv(tmp_path / "data.tsv", sep="\t", index=False)
    out = tmp_path / "run"
    cfg = load_config(None, [
        f"data.path={tmp_path / 'data.tsv'}", "data.id_column=id", "data.split.method=random",
        "data.split.valid_fraction=0.2", "data.split.test_fraction=0.1", f"data.cache_dir={tmp_path / 'cache'}",
        "model.name=cnn", "model.params={channels: [16], kernel_sizes: 11, pool_sizes: [50], convs_per_block: 1, "
        "dropout: 0.0, hidden: [8], head_dropout: 0.0}", f"train.epochs={EPOCHS}", "train.batch_size=64",
        "train.lr=0.01", "train.threads=1", "train.early_stopping_patience=null", "train.ensemble_seeds=[0, 1]",
        f"output_dir={out}"])
    train(cfg, progress=False)

    for member in ("seed_0", "seed_1"):
        curve = pd.read_csv(out / member / "training_curve.tsv", sep="\t")
        assert list(curve.columns) == ["epoch", "train_loss", "valid_loss", "val_pearson"]
        assert curve["epoch"].tolist() == list(range(1, EPOCHS + 1))  # one row per epoch
        assert curve.notna().all().all()
        loss = curve["train_loss"].to_numpy()
        assert loss[-1] < 0.8 * loss[0] and np.mean(np.diff(loss) < 0) >= 0.6  # training loss falls (mostly)
        assert curve["val_pearson"].iloc[-1] > 0.5  # the planted motif was learnt, as the curve says
        assert (out / member / "training_curve.png").read_bytes().startswith(PNG)
    both = pd.read_csv(out / "training_curve.tsv", sep="\t")
    assert both.columns[0] == "member" and both.groupby("member").size().to_dict() == {"seed_0": EPOCHS,
                                                                                       "seed_1": EPOCHS}
    assert (out / "training_curve.png").read_bytes().startswith(PNG)
    assert not list(out.rglob(".training_curve*"))  # written atomically: no temporary file left
