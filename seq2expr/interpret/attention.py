"""Attention maps of models with self-attention (the ``hybrid`` CNN + transformer).

Every ``nn.MultiheadAttention`` is asked for its per-head weights during one forward pass (a pre-hook
sets ``need_weights=True, average_attn_weights=False``); models with their own attention layers can
instead expose ``last_attention`` tensors on their modules, which are collected too.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seq2expr.inference import SavedModel, as_module, as_onehot, model_state, resolve_device
from seq2expr.inference.inputs import Inputs
from seq2expr.interpret._utils import batches


def attention_maps(model: nn.Module | SavedModel, X: Inputs, *, batch_size: int = 64,
                   device: str | torch.device | None = None) -> dict[str, np.ndarray]:
    """``{layer name: (N, heads, Lq, Lk)}`` attention weights for each attention layer of ``model``.

    Raises ValueError when the model has no attention layer.
    """
    x = as_onehot(X, model)
    model = as_module(model)
    dev = resolve_device(device, model)
    mha = {name: m for name, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)}
    custom = {} if mha else {name: m for name, m in model.named_modules() if hasattr(m, "last_attention")}
    if not mha and not custom:
        raise ValueError(f"{type(model).__name__} has no attention layer (nn.MultiheadAttention or last_attention)")
    collected: dict[str, list[np.ndarray]] = {k: [] for k in (*mha, *custom)}
    handles = []

    def pre(_m, args, kwargs):
        kwargs = dict(kwargs)
        kwargs["need_weights"] = True
        kwargs["average_attn_weights"] = False
        return args, kwargs

    def make_post(name):
        def post(_m, _args, output):
            w = output[1]
            if w is not None:
                collected[name].append(w.detach().float().cpu().numpy())
        return post

    for name, m in mha.items():
        handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(m.register_forward_hook(make_post(name)))
    try:
        with model_state(model, dev), torch.no_grad():
            for sl in batches(len(x), batch_size):
                model(x[sl].to(dev))
                for name, m in custom.items():
                    w = m.last_attention
                    for j, t in enumerate(w if isinstance(w, (list, tuple)) else [w]):
                        if t is not None:
                            collected.setdefault(f"{name}.{j}" if isinstance(w, (list, tuple)) else name,
                                                 []).append(torch.as_tensor(t).detach().float().cpu().numpy())
    finally:
        for h in handles:
            h.remove()
    out = {}
    for name, parts in collected.items():
        if parts:
            arr = np.concatenate(parts)
            out[name] = arr[:, None] if arr.ndim == 3 else arr
    return out
