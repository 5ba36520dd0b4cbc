"""In-silico saturation mutagenesis (ISM), exact and fast.

Each of the 3 alternative bases at each position is scored as ``pred(mutant) - pred(reference)``, where ``pred``
is a :class:`~seq2expr.inference.Readout` computed as :func:`~seq2expr.inference.predict` computes it (strands
averaged as the saved model was trained: the fast path traces the reverse strand too).
Speed comes from the fastISM idea (Nair et al., Bioinformatics 2022): a single-base edit changes only
the positions of each convolution / pooling / elementwise layer that lie within its receptive field.
The model is traced with ``torch.fx``; the reference activations of every layer are computed once per
sequence, and for a block of mutated positions each *local* layer (Conv1d, BatchNorm1d in eval,
MaxPool1d, AvgPool1d, elementwise activations and arithmetic, channel concatenation) is evaluated only
on the window that the edits can change. The first non-local operation (flatten + linear, global
pooling, attention...) receives the reference activation with the changed window written in, and the
rest of the network runs as usual. This is exact: the same arithmetic on the same numbers, so results
equal a naive one-mutant-at-a-time loop up to float rounding. Models that cannot be traced fall back to
plain batched ISM (all mutants of a block in one forward pass); the fast path is also checked against
the plain one on its first batch and abandoned with a warning on any disagreement, or silently when it saves
too few FLOPs there (counted, not timed: :data:`FAST_ISM_FLOPS`; a model whose early layers already mix the whole
sequence, e.g. through squeeze-excitation gates, leaves nothing to reuse). Values are freed after their last use
in the graph.
"""

from __future__ import annotations

import inspect
import math
import operator
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from seq2expr.data.sequences import reverse_complement_onehot
from seq2expr.inference import (
    Readout,
    SavedModel,
    as_module,
    as_onehot,
    autocast,
    engine_setup,
    fold_batchnorm,
    forward_in_parts,
    model_state,
    onnxruntime_forward,
    rc_forward,
    resolve_device,
    resolve_precision,
)
from seq2expr.inference.inputs import Inputs
from seq2expr.interpret._utils import readout_for, single
from seq2expr.models.registry import input_segments
from seq2expr.progress import track

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


class _FastISM:
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



def _mutant_block(x: torch.Tensor, lo: int, hi: int) -> tuple[torch.Tensor, np.ndarray]:
    """Window ``[lo, hi)`` of every 3-alternative mutant: ``(n * G * 3, 4, G)`` and alt bases ``(n, G, 3)``."""
    n, _, _ = x.shape
    G = hi - lo
    win = x[:, :, lo:hi]
    ref_base = win.argmax(1)  # (n, G); N columns count as A
    alts = (ref_base[:, :, None] + torch.arange(1, 4)[None, None, :]) % 4  # (n, G, 3)
    vals = win[:, None, None].expand(n, G, 3, 4, G).clone()  # (n, G, 3, 4, G)
    gi = torch.arange(G)
    vals[:, gi, :, :, gi] = 0.0
    vals[:, gi, :, :, gi] = F.one_hot(alts, 4).to(x.dtype).permute(1, 0, 2, 3)
    return vals.reshape(n * G * 3, 4, G), alts.numpy()


class _Strands:
    """Fast ISM of the output :func:`~seq2expr.inference.rc_forward` gives: with strand averaging a second trace
    runs the reverse complement, whose mutant window is the forward one mirrored: ``rc(x)[..., L-hi:L-lo]`` is
    ``flip(x[..., lo:hi])`` over bases and positions, so both strands keep the fast path."""

    def __init__(self, model: nn.Module, rc_average: bool):
        self.fwd = _FastISM(model)
        self.rc = _FastISM(model) if rc_average else None
        self.length = 0

    def reference(self, xs: torch.Tensor) -> torch.Tensor:
        self.length = xs.shape[-1]
        out = self.fwd.reference(xs)
        return out if self.rc is None else (out + self.rc.reference(reverse_complement_onehot(xs))) / 2

    def run(self, lo: int, hi: int, vals: torch.Tensor, rep: int) -> torch.Tensor:
        out = self.fwd.run(lo, hi, vals, rep)
        if self.rc is None:
            return out
        return (out + self.rc.run(self.length - hi, self.length - lo, vals.flip(-2, -1), rep)) / 2


@torch.inference_mode()
def ism(model: nn.Module | SavedModel, X: Inputs, *, target: int | str = 0, readout: Readout | None = None,
        start: int | None = None, end: int | None = None, center: bool = False, batch_size: int = 2048,
        positions_per_batch: int = 8, fast: bool = True, device: str | torch.device | None = None,
        precision: str | None = None, engine: str = "torch") -> np.ndarray:
    """Saturation mutagenesis scores ``(N, 4, L)``: ``readout(mutant) - readout(ref)`` at (alt base, position).

    ``readout`` (:class:`~seq2expr.inference.Readout`, one output) is what is scored, computed exactly as
    :func:`~seq2expr.inference.predict` computes it (strands averaged as the saved model was trained, by default),
    so a score is the difference of two predictions; without one, ``target`` (a name or index) on the model
    scale. The reference base scores 0; positions outside ``[start, end)`` score 0. ``center=True`` subtracts
    each position's mean over the 4 bases (the form used as hypothetical contributions). ``batch_size``
    is the number of mutant sequences per block (on a CPU, forward passes take
    :func:`~seq2expr.inference.cpu_forward_rows` of them); ``positions_per_batch`` positions are mutated per
    block (fewer means smaller windows for the fast path). ``precision``: ``"32"`` is exact float32 (equal to one
    forward pass per mutant to ~1e-6); ``"bf16"`` runs the passes in bfloat16 autocast, ~2x faster on CPUs with
    AVX512-BF16/AMX and GPUs, with effects rounded to ~3 significant digits; ``"auto"`` (the default) is bf16 where
    the device runs it natively, else 32 (:mod:`seq2expr.inference.device`). ``engine="onnxruntime"`` runs the
    batched mutants through ONNX Runtime (CPU, float32; :mod:`seq2expr.inference.engine`), the plain path.
    """
    x = as_onehot(X, model)
    N, _, L = x.shape
    start = 0 if start is None else int(start)
    end = L if end is None else int(end)
    if not 0 <= start < end <= L:
        raise ValueError(f"ISM window [{start}, {end}) outside a {L}-bp sequence")
    bound = readout_for(model, target, readout)
    model = as_module(model)
    engine, device, precision = engine_setup(engine, device, precision)
    dev = resolve_device(device, model)
    exact = resolve_precision(precision, dev) == "32"
    G = max(1, min(positions_per_batch, end - start))
    n_seq = max(1, batch_size // (3 * G))
    scores = np.zeros((N, 4, L), dtype=np.float32)

    def value(raw: torch.Tensor) -> np.ndarray:
        return single(bound.values(raw.float().cpu().numpy()))

    with model_state(model, dev), autocast(precision, dev):
        run = onnxruntime_forward(model, bound.rc_average, L) if engine == "onnxruntime" else None
        model = fold_batchnorm(model)  # an eval copy: one pass fewer per layer for each of the 3L mutants

        def plain(batch: torch.Tensor) -> torch.Tensor:
            if run is not None:
                return run(batch)
            return forward_in_parts(lambda part: rc_forward(model, part, bound.rc_average), batch, model=model)

        fism = _fast(model, bound.rc_average) if fast and run is None else None
        checked = False
        for s0 in track(range(0, N, n_seq), description="ISM"):
            xs = x[s0:s0 + n_seq].to(dev)
            n = len(xs)
            y_ref = value(fism.reference(xs) if fism is not None else plain(xs))
            for lo in range(start, end, G):
                hi = min(end, lo + G)
                vals, alts = _mutant_block(xs.cpu(), lo, hi)
                vals = vals.to(dev)
                y = None
                if fism is not None:
                    y = value(fism.run(lo, hi, vals, 3 * (hi - lo)))
                    if not checked:
                        y_plain = value(plain(_splice(xs, lo, hi, vals)))
                        tol = (1e-4 if exact else 5e-2) * max(1.0, float(np.abs(y_plain).max()))
                        if float(np.abs(y - y_plain).max()) > tol:
                            warnings.warn("fast ISM disagreed with the plain forward pass; using plain ISM",
                                          stacklevel=2)
                            fism, y = None, y_plain
                        elif _flops(fism.run, lo, hi, vals, 3 * (hi - lo)) > \
                                FAST_ISM_FLOPS * _flops(plain, _splice(xs, lo, hi, vals)):
                            fism = None  # little to reuse on this model (e.g. global gates early on): plain is faster
                        checked = True
                if y is None:
                    y = value(plain(_splice(xs, lo, hi, vals)))
                delta = y.reshape(n, hi - lo, 3) - y_ref[:, None, None]
                ii = np.arange(n)[:, None, None]
                pp = (lo + np.arange(hi - lo))[None, :, None]
                scores[s0 + ii, alts, pp] = delta
    if center:
        scores[:, :, start:end] -= scores[:, :, start:end].mean(1, keepdims=True)
    return scores


def _fast(model: nn.Module, rc_average: bool) -> _Strands | None:
    """The fast path for ``model``, or None (with a warning) when it cannot be traced. A model of several input
    segments averaged over strands (``dual``) takes the plain path: its reverse strand mirrors each segment on its
    own, so a mutant window need not stay one window there."""
    if rc_average and input_segments(model):
        return None
    try:
        return _Strands(model, rc_average)
    except Exception as err:  # noqa: BLE001 - any tracing failure means: use the plain path
        warnings.warn(f"fast ISM unavailable ({type(err).__name__}: {err}); using plain batched ISM", stacklevel=3)
        return None


# the fast path is kept when it counts at most this fraction of the plain pass's FLOPs: its windows are
# interpreted node by node, so it needs a margin to win. Counted, not timed, so that the path taken (and its
# last-digit differences) does not depend on the machine or its load. At 110 bp (fast / plain FLOPs, time):
# cnn 0.49, 0.30; LegNet 0.85, 0.94; ResNet 0.19, 0.23; hybrid 0.56, 0.87.
FAST_ISM_FLOPS = 0.9


def _flops(fn, *args) -> int:
    """FLOPs of one call, counted by torch's FlopCounterMode (matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return int(counter.get_total_flops())


def _splice(xs: torch.Tensor, lo: int, hi: int, vals: torch.Tensor) -> torch.Tensor:
    """Full mutant batch: each reference row repeated, its window replaced by the mutant values."""
    rep = len(vals) // len(xs)
    full = xs.repeat_interleave(rep, 0)
    full[:, :, lo:hi] = vals
    return full


@torch.inference_mode()
def ism_naive(model: nn.Module | SavedModel, X: Inputs, *, target: int | str = 0, readout: Readout | None = None,
              device: str | torch.device | None = None) -> np.ndarray:
    """Reference implementation: one mutant per forward pass (slow; for tests and checks)."""
    x = as_onehot(X, model)
    N, _, L = x.shape
    bound = readout_for(model, target, readout)
    model = as_module(model)
    dev = resolve_device(device, model)
    out = np.zeros((N, 4, L), dtype=np.float32)

    def value(m: torch.Tensor) -> float:
        return float(single(bound.values(rc_forward(model, m, bound.rc_average).float().cpu().numpy()))[0])

    with model_state(model, dev):
        for i in range(N):
            ref = x[i:i + 1].to(dev)
            y0 = value(ref)
            for p in range(L):
                for b in range(4):
                    if ref[0, b, p] == 1:
                        continue
                    m = ref.clone()
                    m[0, :, p] = 0
                    m[0, b, p] = 1
                    out[i, b, p] = value(m) - y0
    return out
