"""The fast path of ISM (the fastISM idea, Nair et al. 2022): a ``torch.fx`` trace of the model whose local layers
(convolutions, BatchNorm in eval, pooling, elementwise activations and arithmetic, channel concatenation) are
evaluated only on the window a block of single-base edits can change; the first non-local node gets the reference
activation with that window written in. :func:`seq2expr.interpret.ism.ism` uses it and checks it against the plain
path."""

from __future__ import annotations

import inspect
import math
import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

# modules acting on each length position independently (given eval mode)
_POINTWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh,
                      nn.Softplus, nn.Mish, nn.Identity, nn.Dropout, nn.Hardswish, nn.Hardtanh, nn.SELU,
                      nn.CELU, nn.PReLU)
_POINTWISE_FUNCS = {F.relu, torch.relu, F.gelu, F.silu, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, F.elu,
                    F.leaky_relu, F.softplus, F.mish, F.dropout, torch.exp, torch.abs, operator.neg, F.hardtanh,
                    torch.nn.functional.relu6, F.selu}
_POINTWISE_METHODS = {"relu", "sigmoid", "tanh", "exp", "abs", "contiguous", "float", "clone", "neg"}
_BINARY_FUNCS = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul,
                 torch.div}
_BINARY_METHODS = {"add", "sub", "mul", "div"}


@dataclass
class _Local:
    """An activation of a mutant batch that differs from the reference only on ``[lo, hi)``.

    ``ref`` is the reference activation ``(n, C, L)``; each reference row stands for ``rep`` consecutive
    rows of the batch; ``vals`` ``(n * rep, C, hi - lo)`` holds the batch's values on the window.
    """

    ref: torch.Tensor
    lo: int
    hi: int
    vals: torch.Tensor
    rep: int

    def region(self, u: int, v: int, *, pad: tuple[int, int] = (0, 0), value: float = 0.0) -> torch.Tensor:
        """Batch values on ``[u, v)`` of the (optionally padded) activation; ``u, v`` in padded coordinates."""
        L = self.ref.shape[-1]
        a0, b0 = max(0, u - pad[0]), min(L, v - pad[0])  # the slice of the unpadded reference needed
        part = self.ref[:, :, a0:max(a0, b0)]
        left = min(v - u, max(0, pad[0] - u))  # padding columns inside [u, v)
        right = (v - u) - left - part.shape[-1]
        if left or right:
            part = F.pad(part, (left, right), value=value)
        out = part.repeat_interleave(self.rep, 0)
        lo, hi = self.lo + pad[0], self.hi + pad[0]
        a, b = max(lo, u), min(hi, v)
        if a < b:
            out[:, :, a - u:b - u] = self.vals[:, :, a - lo:b - lo]
        return out

    def full(self) -> torch.Tensor:
        return self.region(0, self.ref.shape[-1])


def _window_params(mod: nn.Module) -> tuple[int, int, int, tuple[int, int], float, object] | None:
    """(kernel, stride, dilation, (pad_left, pad_right), pad_value, op) for a local windowed module."""
    def one(v):
        return v[0] if isinstance(v, tuple) else v

    if isinstance(mod, nn.Conv1d):
        if mod.padding_mode != "zeros":
            return None
        k, s, d = mod.kernel_size[0], mod.stride[0], mod.dilation[0]
        if mod.padding == "same":
            total = d * (k - 1)
            pad = (total // 2, total - total // 2)
        elif mod.padding == "valid":
            pad = (0, 0)
        else:
            pad = (mod.padding[0], mod.padding[0])

        def op(x, m=mod):
            return F.conv1d(x, m.weight, m.bias, m.stride, 0, m.dilation, m.groups)

        return k, s, d, pad, 0.0, op
    if isinstance(mod, nn.ConstantPad1d):
        pad = tuple(mod.padding) if isinstance(mod.padding, tuple) else (mod.padding, mod.padding)
        if min(pad) < 0:
            return None

        def op(x):
            return x

        return 1, 1, 1, pad, float(mod.value), op
    if isinstance(mod, nn.MaxPool1d):
        if mod.ceil_mode or mod.return_indices:
            return None
        k, s, d, p = one(mod.kernel_size), one(mod.stride), one(mod.dilation), one(mod.padding)

        def op(x, k=k, s=s, d=d):
            return F.max_pool1d(x, k, s, 0, d)

        return k, s, d, (p, p), -math.inf, op
    if isinstance(mod, nn.AvgPool1d):
        k, s, p = one(mod.kernel_size), one(mod.stride), one(mod.padding)
        if mod.ceil_mode or (p and not mod.count_include_pad):
            return None

        def op(x, k=k, s=s):
            return F.avg_pool1d(x, k, s, 0)

        return k, s, 1, (p, p), 0.0, op
    return None


def _is_pointwise_module(mod: nn.Module) -> bool:
    if isinstance(mod, _POINTWISE_MODULES):
        return True
    if isinstance(mod, nn.BatchNorm1d):
        return mod.track_running_stats and mod.running_mean is not None and not mod.training
    return False


def _broadcast_ok(v) -> bool:
    """A constant operand that broadcasts over the length axis (so it commutes with windowing)."""
    return not isinstance(v, torch.Tensor) or v.ndim == 0 or v.shape[-1] == 1


class _Tracer(fx.Tracer):
    """``torch.fx`` tracer that keeps every Conv1d (subclasses such as ``GroupedConv1d`` too) as one module."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, nn.Conv1d) or super().is_leaf_module(m, module_qualified_name)


class FastISM:
    """Traced model plus the locality rules above."""

    def __init__(self, model: nn.Module):
        # optional forward arguments (e.g. return_attention=False) are frozen at their defaults
        params = list(inspect.signature(model.forward).parameters.values())[1:]
        concrete = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
        self.gm = fx.GraphModule(model, _Tracer().trace(model, concrete_args=concrete or None))
        self.nodes = list(self.gm.graph.nodes)
        self.input = next(n for n in self.nodes if n.op == "placeholder")
        self.dependent: set[fx.Node] = set()
        for n in self.nodes:
            if n is self.input or any(a in self.dependent for a in n.all_input_nodes):
                self.dependent.add(n)
        self.modules = dict(self.gm.named_modules())
        # liveness: each value is dropped after its last use (mutant batches of wide layers are large)
        last_use: dict[fx.Node, int] = {}
        for i, n in enumerate(self.nodes):
            for m in n.all_input_nodes:
                last_use[m] = i
        self.free_after: dict[int, list[fx.Node]] = {}
        for m, i in last_use.items():
            self.free_after.setdefault(i, []).append(m)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """Store every node's value on the reference batch; return the model output."""
        values: dict[fx.Node, object] = {}
        self.ref_values = values

        class _Rec(fx.Interpreter):
            def run_node(self, n):
                r = super().run_node(n)
                values[n] = r
                return r

        return _Rec(self.gm).run(x)

    def run(self, lo: int, hi: int, vals: torch.Tensor, rep: int) -> torch.Tensor:
        """Output of the mutant batch whose input differs from the reference only on ``[lo, hi)``.

        Uses the reference values stored by the last :meth:`reference` call.
        """
        ref_values = self.ref_values
        env: dict[fx.Node, object] = {}
        full_cache: dict[int, torch.Tensor] = {}

        def full(v):
            if isinstance(v, _Local):
                if id(v) not in full_cache:
                    full_cache[id(v)] = v.full()
                return full_cache[id(v)]
            return v

        for i, n in enumerate(self.nodes):
            for m in self.free_after.get(i - 1, ()):
                v = env.pop(m, None)
                full_cache.pop(id(v), None)
            if n not in self.dependent:
                env[n] = ref_values[n]
                continue
            if n is self.input:
                env[n] = _Local(ref_values[n], lo, hi, vals, rep)
                continue
            args = fx.node.map_arg(n.args, lambda a: env[a])
            kwargs = fx.node.map_arg(n.kwargs, lambda a: env[a])
            if n.op == "output":
                return full(args[0])
            # a windowed update is exact only if every input that varies between mutants is windowed too
            # (e.g. not x * gate where the gate came from a global mean, as in squeeze-excitation)
            windowed = all(isinstance(env[m], _Local) for m in n.all_input_nodes if m in self.dependent)
            out = self._local(n, args, kwargs) if windowed else None
            if out is None:
                args = fx.node.map_aggregate(args, full)
                kwargs = fx.node.map_aggregate(kwargs, full)
                if n.op == "call_module":
                    out = self.modules[n.target](*args, **kwargs)
                elif n.op == "call_function":
                    out = n.target(*args, **kwargs)
                elif n.op == "call_method":
                    out = getattr(args[0], n.target)(*args[1:], **kwargs)
                else:  # pragma: no cover - get_attr never depends on the input
                    raise RuntimeError(f"unexpected node {n.op}")
            env[n] = out
        raise RuntimeError("traced graph has no output")  # pragma: no cover

    def _local(self, n: fx.Node, args: tuple, kwargs: dict) -> _Local | None:
        """The node's value as a windowed update when its rule allows, else None (compute in full)."""
        first = args[0] if args else None
        if n.op == "call_module" and isinstance(first, _Local) and len(args) == 1 and not kwargs:
            mod = self.modules[n.target]
            if _is_pointwise_module(mod):
                return self._mk(n, first.lo, first.hi, mod(first.vals), first.rep)
            win = _window_params(mod)
            if win is not None and first.ref.ndim == 3:
                k, s, d, pad, pv, op = win
                L_out = (first.ref.shape[-1] + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1
                j_lo = max(0, -(-(first.lo + pad[0] - d * (k - 1)) // s))
                j_hi = min(L_out, (first.hi - 1 + pad[0]) // s + 1)
                if j_lo >= j_hi:
                    return self._mk(n, 0, 0, None, first.rep)
                region = first.region(j_lo * s, (j_hi - 1) * s + d * (k - 1) + 1, pad=pad, value=pv)
                return self._mk(n, j_lo, j_hi, op(region), first.rep)
            return None
        is_fn = n.op == "call_function"
        if (is_fn and n.target in _POINTWISE_FUNCS) or (n.op == "call_method" and n.target in _POINTWISE_METHODS):
            if isinstance(first, _Local) and not any(isinstance(a, _Local) for a in args[1:]) \
                    and all(_broadcast_ok(a) for a in (*args[1:], *kwargs.values())):
                fn = n.target if is_fn else (lambda x, *a, **k: getattr(x, n.target)(*a, **k))
                return self._mk(n, first.lo, first.hi, fn(first.vals, *args[1:], **kwargs), first.rep)
            return None
        if ((is_fn and n.target in _BINARY_FUNCS) or (n.op == "call_method" and n.target in _BINARY_METHODS)) \
                and len(args) == 2 and not kwargs:
            a, b = args
            locs = [v for v in (a, b) if isinstance(v, _Local)]
            if not locs or any(not isinstance(v, _Local) and not _broadcast_ok(v) for v in (a, b)):
                return None
            if len(locs) == 2 and (a.rep != b.rep or a.ref.shape[-1] != b.ref.shape[-1]):
                return None
            spans = [(v.lo, v.hi) for v in locs if v.hi > v.lo]
            if not spans:
                return self._mk(n, 0, 0, None, locs[0].rep)
            lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
            va = a.region(lo, hi) if isinstance(a, _Local) else a
            vb = b.region(lo, hi) if isinstance(b, _Local) else b
            fn = n.target if is_fn else (lambda x, y: getattr(x, n.target)(y))
            return self._mk(n, lo, hi, fn(va, vb), locs[0].rep)
        if is_fn and n.target is torch.cat and isinstance(first, (list, tuple)) \
                and all(isinstance(v, _Local) for v in first) and len(args) <= 2:
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            if dim not in (1, -2) or len({v.ref.shape[-1] for v in first}) != 1 or len({v.rep for v in first}) != 1:
                return None
            spans = [(v.lo, v.hi) for v in first if v.hi > v.lo]
            if not spans:
                return self._mk(n, 0, 0, None, first[0].rep)
            lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
            return self._mk(n, lo, hi, torch.cat([v.region(lo, hi) for v in first], 1), first[0].rep)
        return None

    def _mk(self, n: fx.Node, lo: int, hi: int, vals: torch.Tensor | None, rep: int) -> _Local | None:
        """A windowed value for node ``n``; None (compute in full) unless its reference is ``(n, C, L)``."""
        ref = self.ref_values[n]
        if not isinstance(ref, torch.Tensor) or ref.ndim != 3:
            return None
        if vals is None:
            vals = ref[:, :, :0].repeat_interleave(rep, 0)
        return _Local(ref, lo, hi, vals, rep)
