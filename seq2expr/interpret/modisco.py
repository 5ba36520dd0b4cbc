"""De-novo motifs from attributions with TF-MoDISco (modisco-lite).

Input: one-hot ``(N, 4, L)`` and hypothetical contributions ``(N, 4, L)``. Output: a list of
:class:`Pattern` (CWM = mean contribution, PWM = base frequencies of the seqlets, seqlet count and
positions, sign). An empty list (with a logged reason) when no motif passes modisco's thresholds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seq2expr.data.io.motifs import write_meme
from seq2expr.interpret._utils import keep_torch_threads
from seq2expr.interpret.motifs import composition_entropy, consensus, information_content, low_complexity
from seq2expr.progress import paused

log = logging.getLogger(__name__)


@dataclass
class Pattern:
    """One TF-MoDISco pattern, trimmed to its informative core plus a small flank. Arrays are ``(4, w)``;
    ``core`` is the ``[start, end)`` of the core in them: what Tomtom compares and the MEME file holds."""

    name: str
    sign: str  # "pos" (raises the output) or "neg"
    cwm: np.ndarray  # mean contribution of the seqlets (observed bases)
    hcwm: np.ndarray  # mean hypothetical contribution
    pwm: np.ndarray  # base frequencies over the seqlets
    n_seqlets: int
    seqlets: list[tuple[int, int, int, bool]] = field(default_factory=list)  # (example, start, end, revcomp)
    core: tuple[int, int] | None = None  # None: the whole width

    @property
    def consensus(self) -> str:
        return consensus(self.core_pwm)

    @property
    def core_pwm(self) -> np.ndarray:
        """The PWM of the informative core (no flank)."""
        return self.pwm if self.core is None else self.pwm[:, self.core[0]:self.core[1]]

    @property
    def complexity(self) -> str:
        """Why the core is low-complexity (one base, two bases, a short repeat), or ``""``."""
        return low_complexity(self.core_pwm)


def _core(cwm: np.ndarray, frac: float, max_gap: int, max_width: int) -> tuple[int, int]:
    """``(lo, hi)`` (inclusive) of the columns grown from the peak of total |contribution| (modisco-lite's score)."""
    score = np.abs(cwm).sum(0)
    if score.max() <= 0:
        return 0, len(score) - 1
    strong = score >= frac * score.max()
    lo = hi = int(score.argmax())
    while True:
        left = next((j for j in range(lo - 1, max(-1, lo - max_gap - 2), -1) if strong[j]), None)
        right = next((j for j in range(hi + 1, min(len(score), hi + max_gap + 2)) if strong[j]), None)
        if left is None and right is None:
            break
        take_left = right is None or (left is not None and score[left] >= score[right])
        if take_left:
            if hi - left + 1 > max_width:
                break
            lo = left
        else:
            if right - lo + 1 > max_width:
                break
            hi = right
    return lo, hi


def trim_pattern(cwm: np.ndarray, ppm: np.ndarray | None = None, frac: float = 0.3, flank: int = 2,
                 max_gap: int = 2, max_width: int = 24, ic_frac: float = 0.2,
                 min_core: int = 6) -> tuple[slice, tuple[int, int]]:
    """The informative core and the window shown: ``(window, (core start, core end) within the window)``, how
    :func:`run_modisco` cuts each pattern to its :attr:`Pattern.core` (``cwm``, ``ppm``: ``(4, w)``).

    The core grows from the column of largest total |contribution| while columns reach ``frac`` of that peak
    (modisco-lite's trimming rule, ``trim_threshold`` 0.3, applied from the peak), bridging gaps of up to
    ``max_gap`` weak columns, capped at ``max_width``; then end columns whose information content is below
    ``ic_frac`` of the core's most informative one are cut (down to ``min_core``). Tomtom gets the core alone, as
    modisco-lite's report does; the shown window adds ``flank`` columns either side. modisco returns 30-50 bp
    windows of which a TF site fills 6-15, and the noisy rest would only dilute the Tomtom match.
    """
    lo, hi = _core(cwm, frac, max_gap, max_width)
    if ppm is not None:
        ic = information_content(ppm)
        top = ic[lo:hi + 1].max()
        while hi - lo + 1 > min_core and ic[lo] < ic_frac * top:
            lo += 1
        while hi - lo + 1 > min_core and ic[hi] < ic_frac * top:
            hi -= 1
    start, end = max(0, lo - flank), min(cwm.shape[1], hi + flank + 1)
    return slice(start, end), (lo - start, hi + 1 - start)


def cache_kernels() -> None:
    """Turn on numba's disk cache for the kernels modisco-lite lists as safe to cache (each calls only its own
    file's functions), so that a process running other threads (a notebook's kernel, a test worker) loads them
    compiled instead of compiling them again on every run (about 13 s on 600 demo sequences). modisco-lite turns the
    cache on itself only where it can fork its compile helpers, in a process with one thread. Does nothing where
    modisco-lite's list or a writable cache is missing: the kernels then compile as before."""
    try:
        from modiscolite import precompile
        from numba.core.dispatcher import Dispatcher

        kernels = [d for group in precompile._kernels() for d, _ in group]
    except Exception:  # another modisco-lite: its own behaviour
        return
    for kernel in kernels:
        if isinstance(kernel, Dispatcher) and not kernel.overloads:
            with suppress(Exception):  # no writable cache location
                kernel.enable_caching()


@contextmanager
def no_other_thread() -> Iterator[None]:
    """Run the block with this process's main thread alone, as far as ours and tqdm's threads go (how
    :func:`run_modisco` calls TF-MoDISco).

    modisco-lite compiles its numba kernels in forked children, beside the run, only when this process runs no
    other thread; otherwise it compiles them here, first thing (from numba's disk cache after the first run:
    :func:`cache_kernels`).
    A progress bar on screen (ours, rich) refreshes from a thread: it is paused for the block. tqdm's monitor
    thread outlives the bars that started it (Lightning's, tangermeme's): it is stopped, and no new one starts."""
    from tqdm import tqdm
    from tqdm._monitor import TMonitor

    tqdm.monitor_interval = 0  # no new monitor (subclasses inherit it): it only tunes the refresh of slow bars
    for thread in threading.enumerate():
        if isinstance(thread, TMonitor):  # set on the subclass that started it (e.g. Lightning's Tqdm)
            thread.exit()
    with paused():
        if threading.active_count() > 1:
            log.debug("threads alive during TF-MoDISco, so its kernels compile in this process: %s",
                      [t.name for t in threading.enumerate() if t is not threading.current_thread()])
        yield


def run_modisco(onehot: np.ndarray, hypothetical: np.ndarray, *, max_seqlets: int = 2000,
                sliding_window_size: int = 15, flank_size: int = 5, min_metacluster_size: int = 10,
                final_min_cluster_size: int = 10, target_seqlet_fdr: float = 0.3, n_leiden_runs: int = 4,
                trim_fraction: float = 0.3, verbose: bool = False) -> list[Pattern]:
    """Run TF-MoDISco and return its patterns (positive ones first, each sign in modisco's order).

    Defaults suit hundreds to a few thousand short promoters: a seqlet FDR of 0.3 (with modisco's 0.2 one of five
    trained demo models lost the two weakest planted motifs, MCM1 and TBP; 0.3 found all seven in all five,
    and gave the same patterns as 0.2 on the DREAM model), clusters of 10 seqlets count as motifs, and 4 Leiden runs
    (modisco uses 50; 16 and 50 gave the same patterns here) keep it fast.
    A 15-bp window with 5-bp flanks fits yeast TF sites (6-12 bp) in 80-300 bp sequences.
    """
    from modiscolite.tfmodisco import TFMoDISco

    oh = np.ascontiguousarray(np.asarray(onehot, dtype=np.float32).transpose(0, 2, 1))
    hyp = np.ascontiguousarray(np.asarray(hypothetical, dtype=np.float32).transpose(0, 2, 1))
    if oh.shape != hyp.shape:
        raise ValueError(f"one-hot {oh.shape} and hypothetical contributions {hyp.shape} differ in shape")
    if oh.shape[1] < sliding_window_size + 2 * flank_size:
        raise ValueError(f"sequences of {oh.shape[1]} bp are too short for a {sliding_window_size}-bp window")
    try:
        cache_kernels()
        with no_other_thread(), keep_torch_threads():
            pos, neg = TFMoDISco(one_hot=oh, hypothetical_contribs=hyp, sliding_window_size=sliding_window_size,
                                 flank_size=flank_size, min_metacluster_size=min_metacluster_size,
                                 max_seqlets_per_metacluster=max_seqlets, target_seqlet_fdr=target_seqlet_fdr,
                                 final_min_cluster_size=final_min_cluster_size, n_leiden_runs=n_leiden_runs,
                                 verbose=verbose)
    except (ValueError, IndexError) as err:  # modisco raises these when too few seqlets pass
        log.warning("TF-MoDISco found no motif: %s", err)
        return []
    out: list[Pattern] = []
    for sign, pats in (("pos", pos), ("neg", neg)):
        for i, p in enumerate(pats or []):
            cwm = np.asarray(p.contrib_scores, dtype=np.float64).T
            ppm = np.asarray(p.sequence, dtype=np.float64).T + 1e-3
            ppm = ppm / ppm.sum(0, keepdims=True)
            sl, core = trim_pattern(cwm, ppm, trim_fraction)
            out.append(Pattern(
                name=f"{sign}_pattern_{i}", sign=sign, cwm=cwm[:, sl],
                hcwm=np.asarray(p.hypothetical_contribs, dtype=np.float64).T[:, sl],
                pwm=ppm[:, sl], n_seqlets=len(p.seqlets), core=core,
                seqlets=[(int(s.example_idx), int(s.start), int(s.end), bool(s.is_revcomp)) for s in p.seqlets]))
    if not out:
        log.warning("TF-MoDISco found no motif: too few seqlets or no cluster passed (try more sequences)")
    return out


def pattern_motifs(patterns: list[Pattern], kind: str = "pwm") -> dict[str, np.ndarray]:
    """``{name: (4, w)}`` of the patterns' core PWMs (``kind="pwm"``: what Tomtom compares) or absolute CWMs
    (``"cwm"``, the shown window)."""
    if kind == "pwm":
        return {p.name: p.core_pwm for p in patterns}
    if kind == "cwm":
        return {p.name: np.abs(p.cwm) if p.sign == "neg" else np.clip(p.cwm, 0, None) for p in patterns}
    raise ValueError(f"kind must be 'pwm' or 'cwm', not {kind!r}")


def to_meme(patterns: list[Pattern], path: str | Path) -> Path:
    """Write the patterns' core PWMs as a MEME file (names ``pos_pattern_0`` ...)."""
    return write_meme(pattern_motifs(patterns), path)


SUMMARY_COLUMNS = ["pattern", "sign", "n_seqlets", "width", "core_width", "consensus", "ic_bits", "composition_bits",
                   "low_complexity"]


def summary(patterns: list[Pattern]) -> list[dict]:
    """One row per pattern: name, sign, seqlets, width shown and of the core, the core's consensus and information
    content, the entropy of its base composition and why it is low-complexity (``""`` when it is not)."""
    return [{"pattern": p.name, "sign": p.sign, "n_seqlets": p.n_seqlets, "width": p.pwm.shape[1],
             "core_width": p.core_pwm.shape[1], "consensus": p.consensus,
             "ic_bits": round(float(information_content(p.core_pwm).sum()), 2),
             "composition_bits": round(composition_entropy(p.core_pwm), 2), "low_complexity": p.complexity}
            for p in patterns]
