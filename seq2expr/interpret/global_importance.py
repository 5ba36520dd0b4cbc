"""Global importance analysis (Koo et al. 2021): what a motif does on average, in any sequence context.

A motif is written into many background sequences (dinucleotide shuffles of real inputs, or random
sequences with the inputs' base composition) and the mean change of the prediction is measured.
Pairs of motifs at varying spacing and orientation expose grammar: cooperativity (the pair exceeds
the sum of its parts) or dominance, e.g. an activator switched off by a nearby repressor.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from seq2expr.data.sequences import reverse_complement_onehot
from seq2expr.inference import Compute, Readout, SavedModel, as_onehot, compute_of, predict
from seq2expr.interpret._utils import single
from seq2expr.progress import track


def backgrounds(X: np.ndarray | torch.Tensor, n: int = 200, *, kind: str = "shuffle", seed: int = 0) -> np.ndarray:
    """``(n, 4, L)`` background sequences: dinucleotide shuffles of inputs, or i.i.d. with their composition."""
    x = as_onehot(X)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(x), n)
    if kind == "shuffle":
        from seq2expr.interpret.gradients import dinucleotide_shuffles

        return dinucleotide_shuffles(x[pick], 1, seed)[:, 0].numpy()
    if kind == "random":
        freq = x.sum((0, 2)).numpy().astype(np.float64)
        idx = rng.choice(4, size=(n, x.shape[-1]), p=freq / freq.sum())
        return np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy()
    raise ValueError(f"background kind must be 'shuffle' or 'random', not {kind!r}")


def motif_instances(pwm: np.ndarray, n: int, *, sample: bool = False, seed: int = 0) -> np.ndarray:
    """``(n, 4, w)`` one-hot motif instances: the consensus repeated, or draws from the PWM."""
    p = np.asarray(pwm, dtype=np.float64)
    p = p / p.sum(0, keepdims=True)
    if sample:
        rng = np.random.default_rng(seed)
        cum = p.cumsum(0)
        idx = (rng.random((n, 1, p.shape[1])) > cum[None]).sum(1).clip(0, 3)
    else:
        idx = np.broadcast_to(p.argmax(0), (n, p.shape[1]))
    return np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy()


def insert(bg: np.ndarray, inst: np.ndarray, position: int, *, reverse: bool = False) -> np.ndarray:
    """Copy of ``bg`` with ``inst`` (``(n, 4, w)`` or ``(4, w)``) written at ``position``."""
    out = bg.copy()
    inst = np.broadcast_to(inst, (len(bg), *np.shape(inst)[-2:]))
    w = inst.shape[-1]
    if not 0 <= position <= bg.shape[-1] - w:
        raise ValueError(f"a {w}-bp motif does not fit at position {position} of a {bg.shape[-1]}-bp sequence")
    out[:, :, position:position + w] = reverse_complement_onehot(inst) if reverse else inst
    return out


def _readout(target: int | str, readout: Readout | None) -> Readout:
    """The caller's readout, else ``target`` on the model scale (strands averaged as a saved model was trained)."""
    return readout if readout is not None else Readout(targets=target, scale="model")


def _context(model, compute: Compute | None, **given) -> Compute:
    """The call's compute context, resolved once (256 sequences per pass unless it says otherwise)."""
    ctx = compute_of(compute, **given).resolve(model)
    return replace(ctx, batch_size=ctx.batch(256))


def _score(model, x: np.ndarray, readout: Readout, ctx: Compute) -> np.ndarray:
    """The readout's one output for each sequence, through :func:`~seq2expr.inference.predict`."""
    return single(predict(model, x, readout=readout, compute=ctx))


def motif_effect(model: nn.Module | SavedModel, motifs: dict[str, np.ndarray], bg: np.ndarray, *, positions=None,
                 target: int | str = 0, readout: Readout | None = None, sample: bool = False,
                 both_strands: bool = True, seed: int = 0, batch_size: int | None = None, device=None,
                 precision: str | None = None, compute: Compute | None = None) -> pd.DataFrame:
    """Mean predicted change of the readout (default: ``target`` on the model scale) when each motif is inserted
    at each position (tidy table); ``compute`` (or its keyword spellings) says where the passes run.

    Columns: motif, position, strand, effect (mean change), sd, n.
    """
    ro = _readout(target, readout)
    ctx = _context(model, compute, batch_size=batch_size, device=device, precision=precision)
    base = _score(model, bg, ro, ctx)
    rows = []
    for name, pwm in track(motifs.items(), description="motif effects"):
        inst = motif_instances(pwm, len(bg), sample=sample, seed=seed)
        w = inst.shape[-1]
        pos_list = positions if positions is not None else [(bg.shape[-1] - w) // 2]
        for pos in pos_list:
            if pos + w > bg.shape[-1]:
                continue
            for strand in (["+", "-"] if both_strands else ["+"]):
                y = _score(model, insert(bg, inst, pos, reverse=strand == "-"), ro, ctx)
                d = y - base
                rows.append({"motif": name, "position": int(pos), "strand": strand, "effect": float(d.mean()),
                             "sd": float(d.std()), "n": len(d)})
    return pd.DataFrame(rows, columns=["motif", "position", "strand", "effect", "sd", "n"])


def pair_effect(model: nn.Module | SavedModel, motif_a: np.ndarray, motif_b: np.ndarray, bg: np.ndarray, *,
                spacings=None, position_a: int | None = None, orientations=("++", "+-"), target: int | str = 0,
                readout: Readout | None = None, names: tuple[str, str] = ("A", "B"), batch_size: int | None = None,
                device=None, precision: str | None = None, compute: Compute | None = None) -> pd.DataFrame:
    """Effects on the readout (default: ``target`` on the model scale) of A alone, B alone and A+B at each spacing
    (B placed after A) and orientation; ``compute`` (or its keyword spellings) says where the passes run.

    Columns: motif_a, motif_b, spacing (gap in bp between A's end and B's start), orientation,
    effect_a, effect_b, effect_ab, interaction (effect_ab - effect_a - effect_b).
    """
    L = bg.shape[-1]
    ia, ib = motif_instances(motif_a, len(bg)), motif_instances(motif_b, len(bg))
    wa, wb = ia.shape[-1], ib.shape[-1]
    pa = position_a if position_a is not None else max(0, (L - wa - wb) // 4)
    ro = _readout(target, readout)
    ctx = _context(model, compute, batch_size=batch_size, device=device, precision=precision)
    base = _score(model, bg, ro, ctx)
    xa = insert(bg, ia, pa)
    eff_a = float((_score(model, xa, ro, ctx) - base).mean())
    if spacings is None:
        spacings = range(0, L - pa - wa - wb + 1, 2)
    rows = []
    for gap in track(spacings, description="motif pair spacings"):
        pb = pa + wa + int(gap)
        if pb + wb > L:
            continue
        for ori in orientations:
            rev = ori[1] == "-"
            xb = insert(bg, ib, pb, reverse=rev)
            eff_b = float((_score(model, xb, ro, ctx) - base).mean())
            xab = insert(xa, ib, pb, reverse=rev)
            eff_ab = float((_score(model, xab, ro, ctx) - base).mean())
            rows.append({"motif_a": names[0], "motif_b": names[1], "spacing": int(gap), "orientation": ori,
                         "effect_a": eff_a, "effect_b": eff_b, "effect_ab": eff_ab,
                         "interaction": eff_ab - eff_a - eff_b})
    return pd.DataFrame(rows, columns=["motif_a", "motif_b", "spacing", "orientation", "effect_a", "effect_b",
                                       "effect_ab", "interaction"])
