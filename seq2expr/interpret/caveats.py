"""What an interpretation report must say before its motif calls are read as biology.

* the model's held-out accuracy (its own test metrics, else its card's), with a caution when it is weak: the
  attributions of a model that predicts poorly explain its mistakes as much as the biology;
* TFs matched by patterns of opposite sign (one raises the prediction, one lowers it): the match names what the
  sequence resembles, not what the model learned it to do, and a TF is rarely both;
* low-complexity patterns (:func:`seq2expr.interpret.motifs.low_complexity`) are flagged where they are listed.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

WEAK_R = 0.5  # held-out Pearson r below this: the report cautions that the model predicts poorly
WEAK_AUROC = 0.7


def held_out_accuracy(cfg) -> dict[str, Any] | None:
    """The model's held-out accuracy: ``{"metric", "value", "n", "data", "source"}`` from its saved test metrics
    (else validation), else its model card's first held-out metric; None when it has none.

    A card's ``pearson_r2`` is given as r (its square root) so that one threshold applies."""
    for split in ("test", "valid"):
        m = (cfg.metrics or {}).get(split) or {}
        for key in ("pearson_r", "auroc"):
            v = m.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                return {"metric": key, "value": float(v), "n": m.get("n"), "data": f"{split} split",
                        "source": "this model's own evaluation"}
    card = getattr(cfg, "card", None)
    for held in card.metrics if card is not None else []:
        m = held.metrics
        for key, value in (("pearson_r", m.get("pearson_r")), ("pearson_r", _sqrt(m.get("pearson_r2"))),
                           ("auroc", m.get("auroc"))):
            if value is not None:
                return {"metric": key, "value": float(value), "n": held.n, "data": held.data,
                        "source": f"model card ({held.source})"}
    return None


def _sqrt(v) -> float | None:
    return math.sqrt(v) if isinstance(v, (int, float)) and v >= 0 else None


def accuracy_text(acc: dict[str, Any] | None) -> tuple[str, str | None]:
    """``(line, caution)``: the accuracy as one sentence, and a caution when it is weak (else None)."""
    if acc is None:
        return ("Held-out accuracy: not recorded with this model; judge its motifs only after evaluating it "
                "(seq2expr evaluate).", None)
    n = f", n={acc['n']:,}" if isinstance(acc.get("n"), int) else ""
    line = f"Held-out accuracy: {acc['metric']} {acc['value']:.3f} on {acc['data']}{n} ({acc['source']})."
    weak = WEAK_R if acc["metric"] == "pearson_r" else WEAK_AUROC
    if acc["value"] >= weak:
        return line, None
    return line, (f"The model predicts held-out data poorly ({acc['metric']} {acc['value']:.2f} < {weak}): its "
                  "attributions and motifs describe what this model uses, which may be little of the biology.")


def opposite_sign_tfs(best: pd.DataFrame, signs: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """TFs that are the best match of both a raising (``pos``) and a lowering (``neg``) pattern:
    ``{tf: {"pos": [patterns], "neg": [patterns]}}``. ``best``: one significant best match per pattern."""
    out: dict[str, dict[str, list[str]]] = {}
    if best is None or best.empty:
        return out
    for tf, group in best.groupby("tf", sort=True):
        by = {s: sorted(p for p in group["pattern"] if signs.get(p) == s) for s in ("pos", "neg")}
        if by["pos"] and by["neg"]:
            out[str(tf)] = by
    return out
