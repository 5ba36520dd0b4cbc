"""``dual`` (DeepCBA): each branch learns what matters in its own segment, trained through the real training layer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from seq2expr.config import load_config
from seq2expr.data.sequences import decode
from seq2expr.training import train

PROMOTER_MOTIF, TERMINATOR_MOTIF = "TGACTCA", "TTTTTAT"
SEG, SPACER = 60, 10


def _encode(motif: str) -> np.ndarray:
    return np.array(["ACGT".index(c) for c in motif], dtype=np.uint8)


def _two_segment_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``segment 1 | N spacer | segment 2``; the target counts PROMOTER_MOTIF in segment 1 and
    TERMINATOR_MOTIF in segment 2 only. Each motif is also planted as a decoy in the other segment, so a
    model must tell the segments apart (a single pathway that pools over the whole input cannot)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, 2 * SEG + SPACER)).astype(np.uint8)
    codes[:, SEG : SEG + SPACER] = 4
    y = np.zeros(n, dtype=np.float32)
    for i in range(n):
        for motif, seg, weight in ((PROMOTER_MOTIF, 0, 1.0), (TERMINATOR_MOTIF, 1, 1.0),
                                   (PROMOTER_MOTIF, 1, 0.0), (TERMINATOR_MOTIF, 0, 0.0)):
            if rng.random() < 0.5:
                start = seg * (SEG + SPACER) + rng.integers(0, SEG - len(motif) + 1)
                codes[i, start : start + len(motif)] = _encode(motif)
                y[i] += weight
    return codes, y + rng.normal(0, 0.1, n).astype(np.float32)


def test_dual_learns_segment_specific_motifs(tmp_path):
    codes, y = _two_segment_set(1500, seed=0)
    rng = np.random.default_rng(1)
    shuffled = rng.permutation(y)
    pd.DataFrame({"id": [f"g{i}" for i in range(len(y))], "sequence": decode(codes), "expression": y,
                  "shuffled": shuffled}).to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    params = {"branch_lengths": [SEG, SEG], "spacer": SPACER, "channels": [32], "kernel_sizes": 9,
              "pool_sizes": [SEG], "convs_per_block": 1, "dropout": 0.0, "hidden": [16], "head_dropout": 0.0}

    def run(target: str) -> float:
        cfg = load_config(None, [
            f"data.path={tmp_path / 'genes.tsv'}", "data.id_column=id", f"data.target_columns=[{target}]",
            "data.policy.iupac=n", "data.split.method=random", "data.split.valid_fraction=0.15",
            "data.split.test_fraction=0.2", f"data.cache_dir={tmp_path / 'enc'}", "model.name=dual",
            f"model.params={json.dumps(params)}", "train.epochs=6", "train.batch_size=64", "train.lr=0.01",
            "train.threads=1", "train.rc_augment=false", "train.rc_average=false",
            "train.early_stopping_patience=null", f"output_dir={tmp_path / target}"])
        train(cfg, progress=False)
        return json.loads((tmp_path / target / "metrics.json").read_text())["test"]["overall"]["pearson_r"] or 0.0

    real = run("expression")
    control = run("shuffled")
    assert real > 0.7 and real > control + 0.5, (real, control)


def test_dual_refuses_reverse_complement_strands(tmp_path):
    """The default rc_augment/rc_average would swap dual's segments: refused with one line, exit code 2."""
    import pytest
    from typer.testing import CliRunner

    from seq2expr.cli.main import app

    for on in (["train.rc_average=false"], ["train.rc_augment=false"], []):
        with pytest.raises(ValueError, match="would swap"):
            load_config(None, ["model.name=dual", *on])
    cfg = load_config(None, ["model.name=dual", "train.rc_augment=false", "train.rc_average=false"])
    assert not cfg.train.rc_augment and not cfg.train.rc_average
    assert load_config(None, ["model.name=cnn"]).train.rc_augment  # other models keep the default
    codes, y = _two_segment_set(40, seed=0)
    pd.DataFrame({"sequence": decode(codes), "expression": y}).to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    res = CliRunner().invoke(app, ["train", "table", "--set", f"data.path={tmp_path / 't.tsv'}", "--set",
                                   "model.name=dual", "--set", f"output_dir={tmp_path / 'run'}"])
    assert res.exit_code == 2 and "would swap" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "run" / "model").exists()
