"""In-silico mutagenesis: every single-base substitution scored, mean-centred over the four bases."""

from __future__ import annotations

import numpy as np

from seq2expr.interpret.methods import ATTRIBUTIONS


@ATTRIBUTIONS.register("ism")
def ism(model, X, *, readout, device=None, precision: str | None = None, engine: str = "torch",
        **_) -> np.ndarray:
    """In-silico mutagenesis: the readout of every single-base substitution minus the sequence's, mean-centred
    over the four bases at each position (:func:`~seq2expr.interpret.ism.ism`); forward passes only."""
    from seq2expr.interpret.ism import ism as run_ism

    return run_ism(model, X, readout=readout, center=True, device=device, precision=precision, engine=engine)


ism.forward_only = True
