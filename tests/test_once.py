"""Each job done by one function (issue 35, "each job once"): the helpers every caller shares, pinned here."""

from __future__ import annotations

import pytest

from seq2expr.config import unknown_key
from seq2expr.models import check_params
from seq2expr.suggest import closest, did_you_mean


def test_did_you_mean_names_the_closest_known_name_or_nothing():
    assert closest("epoch", ["epochs", "lr", "batch_size"]) == "epochs"
    assert closest("zzz", ["epochs", "lr"]) is None
    assert closest("x", []) is None
    assert did_you_mean("chanels", ["channels", "kernel"]) == "; did you mean 'channels'?"
    assert did_you_mean("qqqq", ["channels", "kernel"]) == ""
    assert did_you_mean("pth", iter(["path", "policy"])) == "; did you mean 'path'?"  # any iterable of names


def test_config_and_model_messages_use_the_one_hint():
    assert unknown_key("modle", ["data", "model"], "top-level key") == (
        "unknown top-level key 'modle'; did you mean 'model'? (known: data, model)")
    with pytest.raises(ValueError, match=r"not a parameter of model 'cnn'; did you mean 'channels'\? \(its parameters"):
        check_params("cnn", {"chanels": [8]})
