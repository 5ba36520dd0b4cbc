"""The scale of each column of a variant table, and the fold change where a linear scale is known.

``log2fc_T`` is log2(alt / ref) of values on a linear scale, never of logs: for a target on a log scale its name
states (``log_tpm`` = log1p(TPM), ``log2_tpm``, ``log10_tpm``: :func:`seq2expr.data.targets.named_log`) the
predictions are taken back to TPM first; for a model trained on the log of its target (``data.target.transform``)
the predictions on the original scale are that linear target. Elsewhere (a standardised or bin scale, logits,
a readout on the model's scale or a difference of targets) no linear scale is known and the column is left out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from seq2expr.data.targets import named_log, unlog
from seq2expr.inference import BoundReadout, scale_label

Linear = Callable[[np.ndarray], np.ndarray]


def linear_scales(bound: BoundReadout) -> dict[str, tuple[Linear, str]]:
    """For each readout output with a known linear scale: the map onto it and that scale in words."""
    cfg, readout = bound.config, bound.readout
    if cfg is None or cfg.task != "regression" or readout.scale != "original" or readout.transform is not None:
        return {}
    fitted = cfg.target_transform.kind if cfg.target_transform is not None else "none"
    out: dict[str, tuple[Linear, str]] = {}
    for name in bound.names():
        kind = named_log(name)
        if kind is not None:
            inverse = {"log1p": "expm1", "log2p1": "2^x - 1", "log10p1": "10^x - 1"}[kind]
            out[name] = (lambda y, k=kind: unlog(k, y), f"TPM = {inverse}({name})")
        elif fitted != "none":
            out[name] = (lambda y: np.asarray(y, np.float64), f"{name} (the model was fitted on its {fitted})")
    return out


def fold_changes(bound: BoundReadout, ref: np.ndarray, alt: np.ndarray) -> dict[str, np.ndarray]:
    """``log2fc_T`` = log2(alt / ref) on the linear scale, NaN where either value is not positive there."""
    cols = {}
    names = bound.names()
    for name, (linear, _) in linear_scales(bound).items():
        t = names.index(name)
        a, r = linear(alt[:, t]), linear(ref[:, t])
        ok = (a > 0) & (r > 0)
        col = np.full(len(r), np.nan)
        col[ok] = np.log2(a[ok] / r[ok])
        cols[f"log2fc_{name}"] = col
    return cols


def column_scales(bound: BoundReadout, percentiles: bool) -> dict[str, str]:
    """What each value column of a variant table holds, on which scale (``summary.json`` ``columns``)."""
    cfg = bound.config
    scale = scale_label(cfg, bound.readout.scale) if cfg is not None else \
        "the model's own (transformed) scale" if bound.readout.scale == "model" else "the prediction's scale"
    linear = linear_scales(bound)
    out = {}
    for name in bound.names():
        out[f"ref_{name}"] = out[f"alt_{name}"] = f"prediction, {scale}"
        out[f"effect_{name}"] = f"alt - ref, {scale}"
        if name in linear:
            out[f"log2fc_{name}"] = f"log2(alt / ref) on the linear scale: {linear[name][1]}"
        if percentiles:
            out[f"percentile_{name}"] = "% of random SNVs' |effect| not larger"
    return out
