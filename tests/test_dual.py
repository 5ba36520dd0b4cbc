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
    """With reverse-complement augmentation and strand averaging on (the defaults): each strand flip keeps the
    segments in place, so the decoys in the other segment still do not count."""
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
            "train.threads=1", "train.early_stopping_patience=null", f"output_dir={tmp_path / target}"])
        train(cfg, progress=False)
        return json.loads((tmp_path / target / "metrics.json").read_text())["test"]["overall"]["pearson_r"] or 0.0

    real = run("expression")
    control = run("shuffled")
    assert real > 0.7 and real > control + 0.5, (real, control)


def test_two_segment_reverse_complement_keeps_the_order():
    """Each segment is reverse-complemented in place (the spacer stays): in augmentation, in strand averaging and in
    batch-norm recalibration, branch 1 always reads segment 1."""
    import torch

    from seq2expr.data.dataset import make_loader
    from seq2expr.data.sequences import encode_one, one_hot, reverse_complement, reverse_complement_onehot
    from seq2expr.inference import rc_forward
    from seq2expr.models import build_model, input_segments

    seg1, seg2 = "AACCGGTTAC" * 6, "GGGATTTACA" * 6
    seq = seg1 + "N" * SPACER + seg2
    x = one_hot(encode_one(seq)[None])
    model = build_model("dual", seq_len=len(seq), branch_lengths=[SEG, SEG], spacer=SPACER, channels=[8],
                        kernel_sizes=5, pool_sizes=[SEG], hidden=[4]).eval()
    segments = input_segments(model)
    assert segments == ((0, SEG), (SEG + SPACER, 2 * SEG + SPACER))
    assert input_segments(build_model("cnn", seq_len=len(seq))) is None
    flipped = reverse_complement_onehot(x, segments)
    want = reverse_complement(seg1) + "N" * SPACER + reverse_complement(seg2)
    assert torch.equal(flipped, one_hot(encode_one(want)[None]))
    assert not torch.equal(flipped, reverse_complement_onehot(x))  # the whole-input flip swaps them
    assert torch.equal(reverse_complement_onehot(flipped, segments), x)

    seen: list[torch.Tensor] = []  # what branch 1 reads
    model.branches[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        both = rc_forward(model, x, True)
        assert torch.allclose(both, (model(x) + model(flipped)) / 2)
    assert torch.equal(seen[0], one_hot(encode_one(seg1)[None])) and torch.equal(
        seen[3], one_hot(encode_one(reverse_complement(seg1))[None]))

    codes = np.repeat(encode_one(seq)[None], 64, axis=0)
    batch, _ = next(iter(make_loader(codes, None, np.arange(64), batch_size=64, shuffle=True, rc_augment=True,
                                     segments=segments)))
    forward = (batch == x).all(dim=(1, 2))
    assert 0 < int(forward.sum()) < 64  # about half flipped...
    assert (batch[~forward] == flipped).all()  # ... each segment in place, never swapped
