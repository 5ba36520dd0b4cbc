"""The one entry point to every attribution method: :func:`attribute` runs a registered method
(:mod:`seq2expr.interpret.methods`) and projects its hypothetical contributions on the observed bases."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seq2expr.inference import Compute, Readout, SavedModel, as_onehot, compute_of
from seq2expr.inference.inputs import Inputs
from seq2expr.interpret.methods import ATTRIBUTIONS


def hypothetical_contributions(model: nn.Module | SavedModel, X: Inputs, *, method: str = "deeplift_shap",
                               target: int | str = 0, readout: Readout | None = None, batch_size: int | None = None,
                               device: str | torch.device | None = None, n_shuffles: int = 20, seed: int = 0,
                               precision: str | None = None, engine: str | None = None,
                               compute: Compute | None = None) -> np.ndarray:
    """Scores for all 4 bases at every position ``(N, 4, L)``, the form TF-MoDISco expects, by ``method``: a
    registered attribution method (:mod:`seq2expr.interpret.methods`: deeplift_shap, integrated_gradients, ism,
    saliency, and any a plug-in adds). ``engine`` other than torch runs forward passes only, so it serves only the
    methods that need no gradient (ISM). ``compute`` (:class:`~seq2expr.inference.Compute`) carries device,
    precision, batch size and engine at once; the keywords are its spellings."""
    fn = ATTRIBUTIONS.get(method)
    ctx = compute_of(compute, batch_size=batch_size, device=device, precision=precision, engine=engine)
    if ctx.engine != "torch" and not getattr(fn, "forward_only", False):
        raise ValueError(f"engine {ctx.engine!r} runs forward passes only (ISM); {method} needs gradients: engine "
                         "torch")
    readout = readout if readout is not None else Readout(targets=target, scale="model")
    return fn(model, X, readout=readout, compute=ctx.resolve(model), n_shuffles=n_shuffles, seed=seed)


def attribute(model: nn.Module | SavedModel, X: Inputs, *, method: str = "deeplift_shap", target: int | str = 0,
              readout: Readout | None = None, batch_size: int | None = None,
              device: str | torch.device | None = None, n_shuffles: int = 20, seed: int = 0,
              precision: str | None = None, engine: str | None = None,
              compute: Compute | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(attributions projected on the observed bases, hypothetical contributions), both ``(N, 4, L)``.
    ``precision`` and ``engine`` (torch | onnxruntime) apply to ISM (see :func:`seq2expr.interpret.ism.ism`);
    gradient methods run in float32 through torch."""
    x = as_onehot(X, model).numpy()
    hyp = hypothetical_contributions(model, X, method=method, target=target, readout=readout, batch_size=batch_size,
                                     device=device, n_shuffles=n_shuffles, seed=seed, precision=precision,
                                     engine=engine, compute=compute)
    return hyp * x, hyp
