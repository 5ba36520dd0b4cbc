"""Gradient-based attributions: saliency (gradient x input), integrated gradients (captum), DeepLIFT-SHAP.

All functions take one-hot ``X`` ``(N, 4, L)`` and return numpy ``(N, 4, L)``; every example is
computed independently of the others in its batch (no batch statistics: the model runs in eval mode),
so results do not depend on ``batch_size`` or on which sequences are attributed together.
What is explained is a :class:`~seq2expr.inference.Readout` with one output, differentiated through exactly
as :func:`~seq2expr.inference.predict` computes it (a saved model's strands averaged as trained); without one,
``target`` on the model scale (the logit, for classification models).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from seq2expr.inference import Readout, SavedModel, as_module, as_onehot, model_state, resolve_device
from seq2expr.inference.inputs import Inputs
from seq2expr.interpret._utils import batches, readout_for, single
from seq2expr.interpret.deeplift_pairs import pair_deep_lift_shap

log = logging.getLogger(__name__)


def gradients(model: nn.Module | SavedModel, X: Inputs, *, target: int | str = 0, readout: Readout | None = None,
              batch_size: int = 128, device: str | torch.device | None = None) -> np.ndarray:
    """d readout / d input, ``(N, 4, L)``."""
    x = as_onehot(X, model)
    bound = readout_for(model, target, readout)
    model = as_module(model)
    dev = resolve_device(device, model)
    out = np.empty(x.shape, dtype=np.float32)
    with model_state(model, dev):
        for sl in batches(len(x), batch_size, "saliency"):
            xb = x[sl].to(dev).requires_grad_(True)
            y = single(bound.forward(model, xb)).sum()
            (g,) = torch.autograd.grad(y, xb)
            out[sl] = g.detach().cpu().numpy()
    return out


def saliency(model: nn.Module | SavedModel, X: Inputs, *, target: int | str = 0, readout: Readout | None = None,
             batch_size: int = 128, device: str | torch.device | None = None) -> np.ndarray:
    """Gradient x input: the gradient at the observed base, 0 elsewhere."""
    g = gradients(model, X, target=target, readout=readout, batch_size=batch_size, device=device)
    return g * as_onehot(X, model).numpy()


def _baseline(x: torch.Tensor, baseline: str | np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(baseline, str):
        if baseline == "zeros":
            return torch.zeros_like(x)
        if baseline == "uniform":
            return torch.full_like(x, 0.25)
        raise ValueError(f"unknown baseline {baseline!r}; use 'zeros', 'uniform' or an array")
    b = torch.as_tensor(baseline, dtype=torch.float32)
    return b.expand_as(x).clone() if b.ndim == 2 or b.shape[0] == 1 else b


def integrated_gradients(model: nn.Module | SavedModel, X: Inputs, *, target: int | str = 0,
                         readout: Readout | None = None, n_steps: int = 32,
                         baseline: str | np.ndarray | torch.Tensor = "zeros", batch_size: int = 128,
                         device: str | torch.device | None = None, hypothetical: bool = False,
                         return_delta: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Integrated gradients (Sundararajan et al. 2017) of the readout: captum's ``IntegratedGradients`` with
    Gauss-Legendre quadrature along the path, ``batch_size // n_steps`` sequences at a time.

    Completeness: ``attr.sum((1, 2)) ≈ f(x) - f(baseline)``; with ``return_delta`` the per-example gap
    is returned too. ``baseline`` is 'zeros', 'uniform' (0.25) or an array broadcastable to ``X``.
    ``hypothetical=True``: with ``G`` the gradient averaged along the path from the baseline to ``x``, base ``b``
    at position ``i`` gets ``G[b, i] - sum_c G[c, i] * baseline[c, i]``: the position's whole attribution had ``b``
    been the observed base (along ``x``'s own path). Times the one-hot input it is the position's integrated
    gradients summed over the 4 channels (with a zero baseline, the attribution itself); no delta then.
    """
    from captum.attr import IntegratedGradients

    x = as_onehot(X, model)
    base = _baseline(x, baseline)
    bound = readout_for(model, target, readout)
    model = as_module(model)
    dev = resolve_device(device, model)
    out = np.empty(x.shape, dtype=np.float32)
    delta = np.empty(len(x), dtype=np.float32)
    if hypothetical and return_delta:
        raise ValueError("return_delta needs the attributions themselves (hypothetical=False)")
    with model_state(model, dev):
        ig = IntegratedGradients(lambda inp: single(bound.forward(model, inp)), multiply_by_inputs=not hypothetical)
        for sl in batches(len(x), max(1, batch_size // n_steps), "integrated gradients"):
            b = base[sl].to(dev)
            if hypothetical:  # G, the path-averaged gradient, then each base's attribution against the baseline
                g = ig.attribute(x[sl].to(dev), baselines=b, n_steps=n_steps, method="gausslegendre").detach()
                out[sl] = (g - (g * b).sum(1, keepdim=True)).cpu().numpy()
                continue
            attr, gap = ig.attribute(x[sl].to(dev), baselines=b, n_steps=n_steps,
                                     method="gausslegendre", return_convergence_delta=True)
            out[sl] = attr.detach().cpu().numpy()
            delta[sl] = gap.detach().cpu().numpy()
    return (out, delta) if return_delta else out


def dinucleotide_shuffles(X: np.ndarray | torch.Tensor, n_shuffles: int = 20, seed: int = 0) -> torch.Tensor:
    """``(N, n_shuffles, 4, L)`` dinucleotide-shuffled copies. Each sequence is shuffled on its own with
    ``seed``, so its references do not depend on the other sequences in the call."""
    from tangermeme.ersatz import dinucleotide_shuffle

    x = as_onehot(X)
    if len(x) == 0:
        return torch.empty((0, n_shuffles, *x.shape[1:]), dtype=torch.float32)
    # one call, each sequence seeded with ``seed``: the shuffles one call per sequence gives, 4x faster
    return dinucleotide_shuffle(x, n=n_shuffles, random_state=[seed] * len(x), allow_N=True).float()


def deep_lift_shap(model: nn.Module | SavedModel, X: Inputs, *, target: int | str = 0,
                   readout: Readout | None = None, n_shuffles: int = 20, seed: int = 0, batch_size: int = 128,
                   device: str | torch.device | None = None, hypothetical: bool = False, return_delta: bool = False,
                   warn_delta: float = 0.01) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """DeepLIFT with SHAP averaging over dinucleotide-shuffled references (tangermeme's rules).

    ``hypothetical=True`` gives the contribution each of the 4 bases would have at every position (the
    input TF-MoDISco needs); otherwise it is projected onto the observed base. The convergence delta is
    ``sum(attr) - (f(x) - mean f(ref))`` per example; a warning is raised when it exceeds ``warn_delta``
    times the mean |f(x) - f(ref)| (layers whose DeepLIFT rule is unknown, e.g. functional calls inside
    custom modules, fall back to gradients and show up here). That is logged once per call, as one plain line
    with the largest delta. The passes run on seq2expr's pair path (:mod:`seq2expr.interpret.deeplift_pairs`).
    """
    x = as_onehot(X, model)
    refs = dinucleotide_shuffles(x, n_shuffles, seed)
    bound = readout_for(model, target, readout)
    model = as_module(model)
    dev = resolve_device(device, model)
    with model_state(model, dev):
        hyp, f_x, f_r = pair_deep_lift_shap(lambda inp: single(bound.forward(model, inp)), model, x, refs,
                                            batch_size, dev, linear_readout=_linear_head(bound))
    attr = hyp * x
    delta = (attr.sum((1, 2)) - (f_x - f_r.mean(1))).numpy()
    scale = float((f_x[:, None] - f_r).abs().mean()) + 1e-12
    _report_delta(delta, scale, warn_delta)
    out = (hyp if hypothetical else attr).numpy()
    return (out, delta) if return_delta else out


def _linear_head(bound) -> bool:
    """Whether the readout adds nothing nonlinear to the network (no sigmoid, no inverse target transform)."""
    cfg = bound.config
    return bound.readout.scale == "model" or (cfg is not None and cfg.task != "classification"
                                              and cfg.target_transform is None)


def _report_delta(delta: np.ndarray, scale: float, warn_delta: float) -> None:
    """One plain log line when DeepLIFT's sums miss the predictions (users cannot change the model's layers)."""
    if float(np.abs(delta).mean()) > warn_delta * scale:
        log.warning("attributions are approximate for this model: the DeepLIFT/SHAP contributions of a sequence "
                    "differ from its prediction change by up to %.3g (typical change %.3g)", float(np.abs(delta).max()),
                    scale)
        log.debug("DeepLIFT-SHAP convergence: mean |delta| %.3g; layers without a DeepLIFT rule (functional "
                  "activations) fall back to gradients", float(np.abs(delta).mean()))
