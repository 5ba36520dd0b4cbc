"""Model zoo: shapes, sizes, save/load round trip, attention maps, and real learning of a planted motif."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toys import pearson, planted_motif_data, train_plain

from seq2expr.inference import load_model, save_model
from seq2expr.models import build_model, get_model_class, head_names, list_models
from seq2expr.models.layers import n_params

# the convolutional architectures trained from scratch on every length; each registered one is also checked below
ZOO = ["cnn", "rescnn", "legnet", "hybrid", "dual"]
ARCHITECTURES = list_models()
# each architecture's own small configuration (its ``example``): enough to find one 7-mer in seconds on one thread
TINY = {name: get_model_class(name).example["params"] for name in ARCHITECTURES if get_model_class(name).example}


def test_registry_lists_the_zoo():
    assert set(ZOO) <= set(ARCHITECTURES) and "deepstarr" in ARCHITECTURES


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_keeps_the_contract(name):
    """Every registered architecture: documented, a declared output head, and its ``example`` builds and maps
    ``(B, 4, L)`` to ``(B, n_targets)``, each row independent of the others in eval mode (published genome-scale
    models declare no example: they are imported, never built small)."""
    cls = get_model_class(name)
    assert (cls.__doc__ or "").strip() and hasattr(cls, "example"), name
    if cls.example is None:
        pytest.skip(f"{name}: no small example (a published genome-scale model)")
    ex = cls.example
    torch.manual_seed(0)
    model = build_model(name, seq_len=ex["seq_len"], n_targets=ex["n_targets"], **ex["params"]).eval()
    assert head_names(model)
    x = torch.rand(4, 4, ex["seq_len"])
    with torch.no_grad():
        out = model(x)
        assert out.shape == (4, ex["n_targets"]) and torch.isfinite(out).all()
        torch.testing.assert_close(model(x[1:2]), out[1:2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("seq_len", [110, 200, 1000])
@pytest.mark.parametrize("n_targets", [1, 3])
def test_output_shape_and_gradcam_layer(name, seq_len, n_targets):
    torch.manual_seed(0)
    model = build_model(name, seq_len=seq_len, n_targets=n_targets).eval()
    seen = {}

    def hook(module, inputs, output):
        seen["shape"] = output.shape

    handle = model.gradcam_layer.register_forward_hook(hook)
    with torch.no_grad():
        out = model(torch.rand(2, 4, seq_len))
    handle.remove()
    assert out.shape == (2, n_targets)
    assert torch.isfinite(out).all()
    assert len(seen["shape"]) == 3 and seen["shape"][0] == 2  # (B, C, L') feature map
    assert n_params(model) > 0


def test_parameter_counts():
    mini = n_params(build_model("rescnn", seq_len=110, size="mini"))
    full = n_params(build_model("rescnn", seq_len=110, size="full"))
    assert 1.1e6 < mini < 1.6e6  # Camformer-mini: ~1.4M in the paper
    assert 15e6 < full < 18e6  # Camformer (DREAM): ~16.6M
    assert 3e5 <= n_params(build_model("legnet", seq_len=110)) <= 1e6
    # the global-pooled models do not grow with length; flatten heads do
    assert n_params(build_model("legnet", seq_len=1000)) == n_params(build_model("legnet", seq_len=110))
    assert n_params(build_model("cnn", seq_len=1000)) > n_params(build_model("cnn", seq_len=110))


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="too short"):
        build_model("cnn", seq_len=12)
    with pytest.raises(ValueError, match="branch_lengths"):
        build_model("dual", seq_len=100, branch_lengths=[50, 40])
    with pytest.raises(ValueError, match="pairs"):
        build_model("rescnn", seq_len=110, size="full", channels=[64, 32, 64, 64, 64, 64])
    with pytest.raises(ValueError, match="kernel_sizes"):
        build_model("cnn", seq_len=110, kernel_sizes=[5, 5])
    with pytest.raises(ValueError, match="size"):
        build_model("rescnn", seq_len=110, size="huge")


def test_dual_branches_see_their_segment_only():
    torch.manual_seed(0)
    model = build_model("dual", seq_len=120, branch_lengths=[50, 50], spacer=20, **TINY["dual"]).eval()
    x = torch.rand(3, 4, 120)
    y = x.clone()
    y[..., 50:70] = torch.rand(3, 4, 20)  # the spacer is ignored
    z = x.clone()
    z[..., 70:] = torch.rand(3, 4, 50)  # the second segment matters
    with torch.no_grad():
        assert torch.equal(model(x), model(y))
        assert not torch.allclose(model(x), model(z))


def test_hybrid_attention_maps():
    torch.manual_seed(0)
    model = build_model("hybrid", seq_len=200, n_targets=2, n_layers=2, n_heads=4).eval()
    x = torch.rand(5, 4, 200)
    with torch.no_grad():
        plain = model(x)
        out, maps = model(x, return_attention=True)
    n_tokens = 200 // 2 // 4
    assert torch.allclose(out, plain, atol=1e-6)
    assert len(maps) == 2
    for m in maps:
        assert m.shape == (5, 4, n_tokens, n_tokens)
        assert torch.allclose(m.sum(-1), torch.ones(5, 4, n_tokens), atol=1e-5)
        assert (m >= 0).all()
    model.store_attention = True
    with torch.no_grad():
        stored = model(x)
    assert torch.allclose(stored, plain, atol=1e-6)
    assert [m.shape for m in model.last_attention] == [m.shape for m in maps]


@pytest.mark.parametrize("name,params", [
    ("cnn", {}), ("rescnn", {"size": "mini"}), ("legnet", {}), ("hybrid", {"positional": "sinusoidal"}),
    ("hybrid", {}), ("dual", {"spacer": 10}),
])
def test_save_load_round_trip(tmp_path, name, params):
    torch.manual_seed(1)
    model = build_model(name, seq_len=110, n_targets=3, **params)
    model.train()
    with torch.no_grad():  # move BatchNorm running statistics away from their defaults
        model(torch.rand(16, 4, 110))
    model.eval()
    x = torch.rand(4, 4, 110)
    with torch.no_grad():
        expected = model(x)
    cfg = {"model": {"name": name, "params": params, "seq_len": 110, "n_targets": 3}}
    save_model(tmp_path / "m", model, cfg)
    loaded = load_model(tmp_path / "m")
    assert type(loaded.model) is type(model)
    assert not loaded.model.training
    with torch.no_grad():
        assert torch.equal(loaded.model(x), expected)


# ---------------------------------------------------------------- learning a planted motif

@pytest.fixture(scope="module")
def motif_data():
    x, y = planted_motif_data()
    return (x[:1600], y[:1600]), (x[1600:], y[1600:])


def train_and_score(name: str, train, valid, epochs: int = 6, shuffle_labels: bool = False) -> float:
    """Train the architecture's example size with the plain loop; return the validation Pearson r."""
    x, y = train
    if shuffle_labels:
        torch.manual_seed(0)
        y = y[torch.randperm(len(y))]
    torch.manual_seed(0)
    model = train_plain(build_model(name, seq_len=x.shape[-1], **TINY[name]), x, y, epochs=epochs)
    return pearson(model, *valid)


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_learns_planted_motif(name, motif_data):
    r = train_and_score(name, *motif_data)
    assert r > 0.8, f"{name}: validation r={r:.3f}"


@pytest.mark.slow
def test_shuffled_labels_control(motif_data):
    r = train_and_score("cnn", *motif_data, shuffle_labels=True)
    assert abs(r) < 0.2, f"shuffled-label cnn should not predict: r={r:.3f}"


@pytest.mark.parametrize("name", ["cnn", "legnet", "rescnn"])
def test_fold_batchnorm_same_function_no_batchnorm(name):
    """Folding eval batch norm into the convolutions keeps the outputs and leaves the caller's model alone."""
    from seq2expr.inference import fold_batchnorm

    torch.manual_seed(0)
    model = build_model(name, seq_len=64, n_targets=2)
    for m in model.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    model.train()
    folded = fold_batchnorm(model)
    assert model.training and not folded.training
    n_bn = sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    assert n_bn > 0 and not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded.modules())
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (5, 64)), 4).permute(0, 2, 1).float()
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), model.eval()(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [{"padding": "same"}, {"padding": 3, "bias": False}, {"padding": "valid"},
                                {"padding": "same", "dilation": 2}, {"padding": 2, "stride": 2}])
def test_grouped_conv_matches_conv1d(kw):
    """The channels-last path of GroupedConv1d computes nn.Conv1d's function and gradients on the same weights."""
    from seq2expr.models.layers import ConvBlock, GroupedConv1d

    torch.manual_seed(0)
    ref = torch.nn.Conv1d(16, 24, 7, groups=8, **kw)
    fast = GroupedConv1d(16, 24, 7, groups=8, **kw)
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(5, 16, 40, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    out_ref, out = ref(x), fast(x2)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(out)
    out_ref.backward(g)
    out.backward(g)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)
    assert isinstance(ConvBlock(16, 16, 7, groups=4).conv, GroupedConv1d)
    assert type(ConvBlock(16, 16, 7).conv) is torch.nn.Conv1d
