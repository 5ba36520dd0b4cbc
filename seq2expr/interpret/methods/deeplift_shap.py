"""DeepLIFT/SHAP: DeepLIFT multipliers against dinucleotide-shuffled references, projected on every base."""

from __future__ import annotations

import numpy as np

from seq2expr.interpret.methods import ATTRIBUTIONS


@ATTRIBUTIONS.register("deeplift_shap")
def deeplift_shap(model, X, *, readout, batch_size: int = 128, device=None, n_shuffles: int = 20, seed: int = 0,
                  **_) -> np.ndarray:
    """DeepLIFT/SHAP (Lundberg & Lee 2017) against ``n_shuffles`` dinucleotide shuffles of each sequence: the
    multipliers projected on every base (tangermeme's rules; :func:`~seq2expr.interpret.gradients.deep_lift_shap`)."""
    from seq2expr.interpret.gradients import deep_lift_shap

    return deep_lift_shap(model, X, readout=readout, n_shuffles=n_shuffles, seed=seed, batch_size=batch_size,
                          device=device, hypothetical=True)


deeplift_shap.forward_only = False
