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

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seq2expr.data.sequences import reverse_complement_onehot
from seq2expr.inference import (
    Compute,
    Readout,
    SavedModel,
    as_module,
    as_onehot,
    autocast,
    compute_of,
    fold_batchnorm,
    forward_in_parts,
    model_state,
    onnxruntime_forward,
    resolve_device,
)
from seq2expr.inference.inputs import Inputs
from seq2expr.interpret._utils import readout_for, single
from seq2expr.interpret.ism_fast import FastISM
from seq2expr.models.registry import input_segments
from seq2expr.progress import track


def mutant_block(x: torch.Tensor, lo: int, hi: int) -> tuple[torch.Tensor, np.ndarray]:
    """Window ``[lo, hi)`` of every 3-alternative mutant: ``(n * G * 3, 4, G)`` and alt bases ``(n, G, 3)``.

    One block of :func:`ism`: the fast path runs these windows alone, the plain one through :func:`splice_mutants`."""
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


class FastISMStrands:
    """Fast ISM of the output :func:`~seq2expr.inference.rc_forward` gives: with strand averaging a second trace
    runs the reverse complement, whose mutant window is the forward one mirrored: ``rc(x)[..., L-hi:L-lo]`` is
    ``flip(x[..., lo:hi])`` over bases and positions, so both strands keep the fast path. What :func:`ism` runs
    when the model traces: ``reference(xs)`` once per batch, then ``run`` per :func:`mutant_block`."""

    def __init__(self, model: nn.Module, rc_average: bool):
        self.fwd = FastISM(model)
        self.rc = FastISM(model) if rc_average else None
        self.length = 0

    def reference(self, xs: torch.Tensor) -> torch.Tensor:
        self.length = xs.shape[-1]
        out = self.fwd.reference(xs)
        return out if self.rc is None else (out + self.rc.reference(reverse_complement_onehot(xs))) / 2

    def run(self, lo: int, hi: int, vals: torch.Tensor, rep: int) -> torch.Tensor:
        out = self.fwd.run(lo, hi, vals, rep)
        if self.rc is None:
            return out
        return (out + self.rc.run(self.length - hi, self.length - lo, reverse_complement_onehot(vals), rep)) / 2


@torch.inference_mode()
def ism(model: nn.Module | SavedModel, X: Inputs, *, target: int | str = 0, readout: Readout | None = None,
        start: int | None = None, end: int | None = None, center: bool = False, batch_size: int | None = None,
        positions_per_batch: int = 8, fast: bool = True, device: str | torch.device | None = None,
        precision: str | None = None, engine: str | None = None, compute: Compute | None = None) -> np.ndarray:
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
    ``compute`` (:class:`~seq2expr.inference.Compute`) carries device, precision, batch size (default 2048) and
    engine at once; the keywords are its spellings.
    """
    x = as_onehot(X, model)
    N, _, L = x.shape
    start = 0 if start is None else int(start)
    end = L if end is None else int(end)
    if not 0 <= start < end <= L:
        raise ValueError(f"ISM window [{start}, {end}) outside a {L}-bp sequence")
    bound = readout_for(model, target, readout)
    model = as_module(model)
    ctx = compute_of(compute, batch_size=batch_size, device=device, precision=precision, engine=engine).resolve(model)
    dev, precision, engine = ctx.device, ctx.precision, ctx.engine
    exact = precision == "32"
    G = max(1, min(positions_per_batch, end - start))
    n_seq = max(1, ctx.batch(2048) // (3 * G))
    scores = np.zeros((N, 4, L), dtype=np.float32)

    def value(raw: torch.Tensor) -> np.ndarray:
        return single(bound.values(raw.float().cpu().numpy()))

    with model_state(model, dev), autocast(precision, dev):
        run = onnxruntime_forward(model, bound.rc_average, L, bound.positions) if engine == "onnxruntime" else None
        model = fold_batchnorm(model)  # an eval copy: one pass fewer per layer for each of the 3L mutants

        def plain(batch: torch.Tensor) -> torch.Tensor:
            if run is not None:
                return run(batch)
            return forward_in_parts(lambda part: bound.network(model, part), batch, model=model)

        fism = _fast(model, bound.rc_average) if fast and run is None and bound.positions is None else None
        checked = False
        for s0 in track(range(0, N, n_seq), description="ISM"):
            xs = x[s0:s0 + n_seq].to(dev)
            n = len(xs)
            y_ref = value(fism.reference(xs) if fism is not None else plain(xs))
            for lo in range(start, end, G):
                hi = min(end, lo + G)
                vals, alts = mutant_block(xs.cpu(), lo, hi)
                vals = vals.to(dev)
                y = None
                if fism is not None:
                    y = value(fism.run(lo, hi, vals, 3 * (hi - lo)))
                    if not checked:
                        y_plain = value(plain(splice_mutants(xs, lo, hi, vals)))
                        tol = (1e-4 if exact else 5e-2) * max(1.0, float(np.abs(y_plain).max()))
                        if float(np.abs(y - y_plain).max()) > tol:
                            warnings.warn("fast ISM disagreed with the plain forward pass; using plain ISM",
                                          stacklevel=2)
                            fism, y = None, y_plain
                        elif _flops(fism.run, lo, hi, vals, 3 * (hi - lo)) > \
                                FAST_ISM_FLOPS * _flops(plain, splice_mutants(xs, lo, hi, vals)):
                            fism = None  # little to reuse on this model (e.g. global gates early on): plain is faster
                        checked = True
                if y is None:
                    y = value(plain(splice_mutants(xs, lo, hi, vals)))
                delta = y.reshape(n, hi - lo, 3) - y_ref[:, None, None]
                ii = np.arange(n)[:, None, None]
                pp = (lo + np.arange(hi - lo))[None, :, None]
                scores[s0 + ii, alts, pp] = delta
    if center:
        scores[:, :, start:end] -= scores[:, :, start:end].mean(1, keepdims=True)
    return scores


def _fast(model: nn.Module, rc_average: bool) -> FastISMStrands | None:
    """The fast path for ``model``, or None (with a warning) when it cannot be traced. A model of several input
    segments averaged over strands (``dual``) takes the plain path: its reverse strand mirrors each segment on its
    own, so a mutant window need not stay one window there."""
    if rc_average and input_segments(model):
        return None
    try:
        return FastISMStrands(model, rc_average)
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


def splice_mutants(xs: torch.Tensor, lo: int, hi: int, vals: torch.Tensor) -> torch.Tensor:
    """Full mutant batch: each reference row repeated, its window replaced by the mutant values
    (:func:`mutant_block`'s): the sequences the plain path of :func:`ism` predicts."""
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
        return float(single(bound.values(bound.network(model, m).float().cpu().numpy()))[0])

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
