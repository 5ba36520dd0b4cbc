"""Grad-CAM (Selvaraju et al. 2017) for 1-D convolutional layers: which positions a layer's evidence sits at."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seq2expr.inference import Readout, SavedModel, as_module, as_onehot, model_state, resolve_device
from seq2expr.inference.inputs import Inputs
from seq2expr.interpret._utils import batches, readout_for, single


def conv_layers(model: nn.Module | SavedModel) -> list[str]:
    """Names of the model's Conv1d layers, in registration order (candidates for Grad-CAM)."""
    return [name for name, m in as_module(model).named_modules() if isinstance(m, nn.Conv1d)]


def grad_cam(model: nn.Module | SavedModel, X: Inputs, layer: str | nn.Module, *, target: int | str = 0,
             readout: Readout | None = None, batch_size: int = 128, relu: bool = True,
             device: str | torch.device | None = None) -> np.ndarray:
    """``(N, L)`` Grad-CAM map of ``layer`` (a module or its dotted name) for the readout, linearly upsampled to the
    input.

    Channel weights are the layer's output gradients averaged over length; the map is the weighted sum
    of its activations (ReLU'd unless ``relu=False``). The layer must output ``(B, C, L')``. With strands
    averaged, the layer runs on both strands: the reverse strand's map is flipped back and the two are summed
    (each already carries its half of the averaged output's gradient).
    """
    mod = as_module(model).get_submodule(layer) if isinstance(layer, str) else layer
    x = as_onehot(X, model)
    L = x.shape[-1]
    bound = readout_for(model, target, readout)
    model = as_module(model)
    dev = resolve_device(device, model)
    out = np.empty((len(x), L), dtype=np.float32)
    store: list[torch.Tensor] = []
    handle = mod.register_forward_hook(lambda _m, _inp, output: store.append(output))
    try:
        with model_state(model, dev):
            for sl in batches(len(x), batch_size):
                xb = x[sl].to(dev).requires_grad_(True)
                y = single(bound.forward(model, xb)).sum()
                acts = store[:]
                store.clear()
                if any(a.ndim != 3 for a in acts):
                    raise ValueError(f"Grad-CAM layer output has shape {tuple(acts[0].shape)}; expected (B, C, L)")
                grads = torch.autograd.grad(y, acts)
                cams = [(g.mean(-1, keepdim=True) * a).sum(1, keepdim=True) for a, g in zip(acts, grads, strict=True)]
                cam = cams[0] + (cams[1].flip(-1) if len(cams) > 1 else 0)
                if relu:
                    cam = cam.clamp_min(0)
                cam = F.interpolate(cam, size=L, mode="linear", align_corners=False)[:, 0]
                out[sl] = cam.detach().cpu().numpy()
    finally:
        handle.remove()
    return out
