"""Oracle tests in the style of tangermeme and gReLU: a model with hand-set weights whose every output is known in
closed form (the ``linear`` model, ``y = <W, x> + c``), so prediction, strand averaging, ISM, attributions,
variant effects and design steps are checked exactly, in milliseconds, without training anything.

For a linear model: an SNV from base ``a`` to ``b`` at position ``p`` changes the output by ``W[b, p] - W[a, p]``;
the gradient is ``W``; integrated gradients give ``W * (x - baseline)``; the reverse complement's output is
``<flip(W), x>`` (``flip`` reverses both the base and the position axes); a greedy design step takes the single
edit with the largest ``W[b, p] - W[ref, p]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from toys import BASES, linear_model, linear_weights, onehot, random_seqs

from seq2expr.data.cache import encode_fast
from seq2expr.data.sequences import decode, one_hot
from seq2expr.inference import ModelSpec, SavedModelConfig, load_model, predict, save_model
from seq2expr.models import build_model

L = 12


@pytest.fixture
def saved(tmp_path):
    """The linear model saved as a run would save it: strands averaged as trained, no target transform."""
    def make(rc_average: bool = True, n_targets: int = 1, names: list[str] | None = None):
        cfg = SavedModelConfig(model=ModelSpec(name="linear", seq_len=L, n_targets=n_targets),
                               train={"rc_average": rc_average}, target_names=names or [])
        path = save_model(tmp_path / f"m{rc_average}{n_targets}", linear_model(L, n_targets), cfg)
        return load_model(path)
    return make


def _oracle(seqs: list[str], w: np.ndarray, bias: float = 0.5, rc: bool = False) -> np.ndarray:
    x = onehot(seqs)
    fwd = np.einsum("nbl,tbl->nt", x, w) + bias
    if not rc:
        return fwd
    return (fwd + np.einsum("nbl,tbl->nt", x, w[:, ::-1, ::-1]) + bias) / 2


def test_predict_is_the_closed_form_with_and_without_strand_averaging(saved):
    seqs = random_seqs(5, L, 1)
    w = linear_weights(L).numpy()
    np.testing.assert_allclose(predict(saved(rc_average=False), seqs, precision="32"), _oracle(seqs, w), atol=1e-5)
    np.testing.assert_allclose(predict(saved(rc_average=True), seqs, precision="32"), _oracle(seqs, w, rc=True),
                               atol=1e-5)
    bare = linear_model(L)
    np.testing.assert_allclose(predict(bare, onehot(seqs), precision="32"), _oracle(seqs, w), atol=1e-5)


def test_ism_is_the_difference_of_weights():
    from seq2expr.interpret.ism import ism

    seqs = random_seqs(5, L, 1)
    w = linear_weights(L).numpy()[0]
    scores = ism(linear_model(L), onehot(seqs), precision="32")
    for i, s in enumerate(seqs):
        ref = np.array(["ACGT".index(c) for c in s])
        expected = w - w[ref, np.arange(L)][None, :]
        np.testing.assert_allclose(scores[i], expected, atol=1e-5)


def test_gradients_saliency_and_integrated_gradients_are_exact():
    from seq2expr.interpret.gradients import gradients, integrated_gradients, saliency

    seqs = random_seqs(5, L, 1)
    x = onehot(seqs)
    w = linear_weights(L).numpy()[0]
    np.testing.assert_allclose(gradients(linear_model(L), x), np.broadcast_to(w, x.shape), atol=1e-6)
    np.testing.assert_allclose(saliency(linear_model(L), x), w * x, atol=1e-6)
    attr, delta = integrated_gradients(linear_model(L), x, baseline="zeros", n_steps=4, return_delta=True)
    np.testing.assert_allclose(attr, w * x, atol=1e-5)  # linear: the path integral is exact at any step count
    np.testing.assert_allclose(delta, 0, atol=1e-5)


def test_input_x_gradient_is_the_weights_times_the_input():
    """The registered method ``input_x_gradient``: on a linear model its attributions are ``W * x`` exactly and its
    hypothetical contributions ``W`` itself (target 1 of 2); and it is offered wherever the other methods are."""
    from seq2expr.cli.common import INTERPRET_METHODS, LOGO_METHODS
    from seq2expr.interpret.attribute import attribute

    x = onehot(random_seqs(5, L, 1))
    w = linear_weights(L, 2).numpy()
    attr, hyp = attribute(linear_model(L, 2), x, method="input_x_gradient", target=1)
    np.testing.assert_allclose(attr, w[1] * x, atol=1e-6)
    np.testing.assert_allclose(hyp, np.broadcast_to(w[1], x.shape), atol=1e-6)
    assert "input_x_gradient" in INTERPRET_METHODS and "input_x_gradient" in LOGO_METHODS


@pytest.mark.parametrize("baseline", ["zeros", "uniform"])
def test_integrated_gradients_times_input_is_the_exact_attribution(baseline):
    """IG = W * (x - baseline); its hypothetical form is W - <W, baseline> per position, which times the one-hot
    input is each position's IG summed over the bases; ``attribute`` uses a zero baseline: exactly W * x."""
    from seq2expr.interpret.attribute import attribute
    from seq2expr.interpret.gradients import integrated_gradients

    x = onehot(random_seqs(5, L, 1))
    w = linear_weights(L).numpy()[0]
    b = 0.0 if baseline == "zeros" else 0.25
    ig = integrated_gradients(linear_model(L), x, baseline=baseline, n_steps=4)
    np.testing.assert_allclose(ig, w * (x - b), atol=1e-5)
    hyp = integrated_gradients(linear_model(L), x, baseline=baseline, n_steps=4, hypothetical=True)
    np.testing.assert_allclose(hyp, np.broadcast_to(w - (w * b).sum(0), x.shape), atol=1e-5)
    np.testing.assert_allclose((hyp * x).sum(1), ig.sum(1), atol=1e-5)
    attr, hyp = attribute(linear_model(L), x, method="integrated_gradients")
    np.testing.assert_allclose(attr, w * x, atol=1e-5)
    np.testing.assert_allclose(hyp, np.broadcast_to(w, x.shape), atol=1e-5)


def test_interpret_cli_takes_integrated_gradients(tmp_path):
    """``interpret --method integrated_gradients`` writes IG x input: W * x for a linear model."""
    from typer.testing import CliRunner

    from seq2expr.cli.main import app
    from seq2expr.data.io.motifs import write_meme

    n, length = 20, 40
    w = np.random.default_rng(0).normal(size=(1, 4, length)).astype(np.float32)
    net = build_model("linear", seq_len=length)
    with torch.no_grad():
        net.weight.copy_(torch.from_numpy(w))
    save_model(tmp_path / "m", net, SavedModelConfig(model=ModelSpec(name="linear", seq_len=length),
                                                         train={"rc_average": False}))
    seqs = ["".join(s) for s in np.random.default_rng(1).choice(BASES, (n, length))]
    pd.DataFrame({"id": [f"s{i}" for i in range(n)], "sequence": seqs}).to_csv(tmp_path / "in.tsv", sep="\t",
                                                                                index=False)
    meme = write_meme({"M1 ACG": np.eye(4)[[0, 1, 2]].T * 0.9 + 0.025}, tmp_path / "m.meme")
    res = CliRunner().invoke(app, ["interpret", str(tmp_path / "m"), str(tmp_path / "in.tsv"), "-o",
                                   str(tmp_path / "r"), "--method", "integrated_gradients", "--n", str(n),
                                   "--n-top", "2", "--threads", "1", "--motifs", str(meme)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    saved = np.load(tmp_path / "r" / "attributions.npz")
    rows = [int(i[1:]) for i in saved["ids"]]
    np.testing.assert_allclose(saved["attributions"], w[0] * onehot(seqs)[rows], atol=1e-5)


def test_deep_lift_shap_is_complete_on_a_linear_model():
    """DeepLIFT on a linear model: the contributions sum to f(x) - mean f(reference) exactly (no nonlinearity)."""
    from seq2expr.interpret.gradients import deep_lift_shap

    x = onehot(random_seqs(5, L, 1))
    attr, delta = deep_lift_shap(linear_model(L), x, n_shuffles=4, return_delta=True)
    np.testing.assert_allclose(delta, 0, atol=1e-4)
    assert np.all(attr[x == 0] == 0)  # projected on the observed bases


def test_pair_effects_are_weight_differences(saved):
    from seq2expr.variants import score_pairs

    model = saved(rc_average=False, n_targets=2, names=["a", "b"])
    w = linear_weights(L, 2).numpy()
    ref = random_seqs(6, L, 1)
    rng = np.random.default_rng(2)
    alt, expected = [], []
    for s in ref:
        p = int(rng.integers(L))
        b = "ACGT"[("ACGT".index(s[p]) + 1 + int(rng.integers(3))) % 4]
        alt.append(s[:p] + b + s[p + 1:])
        expected.append(w[:, "ACGT".index(b), p] - w[:, "ACGT".index(s[p]), p])
    out = score_pairs(model, pd.DataFrame({"id": [f"v{i}" for i in range(6)], "ref_sequence": ref,
                                           "alt_sequence": alt}), precision="32")
    np.testing.assert_allclose(out[["effect_a", "effect_b"]].to_numpy(), np.array(expected), atol=1e-5)


def test_centred_variant_effect_in_a_genome_is_the_weight_difference(saved, tmp_path):
    """A SNV scored in a window centred on it (centred mode): the effect is ``W[alt, c] - W[ref, c]`` at the
    window's centre position ``c = (L - 1) // 2`` (an even window has the extra base after the allele)."""
    from seq2expr.variants import ScoreOptions, score_variants

    model = saved(rc_average=False)
    w = linear_weights(L).numpy()[0]
    genome = "".join(np.random.default_rng(5).choice(BASES, 200))
    (tmp_path / "g.fa").write_text(">chr1\n" + genome + "\n")
    pos = [50, 101, 150]  # 1-based
    alts = ["ACGT"[("ACGT".index(genome[p - 1]) + 2) % 4] for p in pos]
    table = pd.DataFrame({"chrom": "chr1", "pos": pos, "ref": [genome[p - 1] for p in pos], "alt": alts})
    out = score_variants(model, table, tmp_path / "g.fa", ScoreOptions(mode="centred", background=0, precision="32"))
    centre = (L - 1) // 2
    expected = [w["ACGT".index(a), centre] - w["ACGT".index(genome[p - 1]), centre] for p, a in zip(pos, alts,
                                                                                                strict=True)]
    np.testing.assert_allclose(out["effect_prediction"].to_numpy(), expected, atol=1e-5)


def test_a_greedy_design_step_takes_the_best_single_edit(saved):
    from seq2expr.design import Constraints, Objective
    from seq2expr.design.algorithms.beam import beam_search
    from seq2expr.design.objective import Scorer

    model = saved(rc_average=False)
    w = linear_weights(L).numpy()[0]
    start = encode_fast(random_seqs(3, L, 1), model.config.policy)
    scorer = Scorer([model], Objective("maximise"), precision="32")
    designed, _ = beam_search(scorer, start, Constraints(L), beam=1, rounds=1)
    for s, d in zip(start, designed, strict=True):
        gain = w - w[s, np.arange(L)][None, :]  # every single edit's gain
        b, p = np.unravel_index(np.argmax(gain), gain.shape)
        expected = s.copy()
        expected[p] = b
        assert decode(d[None])[0] == decode(expected[None])[0]


def test_one_hot_helpers_agree_with_the_oracle_encoding():
    seqs = random_seqs(5, L, 1)
    x = one_hot(torch.tensor(np.stack([[["ACGT".index(c) for c in s]] for s in seqs])[:, 0]))
    np.testing.assert_array_equal(x.numpy(), onehot(seqs))


# ------------------------------------------------------------------------------------------- one readout


def _mutants(seqs: list[str]) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Every single-base mutant of each sequence, and its (sequence, base, position)."""
    out, where = [], []
    for i, s in enumerate(seqs):
        for p in range(L):
            for b in "ACGT":
                if b != s[p]:
                    out.append(s[:p] + b + s[p + 1:])
                    where.append((i, "ACGT".index(b), p))
    return out, where


def _mutate_predict_subtract(model, seqs: list[str], readout) -> np.ndarray:
    """ISM the naive way: every mutant through ``predict`` with the readout, minus the reference's prediction."""
    mutants, where = _mutants(seqs)
    ref = predict(model, seqs, readout=readout, precision="32")[:, 0]
    alt = predict(model, mutants, readout=readout, precision="32")[:, 0]
    out = np.zeros((len(seqs), 4, L), np.float32)
    for (i, b, p), y in zip(where, alt, strict=True):
        out[i, b, p] = y - ref[i]
    return out


def test_ism_on_a_strand_averaging_model_is_mutate_predict_subtract(saved):
    from seq2expr.inference import Readout
    from seq2expr.interpret.ism import ism

    model = saved(rc_average=True, n_targets=2, names=["a", "b"])
    seqs = random_seqs(5, L, 1)
    readout = Readout(targets="b")  # strands as trained (averaged), original scale
    naive = _mutate_predict_subtract(model, seqs, readout)
    for kw in ({}, {"fast": False}, {"positions_per_batch": 1, "batch_size": 7}):
        np.testing.assert_allclose(ism(model, seqs, readout=readout, precision="32", **kw), naive, atol=1e-6)
    # the closed form: the strand-averaged weights' differences; the forward strand alone is something else
    w = linear_weights(L, 2).numpy()[1]
    w_avg = (w + w[::-1, ::-1]) / 2
    for i, s in enumerate(seqs):
        ref = np.array(["ACGT".index(c) for c in s])
        np.testing.assert_allclose(naive[i], w_avg - w_avg[ref, np.arange(L)][None, :], atol=1e-5)
    forward = ism(model, seqs, readout=Readout(targets="b", strands="forward"), precision="32")
    assert np.abs(forward - naive).max() > 0.1
    # ``target`` alone is the model scale: here (no target transform) the same numbers
    np.testing.assert_allclose(ism(model, seqs, target="b", precision="32"), naive, atol=1e-6)


def test_fast_ism_mirrors_the_reverse_strand_exactly(tmp_path):
    """A convolutional model saved with strand averaging: ISM's fast path (a traced reverse strand whose mutant
    window is the forward one mirrored) equals mutate, predict, subtract."""
    import warnings

    from seq2expr.inference import Readout
    from seq2expr.interpret.ism import FastISMStrands, ism, mutant_block, splice_mutants

    torch.manual_seed(0)
    params = {"channels": (8, 8), "pool_sizes": (2, 2), "hidden": (8,)}
    net = build_model("cnn", seq_len=L, **params).eval()
    cfg = SavedModelConfig(model=ModelSpec(name="cnn", seq_len=L, params=params), train={"rc_average": True})
    model = load_model(save_model(tmp_path / "cnn", net, cfg))
    seqs = random_seqs(3, L, 4)
    readout = Readout(scale="model")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast path's own check against the plain pass must not fire
        fast = ism(model, seqs, readout=readout, precision="32")
    np.testing.assert_allclose(fast, _mutate_predict_subtract(model, seqs, readout), atol=1e-6)
    x = torch.as_tensor(onehot(seqs))
    both = FastISMStrands(model.model.eval(), rc_average=True)
    with torch.no_grad():
        both.reference(x)
        vals, _ = mutant_block(x, 3, 7)
        full = splice_mutants(x, 3, 7, vals)
        expected = (model.model(full) + model.model(full.flip(-2, -1))) / 2
        np.testing.assert_allclose(both.run(3, 7, vals, 12).numpy(), expected.numpy(), atol=1e-6)


def test_one_readout_gives_the_same_numbers_in_every_verb(saved):
    """One readout (a target by name, strands averaged, original scale) through predict, ISM, variant pairs, a
    design objective and the gradients: the same numbers, and the closed form."""
    from seq2expr.design import Objective
    from seq2expr.design.objective import Scorer
    from seq2expr.inference import Readout
    from seq2expr.interpret.gradients import gradients, integrated_gradients
    from seq2expr.interpret.ism import ism
    from seq2expr.variants import score_pairs

    model = saved(rc_average=True, n_targets=2, names=["a", "b"])
    w = linear_weights(L, 2).numpy()
    seqs = random_seqs(6, L, 1)
    alt = [s[:4] + "ACGT"[("ACGT".index(s[4]) + 1) % 4] + s[5:] for s in seqs]
    for readout, closed in ((Readout(targets="a", strands="average", scale="original"), lambda v: v[:, [0]]),
                            (Readout(targets=("a", "b"), transform="diff"), lambda v: v[:, [0]] - v[:, [1]]),
                            (Readout(transform="mean"), lambda v: v.mean(1, keepdims=True))):
        pred = predict(model, seqs, readout=readout, precision="32")
        np.testing.assert_allclose(pred, closed(_oracle(seqs, w, rc=True)), atol=1e-5)
        pred_alt = predict(model, alt, readout=readout, precision="32")
        name = readout.resolve(model).names()[0]
        pairs = score_pairs(model, pd.DataFrame({"ref_sequence": seqs, "alt_sequence": alt}), readout=readout,
                            precision="32")
        np.testing.assert_array_equal(pairs[f"ref_{name}"], pred[:, 0])
        np.testing.assert_array_equal(pairs[f"effect_{name}"], pred_alt[:, 0] - pred[:, 0])
        codes = encode_fast(seqs, model.config.policy)
        scorer = Scorer([model], Objective("maximise", readout=readout), precision="32")
        np.testing.assert_array_equal(scorer(codes), pred[:, 0])
        scores = ism(model, seqs, readout=readout, precision="32")
        idx = np.arange(len(seqs))
        np.testing.assert_allclose(scores[idx, [("ACGT".index(s[4]) + 1) % 4 for s in seqs], 4],
                                   pred_alt[:, 0] - pred[:, 0], atol=1e-6)
        # gradients of the strand-averaged output: the readout's weights, averaged over both strands
        w_r = closed(((w + w[:, ::-1, ::-1]) / 2).reshape(2, -1).T).reshape(4, L)
        x = onehot(seqs)
        np.testing.assert_allclose(gradients(model, seqs, readout=readout), np.broadcast_to(w_r, x.shape),
                                   atol=1e-5)
        attr = integrated_gradients(model, seqs, readout=readout, n_steps=4)
        np.testing.assert_allclose(attr.sum((1, 2)), pred[:, 0] - 0.5 * (readout.transform != "diff"), atol=1e-5)


def test_a_readout_error_is_one_clear_line(saved):
    from seq2expr.data.errors import DataError
    from seq2expr.inference import Readout
    from seq2expr.interpret.ism import ism
    from seq2expr.variants import score_pairs

    model = saved(rc_average=True, n_targets=2, names=["a", "b"])
    seqs = random_seqs(2, L, 1)
    message = r"^target 'nope' is not among the model's targets \['a', 'b'\]$"
    bad = Readout(targets="nope")
    for call in (lambda: bad.resolve(model), lambda: predict(model, seqs, readout=bad),
                 lambda: ism(model, seqs, readout=bad), lambda: ism(model, seqs, target="nope"),
                 lambda: score_pairs(model, pd.DataFrame({"ref_sequence": seqs, "alt_sequence": seqs}),
                                     readout=bad)):
        with pytest.raises(DataError, match=message):
            call()
    with pytest.raises(DataError, match="target 5 out of range"):
        Readout(targets=5).resolve(model)
    with pytest.raises(ValueError, match="'diff' needs exactly two targets"):
        Readout(targets="a", transform="diff")
    with pytest.raises(ValueError, match="at least one target"):
        Readout.parse("mean:")
    with pytest.raises(ValueError, match="explains one output; the readout gives 2"):
        ism(model, seqs, readout=Readout())
    with pytest.raises(ValueError, match="not as rc_average/scale beside it"):
        predict(model, seqs, readout=Readout(), scale="model")
    assert Readout.parse("diff:a,b") == Readout(targets=("a", "b"), transform="diff")
    assert Readout.parse("1") == Readout(targets=1)


def test_deep_lift_shap_and_grad_cam_read_the_strand_averaged_output(saved):
    """DeepLIFT-SHAP through a strand-averaging readout is still complete on a linear model, and its hypothetical
    contributions are the strand-averaged weights up to a per-position constant; Grad-CAM runs on both strands."""
    from seq2expr.inference import Readout
    from seq2expr.interpret.gradcam import grad_cam
    from seq2expr.interpret.gradients import deep_lift_shap

    model = saved(rc_average=True)
    x = onehot(random_seqs(5, L, 1))
    hyp, delta = deep_lift_shap(model, x, readout=Readout(scale="model"), n_shuffles=4, hypothetical=True,
                                return_delta=True)
    np.testing.assert_allclose(delta, 0, atol=1e-4)
    w = linear_weights(L).numpy()[0]
    w_avg = (w + w[::-1, ::-1]) / 2
    centred = hyp - hyp.mean(1, keepdims=True)
    np.testing.assert_allclose(centred, np.broadcast_to(w_avg - w_avg.mean(0), x.shape), atol=1e-5)
    cam = grad_cam(model, x, "conv", relu=False)
    assert cam.shape == (len(x), L) and np.isfinite(cam).all()


def test_design_command_reads_a_readout_target(saved, tmp_path):
    """``seq2expr design --target diff:a,b`` designs for the difference of two targets, scored by that readout."""
    import json

    from typer.testing import CliRunner

    from seq2expr.cli.main import app
    from seq2expr.inference import Readout

    model = saved(rc_average=True, n_targets=2, names=["a", "b"])
    res = CliRunner().invoke(app, ["design", str(model.path), "-o", str(tmp_path / "d"), "--n", "3", "--rounds", "2",
                                   "--target", "diff:a,b", "--oracle", "none", "--attributions", "none",
                                   "--precision", "32"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "d" / "designs.tsv", sep="\t")
    expected = predict(model, table["sequence"].tolist(), readout=Readout(targets=("a", "b"), transform="diff"),
                       precision="32")[:, 0]
    np.testing.assert_allclose(table["design_score"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(table["design_a-b"], expected, rtol=1e-5, atol=1e-5)
    assert json.loads((tmp_path / "d" / "summary.json").read_text())["target"] == "a-b"


def test_variant_scoring_in_a_genome_reads_the_readout(saved, tmp_path):
    """Centred-mode variant effects with a ``diff`` readout are the difference of the two targets' effects, each
    with strands averaged as the model was trained (the closed form)."""
    from seq2expr.inference import Readout
    from seq2expr.variants import ScoreOptions, score_variants

    model = saved(rc_average=True, n_targets=2, names=["a", "b"])
    genome = "".join(np.random.default_rng(6).choice(BASES, 200))
    (tmp_path / "g.fa").write_text(">chr1\n" + genome + "\n")
    pos = [40, 90, 160]
    table = pd.DataFrame({"chrom": "chr1", "pos": pos, "ref": [genome[p - 1] for p in pos],
                          "alt": ["ACGT"[("ACGT".index(genome[p - 1]) + 1) % 4] for p in pos]})
    both = score_variants(model, table, tmp_path / "g.fa", ScoreOptions(mode="centred", background=0, precision="32"))
    diff = score_variants(model, table, tmp_path / "g.fa", ScoreOptions(
        mode="centred", background=0, precision="32", readout=Readout(targets=("a", "b"), transform="diff")))
    np.testing.assert_allclose(diff["effect_a-b"], both["effect_a"] - both["effect_b"], atol=1e-6)
    w = linear_weights(L, 2).numpy()
    w_avg = (w + w[:, ::-1, ::-1]) / 2
    c = (L - 1) // 2
    expected = [w_avg[:, "ACGT".index(a), c] - w_avg[:, "ACGT".index(r), c] for r, a in zip(table["ref"], table["alt"],
                                                                                         strict=True)]
    np.testing.assert_allclose(both[["effect_a", "effect_b"]].to_numpy(), np.array(expected), atol=1e-5)


def test_first_output_of_a_readout_is_what_reports_rank_and_explain(saved):
    """A report ranks and explains one output: a readout's first (its transform's, when it has one)."""
    from seq2expr.inference import Readout

    model = saved(n_targets=3, names=["a", "b", "c"])
    seqs = random_seqs(5, L, 1)
    everything = predict(model, seqs, precision="32")
    for readout, column in ((Readout(), 0), (Readout(targets=("c", "a")), 2), (Readout(targets="b"), 1)):
        first = readout.first_output(model)
        np.testing.assert_array_equal(predict(model, seqs, readout=first, precision="32")[:, 0],
                                      everything[:, column])
    diff = Readout(targets=("a", "c"), transform="diff")
    assert diff.first_output(model) is diff


@pytest.mark.parametrize(("objective", "target", "closed"), [
    ("max", "b", lambda v: v[:, 1]),
    ("diff:c", "a", lambda v: v[:, 0] - v[:, 2]),  # a difference of two targets: its logos explain a - c
])
def test_a_design_report_explains_the_output_its_objective_is_about(saved, objective, target, closed):
    """The design's readout (what its report's logos explain) is the designed output, not the model's first
    target: predicting with it gives the objective's own numbers, in closed form."""
    from seq2expr.design import Objective, design

    model = saved(n_targets=3, names=["a", "b", "c"])
    result = design(model, "random", Objective.parse(objective, target), n=3, rounds=1, seed=0, oracle="none",
                    precision="32")
    seqs = result.table["sequence"].tolist()
    np.testing.assert_allclose(predict(model, seqs, readout=result.readout, precision="32")[:, 0],
                               closed(_oracle(seqs, linear_weights(L, 3).numpy(), rc=True)), atol=1e-5)


def test_a_table_with_an_id_column_keeps_its_ids_whatever_the_training_layout(saved, tmp_path):
    """A model trained without an ID column (e.g. on a registry data set) predicts a table's ``id`` column as IDs,
    not row numbers."""
    from seq2expr.inference import predict_file

    seqs = random_seqs(4, L, 1)
    pd.DataFrame({"name": list("wxyz"), "id": [f"r{i}" for i in range(4)], "sequence": seqs}).to_csv(
        tmp_path / "t.tsv", sep="\t", index=False)
    model = saved()
    assert model.config.data.id_column not in ("id", "ID")
    predict_file(model, tmp_path / "t.tsv", tmp_path / "p.tsv", precision="32")
    out = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert out["id"].tolist() == ["r0", "r1", "r2", "r3"]
    np.testing.assert_allclose(out.iloc[:, 1], predict(model, seqs, precision="32")[:, 0], atol=1e-5)


@pytest.mark.parametrize("method", ["ism", "saliency"])
def test_variant_report_logos_explain_the_runs_readout(saved, tmp_path, method):
    """The variant report's logos explain the output its top variants are ranked by (the run's readout, strands
    averaged as trained), whatever the method: for a linear model and a ``diff`` readout, ISM and saliency both give
    the centred difference of the strand-averaged weights, at the reference bases."""
    from seq2expr.inference import Readout
    from seq2expr.variants import ScoreOptions, VariantScorer, write_variant_outputs

    model = saved(rc_average=True, n_targets=2, names=["a", "b"])
    genome = "".join(np.random.default_rng(6).choice(BASES, 200))
    (tmp_path / "g.fa").write_text(">chr1\n" + genome + "\n")
    pos = [40, 90, 160]
    pd.DataFrame({"chrom": "chr1", "pos": pos, "ref": [genome[p - 1] for p in pos],
                  "alt": ["ACGT"[("ACGT".index(genome[p - 1]) + 1) % 4] for p in pos]}).to_csv(
        tmp_path / "v.tsv", sep="\t", index=False)
    options = ScoreOptions(mode="centred", background=0, precision="32",
                           readout=Readout(targets=("a", "b"), transform="diff"))
    scorer = VariantScorer(model, tmp_path / "g.fa", options)
    write_variant_outputs(scorer, tmp_path / "v.tsv", tmp_path / "out", top=3, attributions=method)
    saved_attr = np.load(tmp_path / "out" / "attributions.npz")
    w = linear_weights(L, 2).numpy()
    w_avg = (w + w[:, ::-1, ::-1]) / 2
    w_r = w_avg[0] - w_avg[1]
    expected = w_r - w_r.mean(0)  # ISM of a linear model is its (centred) weights; so is the centred gradient
    x = onehot(decode(saved_attr["codes"]))
    np.testing.assert_allclose(saved_attr["attributions"], expected * x, atol=1e-5)
