"""Saliency: the readout's gradient, centred over the four bases."""

from __future__ import annotations

import numpy as np

from seq2expr.inference import Compute, Readout
from seq2expr.interpret.methods import ATTRIBUTIONS


@ATTRIBUTIONS.register("saliency")
def saliency(model, X, *, readout: Readout, compute: Compute, **_) -> np.ndarray:
    """Saliency (Simonyan et al. 2014): the gradient minus its mean over the four bases, so the observed base
    carries gradient x input up to a per-position constant (:func:`~seq2expr.interpret.gradients.gradients`)."""
    from seq2expr.interpret.gradients import gradients

    g = gradients(model, X, readout=readout, batch_size=compute.batch(128), device=compute.device)
    return g - g.mean(1, keepdims=True)


saliency.forward_only = False
