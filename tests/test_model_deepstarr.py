"""Architecture ``deepstarr``: the published sizes, parameter for parameter, and real learning of a planted motif."""

from __future__ import annotations

import pytest
import torch
from toys import pearson, planted_motif_data, train_plain

from seq2expr.models import build_model, get_model_class
from seq2expr.models.layers import n_params


def test_published_size_counted_layer_by_layer():
    """249 nt, two outputs (developmental, housekeeping): convolutions 256/60/60/120 of widths 7/3/5/3 (no bias,
    BatchNorm after each), pooling by 2 four times (249 -> 15), dense 256 -> 256 with BatchNorm, a 2-unit head."""
    model = build_model("deepstarr", seq_len=249, n_targets=2)
    conv = sum(cin * cout * k + 2 * cout for cin, cout, k in [(4, 256, 7), (256, 60, 3), (60, 60, 5), (60, 120, 3)])
    dense = (120 * 15 * 256 + 256 + 2 * 256) + (256 * 256 + 256 + 2 * 256) + (256 * 2 + 2)
    assert n_params(model) == conv + dense == 622_226
    with torch.no_grad():
        assert model.eval()(torch.rand(3, 4, 249)).shape == (3, 2)
    assert model.gradcam_layer is model.convs[-1].act


@pytest.mark.slow
def test_learns_a_planted_motif():
    """The small example configuration finds a 7-mer planted at random places (held-out r), and a shuffled-label
    control does not."""
    x, y = planted_motif_data()
    params = get_model_class("deepstarr").example["params"]
    torch.manual_seed(0)
    model = train_plain(build_model("deepstarr", seq_len=100, **params), x[:1600], y[:1600], epochs=15, lr=2e-3)
    assert pearson(model, x[1600:], y[1600:]) > 0.75
    torch.manual_seed(0)
    shuffled = y[:1600][torch.randperm(1600)]
    control = train_plain(build_model("deepstarr", seq_len=100, **params), x[:1600], shuffled, epochs=15, lr=2e-3)
    assert abs(pearson(control, x[1600:], y[1600:])) < 0.2
