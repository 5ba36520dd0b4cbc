"""The one entry point to every attribution method: :func:`attribute` runs a registered method
(:mod:`seq2expr.interpret.methods`) and projects its hypothetical contributions on the observed bases."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seq2expr.inference import Readout, SavedModel, as_onehot
from seq2expr.inference.inputs import Inputs
from seq2expr.interpret.methods import ATTRIBUTIONS


def hypothetical_contributions(model: nn.Module | SavedModel, X: Inputs, *, method: str = "deeplift_shap",
                               target: int | str = 0, readout: Readout | None = None, batch_size: int = 128,
                               device: str | torch.device | None = None, n_shuffles: int = 20, seed: int = 0,
                               precision: str | None = None, engine: str = "torch") -> np.ndarray:
    """Scores for all 4 bases at every position ``(N, 4, L)``, the form TF-MoDISco expects, by ``method``: a
    registered attribution method (:mod:`seq2expr.interpret.methods`: deeplift_shap, integrated_gradients, ism,
    saliency, and any a plug-in adds). ``engine`` other than torch runs forward passes only, so it serves only the
    methods that need no gradient (ISM)."""
    fn = ATTRIBUTIONS.get(method)
    if engine != "torch" and not getattr(fn, "forward_only", False):
        raise ValueError(f"engine {engine!r} runs forward passes only (ISM); {method} needs gradients: engine torch")
    readout = readout if readout is not None else Readout(targets=target, scale="model")
    return fn(model, X, readout=readout, batch_size=batch_size, device=device, n_shuffles=n_shuffles, seed=seed,
              precision=precision, engine=engine)


def attribute(model: nn.Module | SavedModel, X: Inputs, *, method: str = "deeplift_shap", target: int | str = 0,
              readout: Readout | None = None, batch_size: int = 128, device: str | torch.device | None = None,
              n_shuffles: int = 20, seed: int = 0, precision: str | None = None,
              engine: str = "torch") -> tuple[np.ndarray, np.ndarray]:
    """(attributions projected on the observed bases, hypothetical contributions), both ``(N, 4, L)``.
    ``precision`` and ``engine`` (torch | onnxruntime) apply to ISM (see :func:`seq2expr.interpret.ism.ism`);
    gradient methods run in float32 through torch."""
    x = as_onehot(X, model).numpy()
    hyp = hypothetical_contributions(model, X, method=method, target=target, readout=readout, batch_size=batch_size,
                                     device=device, n_shuffles=n_shuffles, seed=seed, precision=precision,
                                     engine=engine)
    return hyp * x, hyp
