"""Attribution methods: exactness of fast ISM, completeness of IG, independence from batch composition."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from toys import Branchy, random_onehot

from seq2expr.interpret.attention import attention_maps
from seq2expr.interpret.attribute import hypothetical_contributions
from seq2expr.interpret.gradcam import conv_layers, grad_cam
from seq2expr.interpret.gradients import deep_lift_shap, integrated_gradients, saliency
from seq2expr.interpret.ism import ism, ism_naive
from seq2expr.models import build_model

torch.set_num_threads(1)


def _randomise_bn(model: nn.Module) -> nn.Module:
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_(1, 0.3)
    return model


@pytest.mark.parametrize("make", [lambda: Branchy(40), lambda: build_model("cnn", seq_len=40, channels=(16, 16),
                                                                         pool_sizes=(2, 2), hidden=(16,)),
                                  lambda: build_model("legnet", seq_len=40, block_sizes=(16, 16, 16)),
                                  lambda: build_model("hybrid", seq_len=40, channels=(16, 16), n_layers=1)])
def test_ism_equals_naive_loop(make):
    torch.manual_seed(0)
    model = _randomise_bn(make())
    model.train()  # the caller's mode must survive
    x = random_onehot(3, 40)
    target = model(torch.as_tensor(x)).shape[1] - 1
    naive = ism_naive(model, x, target=target)
    assert np.abs(naive).max() > 1e-4  # the model is sensitive, so the comparison means something
    for kw in ({}, {"positions_per_batch": 1, "batch_size": 7}, {"fast": False}):
        fast = ism(model, x, target=target, **kw)
        np.testing.assert_allclose(fast, naive, atol=1e-5, rtol=0)
    assert model.training
    # reference base scores 0; window and centring
    assert np.all(ism(model, x, target=target)[x == 1] == 0)
    win = ism(model, x, target=target, start=5, end=17, center=True)
    assert not win[:, :, :5].any() and not win[:, :, 17:].any()
    ref = naive[:, :, 5:17] - naive[:, :, 5:17].mean(1, keepdims=True)
    np.testing.assert_allclose(win[:, :, 5:17], ref, atol=1e-5)


class Gated(nn.Module):
    """A squeeze-excitation gate: the product of a windowed activation with a gate from a global mean."""

    def __init__(self, length: int = 40):
        super().__init__()
        from seq2expr.models.layers import SqueezeExcite

        self.conv = nn.Conv1d(4, 8, 5, padding="same")
        self.act = nn.ReLU()
        self.se = SqueezeExcite(8, 4)
        self.head = nn.Linear(8 * length, 1)

    def forward(self, x):
        return self.head(self.se(self.act(self.conv(x))).flatten(1))


def test_fast_ism_exact_with_input_dependent_gates():
    """The gate changes with every mutant, so positions outside the mutated window change too: the fast
    path must compute the gated product in full (and must not need its plain-ISM fallback to be right)."""
    torch.manual_seed(0)
    model = Gated().eval()
    for p in model.se.gate.parameters():
        p.data.mul_(6.0)  # a gate that reacts strongly to the channel means
    x = random_onehot(3, 40, seed=9)
    naive = ism_naive(model, x)
    assert np.abs(naive).max() > 1e-2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast path's own check against plain ISM must not fire
        np.testing.assert_allclose(ism(model, x), naive, atol=1e-5, rtol=0)
        # the gate product has a DeepLIFT rule (tangermeme's BilinearOp), so DeepLIFT-SHAP is complete
        attr, delta = deep_lift_shap(model, x, n_shuffles=4, return_delta=True)
    assert np.abs(delta).max() < 1e-4 * np.abs(attr.sum((1, 2))).max()


def test_integrated_gradients_completeness():
    torch.manual_seed(0)
    model = _randomise_bn(Branchy(40)).eval()
    x = random_onehot(6, 40, seed=2)
    for baseline in ("zeros", "uniform"):
        attr, delta = integrated_gradients(model, x, target=1, n_steps=48, baseline=baseline, return_delta=True)
        with torch.no_grad():
            xt = torch.as_tensor(x)
            gap = (model(xt)[:, 1] - model(torch.zeros_like(xt) + (0.25 if baseline == "uniform" else 0.0))[:, 1])
        assert np.abs(gap.numpy()).max() > 1e-3
        np.testing.assert_allclose(attr.sum((1, 2)), gap.numpy(), atol=1e-2 * np.abs(gap.numpy()).max())
        assert np.abs(delta).max() < 1e-2 * np.abs(gap.numpy()).max()


def test_integrated_gradients_are_the_gauss_legendre_quadrature():
    """captum's IntegratedGradients gives the numbers of the quadrature written out by hand (the implementation
    it replaced): gradients at the Gauss-Legendre nodes of the straight path, weighted, times (x - baseline)."""
    torch.manual_seed(0)
    model = _randomise_bn(Branchy(40)).eval()
    x = torch.as_tensor(random_onehot(4, 40, seed=2))
    base = torch.full_like(x, 0.25)
    nodes, weights = np.polynomial.legendre.leggauss(16)
    alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32)[None, :, None, None]
    path = (base[:, None] + alphas * (x - base)[:, None]).reshape(-1, 4, 40).requires_grad_(True)
    (g,) = torch.autograd.grad(model(path)[:, 2].sum(), path)
    g = (g.reshape(4, 16, 4, 40) * torch.tensor(weights / 2, dtype=torch.float32)[None, :, None, None]).sum(1)
    by_hand = (g * (x - base)).numpy()
    attr = integrated_gradients(model, x.numpy(), target=2, n_steps=16, baseline="uniform")
    np.testing.assert_allclose(attr, by_hand, atol=1e-6)


def test_attributions_independent_of_batch_composition():
    torch.manual_seed(0)
    model = _randomise_bn(build_model("cnn", seq_len=40, channels=(16, 16), pool_sizes=(2, 2), hidden=(16,)))
    x = random_onehot(5, 40, seed=3)
    others = random_onehot(7, 40, seed=4)
    mixed = np.concatenate([others[:3], x, others[3:]])
    for fn, kw in ((saliency, {}), (integrated_gradients, {"n_steps": 8}), (ism, {}),
                   (deep_lift_shap, {"n_shuffles": 4, "seed": 3})):
        one = np.concatenate([fn(model, x[i:i + 1], batch_size=1, **kw) for i in range(len(x))])
        big = fn(model, mixed, batch_size=64, **kw)[3:8]
        np.testing.assert_allclose(one, big, atol=1e-5, err_msg=fn.__name__)


def test_deeplift_shap_converges_and_hypothetical_projects():
    torch.manual_seed(0)
    model = _randomise_bn(build_model("cnn", seq_len=40, channels=(16, 16), pool_sizes=(2, 2), hidden=(16,)))
    model.eval()
    x = random_onehot(4, 40, seed=5)
    attr, delta = deep_lift_shap(model, x, n_shuffles=6, seed=0, return_delta=True)
    assert np.abs(attr).sum() > 0 and np.abs(delta).max() < 1e-3 * max(1.0, np.abs(attr).sum((1, 2)).max())
    hyp = hypothetical_contributions(model, x, method="deeplift_shap", n_shuffles=6, seed=0)
    np.testing.assert_allclose(hyp * x, attr, atol=1e-6)
    sal = hypothetical_contributions(model, x, method="saliency")
    np.testing.assert_allclose(sal.sum(1), 0, atol=1e-5)


def test_grad_cam_and_attention():
    torch.manual_seed(0)
    model = build_model("hybrid", seq_len=48, channels=(16, 16), n_layers=2, n_heads=2)
    x = random_onehot(3, 48, seed=6)
    assert conv_layers(model)
    cam = grad_cam(model, x, conv_layers(model)[0])
    assert cam.shape == (3, 48) and (cam >= 0).all()
    cam2 = grad_cam(model, x, model.gradcam_layer)
    assert cam2.shape == (3, 48)
    maps = attention_maps(model, x)
    assert len(maps) == 2
    for w in maps.values():
        assert w.shape[:2] == (3, 2)
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="no attention"):
        attention_maps(build_model("cnn", seq_len=48, channels=(8,), pool_sizes=(2,), hidden=(8,)), x)


def test_caller_model_state_restored():
    torch.manual_seed(0)
    model = build_model("cnn", seq_len=40, channels=(8, 8), pool_sizes=(2, 2), hidden=(8,))
    frozen = next(model.parameters())
    frozen.requires_grad_(False)  # the caller froze one tensor; the others train
    x = random_onehot(2, 40, seed=7)
    calls = [lambda m: ism(m, x), lambda m: saliency(m, x), lambda m: integrated_gradients(m, x, n_steps=4),
             lambda m: deep_lift_shap(m, x, n_shuffles=2), lambda m: grad_cam(m, x, conv_layers(m)[-1])]
    for mode in (True, False):
        for call in calls:
            model.train(mode)
            call(model)
            assert all(m.training == mode for m in model.modules())
            assert not frozen.requires_grad and all(p.requires_grad for p in list(model.parameters())[1:])
            assert next(model.parameters()).device.type == "cpu"
    out = saliency(model, x, device="cpu")
    assert out.shape == (2, 4, 40) and model.training is False


def test_deeplift_delta_reported_when_rules_missing(caplog):
    """Users get one plain log line with the largest delta, not a library warning about nn.Module activations."""
    torch.manual_seed(0)
    model = _randomise_bn(Branchy(40)).eval()  # functional relu/tanh/gelu: no DeepLIFT rule, gradients used
    x = random_onehot(3, 40, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning reaches the user
        with caplog.at_level(logging.WARNING, logger="seq2expr.interpret.gradients"):
            attr, delta = deep_lift_shap(model, x, target=0, n_shuffles=4, return_delta=True)
    assert delta.shape == (3,) and np.abs(delta).max() > 0
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert "approximate" in lines[0] and f"{np.abs(delta).max():.3g}" in lines[0]
    assert "nn.Module" not in lines[0] and ".py" not in lines[0]


class Pools(nn.Module):
    """Every path of the pair DeepLIFT rules: tiled pooling (and a ragged end), overlapping pooling, an odd window,
    smooth activations and a rule applied to the concatenated pair (GLU)."""

    def __init__(self, length: int = 41):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(4, 12, 5, padding=2), nn.BatchNorm1d(12), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(12, 16, 3, padding=1), nn.GLU(dim=1), nn.SiLU(), nn.MaxPool1d(3, 2),
            nn.Conv1d(8, 8, 3, padding=1), nn.GELU(), nn.MaxPool1d(3))
        self.head = nn.Linear(8 * 3, 2)

    def forward(self, x):
        return self.head(self.body(x).flatten(1))


PAIR_MODELS = {  # name: (maker, on the references' graph)
    "cnn": (lambda: build_model("cnn", seq_len=41, channels=(16, 16), pool_sizes=(2, 2), hidden=(16,)), True),
    "pools": (lambda: Pools(41), False),
    "legnet": (lambda: _loud(build_model("legnet", seq_len=41, block_sizes=(16, 8), final_ch=8)), False),  # SE gates
    "gated": (lambda: _sharp(Gated(41)), False),  # a gate that moves with the input: midpoint rule != gradient
}


def _sharp(model: Gated) -> Gated:
    for p in model.se.gate.parameters():
        p.data.mul_(6.0)
    return model


def _loud(model: nn.Module, factor: float = 300.0) -> nn.Module:
    """``model`` with its last layer's weights scaled up: an untrained LegNet's outputs barely move with the input."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv1d)][-1]
    with torch.no_grad():
        last.weight.mul_(factor)
    return model


@pytest.mark.parametrize("strands", ["average", "forward"])
@pytest.mark.parametrize("name", sorted(PAIR_MODELS))
def test_deep_lift_shap_equals_tangermeme_called_directly(name, strands):
    """Our pair paths (the references' graph for the cnn, the sequences' for Pools and LegNet, whose
    squeeze-and-excitation products take the midpoint rule) give tangermeme's ``deep_lift_shap`` attributions for
    the same references, on a strand-averaged and a single-strand readout."""
    from tangermeme.deep_lift_shap import deep_lift_shap as tangermeme_dls

    from seq2expr.inference import Readout
    from seq2expr.interpret.deeplift_pairs import refs_graph_exact
    from seq2expr.interpret.gradients import dinucleotide_shuffles

    make, on_refs = PAIR_MODELS[name]
    torch.manual_seed(0)
    model = _randomise_bn(make()).eval()
    assert refs_graph_exact(model) == on_refs
    x = torch.as_tensor(random_onehot(7, 41, seed=4))
    readout = Readout(targets=1 if isinstance(model, Pools) else 0, scale="model", strands=strands)
    refs = dinucleotide_shuffles(x, 5, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = tangermeme_dls(readout.resolve(model).module(model), x, references=refs,
                              hypothetical=True, batch_size=8, device="cpu", warning_threshold=float("inf")).numpy()
    assert np.abs(want).max() > 1e-3
    for batch_size in (5, 64):
        got = deep_lift_shap(model, x, readout=readout, n_shuffles=5, seed=2, hypothetical=True, batch_size=batch_size)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_dinucleotide_shuffles_are_one_call_per_sequence():
    """The batched shuffle draws what one tangermeme call per sequence with the same seed draws."""
    from tangermeme.ersatz import dinucleotide_shuffle

    from seq2expr.interpret.gradients import dinucleotide_shuffles

    x = torch.as_tensor(random_onehot(4, 30, seed=5))
    got = dinucleotide_shuffles(x, 3, seed=7)
    for i in range(len(x)):
        one = dinucleotide_shuffle(x[i:i + 1], n=3, random_state=7, allow_N=True)[0].float()
        torch.testing.assert_close(got[i], one)
