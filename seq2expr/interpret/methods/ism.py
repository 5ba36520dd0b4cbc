"""In-silico mutagenesis: every single-base substitution scored, mean-centred over the four bases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from seq2expr.inference import Compute, Readout
from seq2expr.interpret.methods import ATTRIBUTIONS


@ATTRIBUTIONS.register("ism")
def ism(model, X, *, readout: Readout, compute: Compute, **_) -> np.ndarray:
    """In-silico mutagenesis: the readout of every single-base substitution minus the sequence's, mean-centred
    over the four bases at each position (:func:`~seq2expr.interpret.ism.ism`); forward passes only."""
    from seq2expr.interpret.ism import ism as run_ism

    # its batches are of mutants, not of sequences: ISM's own default size
    return run_ism(model, X, readout=readout, center=True, compute=replace(compute, batch_size=None))


ism.forward_only = True
