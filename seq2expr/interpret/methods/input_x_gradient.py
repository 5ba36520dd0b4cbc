"""Gradient x input: the readout's gradient itself as each base's contribution (Shrikumar et al. 2016)."""

from __future__ import annotations

import numpy as np

from seq2expr.inference import Compute, Readout
from seq2expr.interpret.methods import ATTRIBUTIONS


@ATTRIBUTIONS.register("input_x_gradient")
def input_x_gradient(model, X, *, readout: Readout, compute: Compute, **_) -> np.ndarray:
    """Gradient x input (Shrikumar et al. 2016; captum's ``InputXGradient``): the hypothetical contributions are the
    gradient, uncentred, so the observed base carries exactly gradient x input (``W * x`` for a linear model)
    (:func:`~seq2expr.interpret.gradients.gradients`)."""
    from seq2expr.interpret.gradients import gradients

    return gradients(model, X, readout=readout, batch_size=compute.batch(128), device=compute.device)


input_x_gradient.forward_only = False
