"""Grad-CAM (Selvaraju et al. 2017) for 1-D convolutional layers: which positions a layer's evidence sits at."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seq2expr.inference import SavedModel, as_module, as_onehot, model_state, resolve_device
from seq2expr.inference.inputs import Inputs
from seq2expr.interpret._utils import batches, select_target


def conv_layers(model: nn.Module | SavedModel) -> list[str]:
    """Names of the model's Conv1d layers, in registration order (candidates for Grad-CAM)."""
    return [name for name, m in as_module(model).named_modules() if isinstance(m, nn.Conv1d)]


def grad_cam(model: nn.Module | SavedModel, X: Inputs, layer: str | nn.Module, *, target: int = 0,
             batch_size: int = 128, relu: bool = True, device: str | torch.device | None = None) -> np.ndarray:
    """``(N, L)`` Grad-CAM map of ``layer`` (a module or its dotted name), linearly upsampled to the input.

    Channel weights are the layer's output gradients averaged over length; the map is the weighted sum
    of its activations (ReLU'd unless ``relu=False``). The layer must output ``(B, C, L')``.
    """
    mod = as_module(model).get_submodule(layer) if isinstance(layer, str) else layer
    x = as_onehot(X, model)
    L = x.shape[-1]
    model = as_module(model)
    dev = resolve_device(device, model)
    out = np.empty((len(x), L), dtype=np.float32)
    store: dict[str, torch.Tensor] = {}

    def hook(_m, _inp, output):
        store["a"] = output

    handle = mod.register_forward_hook(hook)
    try:
        with model_state(model, dev):
            for sl in batches(len(x), batch_size):
                xb = x[sl].to(dev).requires_grad_(True)
                y = select_target(model(xb), target).sum()
                a = store.pop("a")
                if a.ndim != 3:
                    raise ValueError(f"Grad-CAM layer output has shape {tuple(a.shape)}; expected (B, C, L)")
                (g,) = torch.autograd.grad(y, a)
                cam = (g.mean(-1, keepdim=True) * a).sum(1, keepdim=True)
                if relu:
                    cam = cam.clamp_min(0)
                cam = F.interpolate(cam, size=L, mode="linear", align_corners=False)[:, 0]
                out[sl] = cam.detach().cpu().numpy()
    finally:
        handle.remove()
    return out
