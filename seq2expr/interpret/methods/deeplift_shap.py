"""DeepLIFT/SHAP: DeepLIFT multipliers against dinucleotide-shuffled references, projected on every base."""

from __future__ import annotations

import numpy as np

from seq2expr.inference import Compute, Readout
from seq2expr.interpret.methods import ATTRIBUTIONS


@ATTRIBUTIONS.register("deeplift_shap")
def deeplift_shap(model, X, *, readout: Readout, compute: Compute, n_shuffles: int = 20,
                  seed: int = 0) -> np.ndarray:
    """DeepLIFT/SHAP (Lundberg & Lee 2017) against ``n_shuffles`` dinucleotide shuffles of each sequence: the
    multipliers projected on every base (tangermeme's rules; :func:`~seq2expr.interpret.gradients.deep_lift_shap`)."""
    from seq2expr.interpret.gradients import deep_lift_shap

    return deep_lift_shap(model, X, readout=readout, n_shuffles=n_shuffles, seed=seed,
                          batch_size=compute.batch(128), device=compute.device, hypothetical=True)


deeplift_shap.forward_only = False
