"""Integrated gradients from a zero baseline: the gradient averaged along the path."""

from __future__ import annotations

import numpy as np

from seq2expr.inference import Compute, Readout
from seq2expr.interpret.methods import ATTRIBUTIONS


@ATTRIBUTIONS.register("integrated_gradients")
def integrated_gradients(model, X, *, readout: Readout, compute: Compute, **_) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017, captum) from a zero baseline, 32 steps: the path-averaged
    gradient, so the observed base carries exactly its attribution
    (:func:`~seq2expr.interpret.gradients.integrated_gradients`, ``hypothetical=True``)."""
    from seq2expr.interpret.gradients import integrated_gradients as run

    return run(model, X, readout=readout, batch_size=compute.batch(128), device=compute.device, hypothetical=True)


integrated_gradients.forward_only = False
