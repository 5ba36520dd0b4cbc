"""What the interpretation report must say before its motif calls are read as biology (issue 37): patterns trimmed
to their informative core, low-complexity patterns flagged and kept out of the TF calls, TFs matched by patterns
of opposite sign flagged, and a caution when the model predicts held-out data poorly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seq2expr.inference import SavedModelConfig
from seq2expr.interpret.caveats import accuracy_text, held_out_accuracy, opposite_sign_tfs
from seq2expr.interpret.modisco import Pattern, pattern_motifs, summary, trim_pattern
from seq2expr.interpret.motifs import jaspar_motifs, low_complexity, match_motifs
from seq2expr.interpret.report import MotifResults, best_matches, report_page

GC_RUN = "GGGGGGGGGGGGGCACGGGGGGGGGG"  # the 26-bp pattern of the issue, matched to CTCF at q 1e-10


def _onehot(seq: str) -> np.ndarray:
    return np.eye(4)[["ACGT".index(b) for b in seq]].T


def _gc_run_pattern(rng) -> tuple[np.ndarray, np.ndarray]:
    """A 50-bp modisco window: weak random flanks around the GC run (CWM and PPM), as TF-MoDISco returns it."""
    flank_l, flank_r = "".join(rng.choice(list("ACGT"), 12)), "".join(rng.choice(list("ACGT"), 12))
    cwm = np.concatenate([_onehot(flank_l) * 0.02, _onehot(GC_RUN) * 0.5, _onehot(flank_r) * 0.02], axis=1)
    ppm = np.concatenate([np.full((4, 12), 0.25), 0.1 + 0.6 * _onehot(GC_RUN), np.full((4, 12), 0.25)], axis=1)
    return cwm, ppm / ppm.sum(0, keepdims=True)


@pytest.fixture(scope="module")
def fungi():
    return jaspar_motifs(taxon="fungi")


def test_gc_run_is_trimmed_and_flagged_low_complexity():
    cwm, ppm = _gc_run_pattern(np.random.default_rng(0))
    window, (c0, c1) = trim_pattern(cwm, ppm)
    core = ppm[:, window][:, c0:c1]
    assert cwm.shape[1] == 50 and core.shape[1] <= 24  # the 12-bp flanks are gone, the core is capped
    assert window.stop - window.start <= core.shape[1] + 4  # two flank columns either side at most, shown only
    pat = Pattern("pos_pattern_0", "pos", cwm[:, window], cwm[:, window], ppm[:, window], 40, core=(c0, c1))
    assert pattern_motifs([pat])["pos_pattern_0"].shape[1] == core.shape[1]  # Tomtom and the MEME file: the core
    row = summary([pat])[0]
    assert row["low_complexity"].startswith("one base: G") and row["composition_bits"] < 1.0
    assert row["core_width"] == core.shape[1] and set(row["consensus"]) <= set("GCA")


def test_uninformative_end_columns_are_cut_from_the_core():
    """Columns with contribution but no information (any base, by the seqlets) are not part of the core."""
    site = _onehot("TTACCCGG")
    cwm = np.concatenate([np.full((4, 4), 0.2), site, np.full((4, 4), 0.2)], axis=1)  # strong, but uniform
    ppm = np.concatenate([np.full((4, 4), 0.25), 0.05 + 0.8 * site, np.full((4, 4), 0.25)], axis=1)
    window, (c0, c1) = trim_pattern(cwm, ppm / ppm.sum(0), flank=0)
    assert (window.start + c0, window.start + c1) == (4, 12)


@pytest.mark.parametrize("seq, flagged", [(GC_RUN, "one base"), ("AAAAAAAAAAAAAAAA", "one base"),
                                          ("CACACACACACACA", "dinucleotide"), ("GCGGCCGCGGGCGCCGGC", "two bases"),
                                          ("TTACCCGG", ""), ("TATAAAAG", ""), ("CCACCAGGGGGCGC", ""),
                                          ("GGGGCGGGG", ""), ("TATATATATAT", "")])
def test_low_complexity_rule(seq, flagged):
    got = low_complexity(0.1 + _onehot(seq))
    assert got.startswith(flagged) if flagged else got == ""


def test_real_tf_matrices_are_not_low_complexity(fungi):
    """No fungal JASPAR matrix is flagged: short sites rich in one base (MIG1 CCCCGC, SPT15 GATATATATAT) too."""
    assert [k for k, v in fungi.items() if low_complexity(v)] == []


def test_low_complexity_matches_are_not_tf_calls(fungi):
    cwm, ppm = _gc_run_pattern(np.random.default_rng(1))
    window, core = trim_pattern(cwm, ppm)
    reb1 = next(v for k, v in fungi.items() if k.endswith(" REB1"))
    pats = [Pattern("pos_pattern_0", "pos", cwm[:, window], cwm[:, window], ppm[:, window], 40, core=core),
            Pattern("pos_pattern_1", "pos", reb1, reb1, reb1, 30)]
    best = pd.DataFrame({"pattern": ["pos_pattern_0", "pos_pattern_1"], "tf": ["CTCF", "REB1"],
                         "motif": ["MA0139.2 CTCF", "MA0363.3 REB1"], "q_value": [1e-10, 1e-6]})
    mo = MotifResults(pats, best, best, {}, [], pd.DataFrame())
    assert list(mo.calls["tf"]) == ["REB1"] and set(mo.low_complexity) == {"pos_pattern_0"}
    page = report_page(SavedModelConfig(model={"name": "m", "seq_len": 100}, target_names=["y"]), "y", "saliency",
                       10, [], [], pd.DataFrame(), [], mo, None)
    assert "1 of 2 patterns are low-complexity" in page


def test_tf_matched_by_opposite_sign_patterns_is_flagged(fungi):
    """An activating and a repressing pattern that both look like REB1: REB1 is flagged, GCN4 (one sign) is not."""
    named = {k.split(" ", 1)[1]: v for k, v in fungi.items()}
    pats = {"pos_pattern_0": named["REB1"], "neg_pattern_0": named["REB1"][::-1, ::-1].copy(),
            "pos_pattern_1": named["GCN4"]}
    best = best_matches(match_motifs(pats, fungi, n_top=3), 0.05)
    assert set(best["tf"]) == {"REB1", "GCN4"}
    signs = {k: k.split("_", 1)[0] for k in pats}
    assert opposite_sign_tfs(best, signs) == {"REB1": {"pos": ["pos_pattern_0"], "neg": ["neg_pattern_0"]}}
    mo = MotifResults([Pattern(k, signs[k], v, v, v, 20) for k, v in pats.items()], best, best, fungi, [],
                      pd.DataFrame())
    page = report_page(SavedModelConfig(model={"name": "m", "seq_len": 100}, target_names=["y"]), "y", "saliency",
                       10, [], [], pd.DataFrame(), [], mo, None)
    assert "Caution: REB1 is the best match of patterns that raise (pos_pattern_0) and that lower (neg_pattern_0)" \
        in page and "GCN4 is the best" not in page


@pytest.mark.parametrize("r, weak", [(0.31, True), (0.82, False)])
def test_report_states_held_out_accuracy_and_cautions_a_weak_model(r, weak):
    cfg = SavedModelConfig(model={"name": "m", "seq_len": 100}, target_names=["y"],
                           metrics={"valid": {"pearson_r": 0.9, "n": 50}, "test": {"pearson_r": r, "n": 500}})
    acc = held_out_accuracy(cfg)
    assert acc["metric"] == "pearson_r" and acc["value"] == r and acc["n"] == 500  # test, not validation
    mo = MotifResults([], pd.DataFrame(), pd.DataFrame(), {}, [], pd.DataFrame())
    page = report_page(cfg, "y", "saliency", 10, [], [], pd.DataFrame(), [], mo, acc)
    assert f"Held-out accuracy: pearson_r {r:.3f} on test split, n=500" in page
    assert ("Caution: The model predicts held-out data poorly" in page) == weak


def test_accuracy_from_a_model_card_and_when_none_is_recorded():
    from seq2expr.zoo.card import HeldOutMetrics

    class Card:
        metrics = [HeldOutMetrics(data="dream2022:test", metrics={"pearson_r2": 0.16}, command="x", n=10)]

    cfg = SavedModelConfig(model={"name": "m", "seq_len": 100}, target_names=["y"])
    assert held_out_accuracy(cfg) is None and "not recorded" in accuracy_text(None)[0]
    acc = held_out_accuracy(type("Cfg", (), {"metrics": None, "card": Card()})())
    assert acc["value"] == pytest.approx(0.4) and "poorly" in accuracy_text(acc)[1]
