"""Grad-CAM: how much of the readout's evidence sits at each position, by the last convolution's activations."""

from __future__ import annotations

import numpy as np

from seq2expr.data.errors import DataError
from seq2expr.inference import Compute, Readout
from seq2expr.interpret.methods import ATTRIBUTIONS


@ATTRIBUTIONS.register("grad_cam")
def grad_cam(model, X, *, readout: Readout, compute: Compute, **_) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of the model's last ``Conv1d`` layer (:func:`~seq2expr.interpret.gradcam.
    grad_cam`, ReLU'd, upsampled to the input). It scores positions, not bases: each position's score is the
    hypothetical contribution of all four bases, so the observed base carries it and the others are no
    alternative (use ISM or DeepLIFT-SHAP for what another base would do)."""
    from seq2expr.interpret.gradcam import conv_layers
    from seq2expr.interpret.gradcam import grad_cam as run_grad_cam

    layers = conv_layers(model)
    if not layers:
        raise DataError("grad_cam needs a Conv1d layer, and the model has none: choose another attribution method")
    cam = run_grad_cam(model, X, layers[-1], readout=readout, batch_size=compute.batch(128), device=compute.device)
    return np.repeat(cam[:, None, :], 4, axis=1)


grad_cam.forward_only = False
