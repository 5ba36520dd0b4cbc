"""Pinned numbers per verb, in tangermeme's style: each verb on one seeded toy network (``toys.saved_cnn``: torch's
CPU generator gives the same weights everywhere) and fixed sequences, in float32, against the numbers it gave when
they were pinned. The closed-form oracles (``toys.linear_model``) say a verb is right; these say it has not changed
on a nonlinear network: a change to a verb's numbers must come with new pins and a CHANGELOG line.

Tolerance: float32 sums differ in their last bits between CPU kernels (AVX2, AVX-512), so 1e-4 relative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from toys import random_seqs, saved_cnn

import seq2expr as s2e

RTOL, ATOL = 1e-4, 1e-6

PINNED = {
    "predict": [[-0.20067745, -0.07510634], [-0.07753909, -0.02369157], [-0.12194232, -0.07100851],
                [-0.14996555, -0.06649789], [-0.14382602, -0.03888489], [-0.13048866, -0.03113551]],
    # ism(...)[0, :, :4]: the effect of each base at the first positions (0 at the observed base)
    "ism": [[-0.00034162, -0.00785473, 0.01182082, 0.00993495], [0.0, -0.00246555, 0.01044586, 0.01572196],
            [0.00761211, 0.0, 0.00033587, 0.00465758], [0.00702448, -2.119e-05, 0.0, 0.0]],
    # attribute(..., method=M): per sequence the sum, sequence 0's positions 8-11, sequence 1's per-base totals of
    # the hypothetical contributions
    "attribute": {
        "deeplift_shap": [[-0.03565796, 0.05205999], [-0.00322117, -0.00223961, 0.00154687, -0.00132619],
                          [0.02965548, 0.05601257, 0.05996158, 0.03683907]],
        "grad_cam": [[0.01037934, 0.00976728], [4.805e-05, 0.00066392, 0.0, 0.0],
                     [0.00976728, 0.00976728, 0.00976728, 0.00976728]],
        "input_x_gradient": [[-0.11266258, 0.01699606], [0.00369113, -0.00061318, -0.00175964, -0.00165934],
                             [-0.0408118, 0.01412004, 0.04605401, -0.03442178]],
        "integrated_gradients": [[-0.11910615, 0.00415802], [0.00504158, 0.00100884, -0.00095022, -0.00478211],
                                 [-0.0257377, 0.00082862, 0.02320646, -0.02606668]],
        "ism": [[-0.10539526, 0.0852378], [-0.00480784, -0.00214374, -0.00212612, -0.00186484],
                [-0.04110027, 0.04707843, 0.04671932, -0.05269748]],
        "saliency": [[-0.11048048, 0.02076094], [0.0015879, 0.00446721, -0.00185359, -0.00874645],
                     [-0.03704691, 0.01788492, 0.0498189, -0.0306569]],
    },
    "score_pairs": {"effect_a": [0.00971529, -0.0188944], "effect_b": [0.01113719, -0.00580437]},
    "evaluate": {"pearson_r": 0.52821848, "spearman_rho": 0.3311305, "mse": 0.09746773},
    "design": {"edits": ["3:T>C;37:A>C", "4:C>A;19:T>C"], "design_score": [-0.16955154, -0.05420432]},
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield saved_cnn(tmp_path_factory.mktemp("pinned") / "model")
    finally:
        torch.set_num_threads(threads)


SEQS = random_seqs(6, 40, seed=1)


def _close(got, want) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want), rtol=RTOL, atol=ATOL)


def test_predict(toy):
    _close(s2e.predict(toy, SEQS, precision="32"), PINNED["predict"])


def test_ism(toy):
    _close(s2e.ism(toy, SEQS[:2], precision="32")[0, :, :4], PINNED["ism"])


@pytest.mark.parametrize("method", sorted(PINNED["attribute"]))
def test_attribute(toy, method):
    attr, hyp = s2e.attribute(toy, SEQS[:2], method=method, n_shuffles=4, precision="32")
    sums, positions, bases = PINNED["attribute"][method]
    _close(attr.sum((1, 2)), sums)
    _close(attr[0].sum(0)[8:12], positions)
    _close(hyp[1].sum(1), bases)


def test_score_pairs(toy):
    pairs = pd.DataFrame({"id": ["p0", "p1"], "ref_sequence": SEQS[:2],
                          "alt_sequence": [SEQS[0][:20] + "G" + SEQS[0][21:], SEQS[1][:5] + "TGACTCA" + SEQS[1][12:]]})
    got = s2e.score_pairs(toy, pairs, precision="32")
    for column, want in PINNED["score_pairs"].items():
        _close(got[column], want)


def test_evaluate(toy, tmp_path):
    table = pd.DataFrame({"id": [f"s{k}" for k in range(len(SEQS))], "sequence": SEQS,
                          "a": [s.count("G") / 40 for s in SEQS], "b": [s.count("A") / 40 for s in SEQS]})
    table.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    overall = s2e.evaluate(toy, tmp_path / "t.tsv", n_boot=0, precision="32", id_column="id")["eval"]["overall"]
    _close([overall[k] for k in PINNED["evaluate"]], list(PINNED["evaluate"].values()))


def test_design(toy):
    res = s2e.design_sequences(toy, start=SEQS[:2], objective="maximise", method="greedy", rounds=2, seed=0,
                               precision="32", oracle="none")
    assert res.table["edits"].tolist() == PINNED["design"]["edits"]
    _close(res.table["design_score"], PINNED["design"]["design_score"])
