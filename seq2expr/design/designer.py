"""``design(model, start, objective, constraints, ...)``: designed sequences, validated by an oracle held out of
the search.

A design model rewards its own errors, so every run also scores its designs with an oracle it was not designed
with: another model the caller names (checked for shared training sequences when both record them), or, when
the design model is an ensemble and no oracle is named, its last member, held out of the search (the others
design) but trained on the same data by the same recipe: not independent. Both scores are reported on the
original scale; a design is flagged when the two disagree by more than twice their usual disagreement (the RMS
difference of their predictions of the starting sequences). Every design also gets the design members' spread
(std of their scores), which a search exploits as it grows stronger; ``penalty=("disagreement", λ)`` subtracts
λ times it from the objective. The set's diversity is its pairwise Hamming distances.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.data.inputs import read_inputs
from seq2expr.data.registry import parse_dataset_spec
from seq2expr.data.sequences import decode
from seq2expr.design.algorithms import ALGORITHMS, SearchSettings
from seq2expr.design.algorithms.motif import insert_motifs
from seq2expr.design.constraints import Constraints
from seq2expr.design.objective import Objective, Scorer, check_compatible, parse_penalty
from seq2expr.evaluation import model_notes
from seq2expr.inference import (
    Compute,
    Readout,
    SavedModel,
    column_options,
    compute_of,
    encode_for,
    load_model,
    resolve_construct,
    training_hashes,
)

log = logging.getLogger(__name__)


@dataclass
class DesignResult:
    """Designs (``table``: one row each; ``codes``), their starts, the per-round ``trajectory`` and a ``summary``."""

    table: pd.DataFrame
    codes: np.ndarray
    start: np.ndarray
    trajectory: pd.DataFrame
    summary: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)  # the files the run read (models, start file): never replaced
    readout: Readout | None = None  # the output the objective is about (what the report's logos explain)


def random_starts(n: int, constraints: Constraints, rng: np.random.Generator, gc: float = 0.5,
                  tries: int = 200) -> np.ndarray:
    """``n`` random sequences (flanks fixed, the rest i.i.d. with GC fraction ``gc``) that honour the
    constraints, each redrawn until it does."""
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    out = np.empty((n, constraints.length), np.uint8)
    for i in range(n):
        for _ in range(tries):
            c = constraints.apply_flanks(rng.choice(4, size=(1, constraints.length), p=p).astype(np.uint8))
            if constraints.ok(c)[0]:
                break
        else:
            why = "; ".join(constraints.violations(c)[0])
            raise DataError(f"no random sequence of {tries} drawn meets the constraints: {why}")
        out[i] = c[0]
    return out


def _starts(start, model: SavedModel, constraints: Constraints, n: int, rng) -> tuple[np.ndarray, list[str]]:
    if isinstance(start, str) and start == "random":
        if n < 1:
            raise DataError(f"n (designs from random backgrounds) must be at least 1, not {n}")
        return random_starts(n, constraints, rng), [f"random{i}" for i in range(n)]
    length = model.config.seq_len
    if isinstance(start, str | Path) and not Path(start).exists() and _looks_like_path(start):
        raise DataError("start file not found (a sequence itself has no path separator or file suffix)",
                        source=str(start))
    if isinstance(start, (str, Path)) and (Path(start).exists() or parse_dataset_spec(start)):
        rec = read_inputs(start, column_options(model), require_targets=False)
        _check_start_lengths(rec.sequences, length, rec.source, rec.labels())
        codes = encode_for(model, rec.sequences, ids=rec.labels(), source=rec.source)
        return codes, [str(i) for i in rec.ids]
    if isinstance(start, np.ndarray) and start.dtype == np.uint8 and start.ndim == 2:
        if start.shape[1] != length:
            raise DataError(f"start codes are {start.shape[1]} bp but the model designs {length}-bp sequences")
        return start.copy(), [f"start{i}" for i in range(len(start))]
    seqs = [start] if isinstance(start, str) else list(start)
    labels = [f"start{i}" for i in range(len(seqs))]
    _check_start_lengths(seqs, length, "start sequences", labels)
    return encode_for(model, seqs, source="start sequences"), labels


def _looks_like_path(start: str | Path) -> bool:
    """A path (a ``Path``, a path separator, or a table/FASTA suffix), which must not be read as a sequence."""
    from seq2expr.data.io.tables import FASTA_SUFFIXES, PARQUET_SUFFIXES, TABLE_SUFFIXES

    text = str(start)
    suffixes = {*FASTA_SUFFIXES, *PARQUET_SUFFIXES, *TABLE_SUFFIXES, ".gz"}
    return isinstance(start, Path) or "/" in text or "\\" in text or Path(text).suffix.lower() in suffixes


def _check_start_lengths(seqs, length: int, source: str, labels: list[str]) -> None:
    """Starts of another length than the model designs would be padded with N or cut by its sequence policy,
    silently: a design is a whole sequence of the model's length."""
    for seq, label in zip(seqs, labels, strict=True):
        if len(seq) != length:
            how = "padded with N" if len(seq) < length else "cut"
            raise DataError(f"start sequence is {len(seq)} bp but the model designs {length}-bp sequences (it would "
                            f"be {how}); give starts of {length} bp", source=source, record=label)


def _models(model) -> list[SavedModel]:
    models = model if isinstance(model, list | tuple) else [model]
    return [load_model(m) for m in models]


def split_oracle(models: list[SavedModel], oracle) -> tuple[list[SavedModel], SavedModel | None, str]:
    """The design models and the oracle: the one named, else the last member of a single ensemble model."""
    if oracle == "none":
        return models, None, "none"
    if oracle is not None:
        other = load_model(oracle)
        check_compatible(models[0], other, "the oracle" + ("" if isinstance(oracle, SavedModel) else f" {oracle}"))
        return models, other, str(oracle) if not isinstance(oracle, SavedModel) else "given model"
    if len(models) == 1 and len(models[0].members) > 1:
        members = models[0].members
        return members[:-1], members[-1], (f"ensemble member {len(members) - 1}, held out of the search (same "
                                           "training data and recipe: not independent)")
    raise DataError("design needs an oracle held out of the search: name one (another model, fold or "
                    "architecture), or use an ensemble model (its last member validates), or skip validation: "
                    "`--oracle none` (oracle='none' in Python)")


def oracle_overlap(models: list[SavedModel], oracle: SavedModel, name: str) -> int | None:
    """How many training sequences (either strand) a named oracle shares with the design models (None: one of
    them records none, so independence cannot be checked); a one-line warning when any, or when unknown."""
    designed = [training_hashes(m) for m in models]
    held = training_hashes(oracle)
    if held is None or any(h is None for h in designed):
        log.warning("oracle %s: independence cannot be checked (%s records no training sequences, %s)", name,
                    "the oracle" if held is None else "the design model", "training_sequences.safetensors")
        return None
    shared = int(np.intersect1d(np.concatenate(designed), held).size)
    if shared:
        log.warning("oracle %s shares %d training sequences with the design model: it is not independent of it",
                    name, shared)
    return shared


def default_constraints(model: SavedModel) -> Constraints:
    """Constraints of the model's own construct (its fixed flanks, :func:`seq2expr.inference.resolve_construct`),
    or none."""
    c = resolve_construct(model=model)
    return Constraints(model.config.seq_len, left=c.left, right=c.right, construct=c.label)


def design(model, start="random", objective: Objective | str = "maximise", constraints: Constraints | None = None,
           *, method: str = "greedy", oracle=None, n: int = 10, rounds: int = 10, beam: int = 4,
           steps: int = 300, motifs: list[str] | None = None, seed: int = 0, batch_size: int | None = None,
           device: str | None = None, precision: str | None = None, progress=None, engine: str | None = None,
           penalty: str | tuple | None = None, compute: Compute | None = None) -> DesignResult:
    """Design sequences from ``start`` towards ``objective`` under ``constraints``.

    ``model``: a saved model (path or loaded), or a list of them (their mean). ``start``: ``"random"`` (``n``
    sequences), sequences, codes, a table/FASTA path or a registry data set ``NAME[:SUBSET]``
    (:func:`~seq2expr.data.inputs.read_inputs`). ``objective``: an :class:`Objective` or
    ``max``/``min``/``target:VALUE``/``diff:OTHER``. ``constraints``: None gives the model's own construct (the
    fixed flanks of its training data set, if it has one). ``method``: greedy, beam (width ``beam``), anneal
    (``steps``), motif (insert ``motifs``; TF names looked up in the model's ``interpret.taxon``), ledidi.
    ``oracle``: see the module docstring. ``penalty``: ``("disagreement", λ)`` or ``"disagreement:λ"``.
    Reproducible from ``seed``. ``precision``: of every prediction (as in :func:`~seq2expr.inference.predict`;
    gradient design stays fp32). ``engine``: ``torch`` or ``onnxruntime`` for every prediction. ``compute``
    (:class:`~seq2expr.inference.Compute`) carries device, precision, batch size and engine at once, resolved once
    for the whole search.
    """
    t0 = time.perf_counter()
    ctx = compute_of(compute, batch_size=batch_size, device=device, precision=precision, engine=engine)
    batch = 512 if ctx.batch_size is None else ctx.batch_size  # 0 is refused, not read as "the default"
    for name, value, least in (("rounds", rounds, 0), ("steps", steps, 0), ("beam", beam, 1),
                               ("batch_size", batch, 1)):  # 0 rounds or steps: the starts, scored
        if value < least:
            raise DataError(f"{name} must be at least {least}, not {value}")
    weight = parse_penalty(penalty)
    if weight and method == "ledidi":
        raise DataError("the disagreement penalty applies to greedy, beam, anneal and motif design, not ledidi")
    rng = np.random.default_rng(seed)
    models, oracle_model, oracle_name = split_oracle(_models(model), oracle)
    first = models[0]
    constraints = default_constraints(first) if constraints is None else constraints
    if constraints.length != first.config.seq_len:
        raise DataError(f"constraints are for {constraints.length} bp but the model takes {first.config.seq_len} bp")
    obj = Objective.parse(objective) if isinstance(objective, str) else objective
    scorer = Scorer(models, obj, compute=ctx, penalty=weight)
    overlap = oracle_overlap(models, oracle_model, oracle_name) if oracle not in (None, "none") else None
    start_codes, start_ids = _starts(start, first, constraints, n, rng)
    if constraints.left or constraints.right:
        start_codes = constraints.apply_flanks(start_codes)
    stats: dict = {}
    codes, traj = _search(method, scorer, start_codes, constraints, rng, stats, rounds=rounds, beam=beam,
                          steps=steps, motifs=motifs, seed=seed, progress=progress)
    seconds = time.perf_counter() - t0
    table = _table(codes, start_codes, start_ids, scorer, oracle_model, constraints)
    _no_op_warning(method, table, stats, constraints)
    summary = {"method": method, "objective": obj.kind, "target": scorer.names[scorer.t], "value": obj.value,
               "n": len(codes), "oracle": oracle_name, "design_models": len(models), "seed": seed,
               "precision": scorer.compute.precision, **model_notes(first.config),
               "construct": constraints.construct or (f"flanks {len(constraints.left)} + {len(constraints.right)} nt"
                                                      if constraints.left or constraints.right else "none"),
               "penalty": {"disagreement": weight} if weight else None,
               "member_spread": {"members": len(scorer.members), "mean": _mean(table["member_spread"]),
                                 "max": _mean(table["member_spread"], np.nanmax)},
               "candidates": scorer.evaluated, "seconds": round(seconds, 2),
               "candidates_per_second": round(scorer.evaluated / max(scorer.seconds, 1e-9), 1),
               "diversity": diversity(codes), "start_diversity": diversity(start_codes),
               "constraints_ok": int(table["constraints_ok"].sum()), "unchanged": int((table["n_edits"] == 0).sum())}
    if oracle_model is not None:
        summary["oracle_training_overlap"] = overlap if oracle is not None else "same training data (a member)"
        summary["design_oracle_pearson_r"] = _corr(table["design_score"], table["oracle_score"])
        summary["disagreements"] = int(table["disagree"].sum())
    trajectory = pd.DataFrame(traj, columns=["round", "design", "score", "n_edits"])
    trajectory["design"] = [table["id"].iloc[d] for d in trajectory["design"]]
    read = [*(model if isinstance(model, list | tuple) else [model]), oracle,
            start if isinstance(start, str | Path) and start != "random" else None]
    return DesignResult(table, codes, start_codes, trajectory, summary, inputs=read, readout=scorer.explained())


def _search(method: str, scorer: Scorer, start: np.ndarray, constraints: Constraints, rng, stats: dict, *,
            rounds: int, beam: int, steps: int, motifs: list[str] | None, seed: int, progress) -> tuple:
    """Run one registered design method (:mod:`seq2expr.design.algorithms`) from ``start``, required motifs
    written in first: ``(codes, trajectory)``."""
    if method not in ALGORITHMS:
        raise DataError(ALGORITHMS.unknown(method))
    taxon = scorer.models[0].config.interpret.taxon
    work = start
    if constraints.require:  # write required motifs in first (at their best allowed place)
        work, _ = insert_motifs(scorer, work, constraints.__class__(**{**_fields(constraints), "require": []}),
                                constraints.require, force=True)
    settings = SearchSettings(rounds=rounds, beam=beam, steps=steps, motifs=list(motifs or []), seed=seed,
                              taxon=taxon)
    return ALGORITHMS.get(method)(scorer, work, constraints, settings, rng=rng, stats=stats, progress=progress)


def _no_op_warning(method: str, table: pd.DataFrame, stats: dict, constraints: Constraints) -> None:
    """One line when no design differs from its start (never a silent no-op), with ledidi's rejections."""
    if not len(table) or (table["n_edits"] > 0).any():
        return
    why = ""
    if stats.get("sampled"):
        why = (f": {stats['rejected']} of the {stats['sampled']} sequences ledidi sampled broke the constraints "
               f"(e.g. {stats.get('reason', '-')}), the rest scored no better")
        if constraints.max_edits is not None and stats["rejected"]:
            why += "; raise --max-edits or use --method greedy, beam or anneal"
    log.warning("%s design changed none of the %d starts%s", method, len(table), why)


def _mean(values, how=np.nanmean) -> float | None:
    v = np.asarray(values, float)
    return None if not len(v) or np.isnan(v).all() else float(how(v))


def _fields(c: Constraints) -> dict:
    return {k: getattr(c, k) for k in ("length", "left", "right", "protect", "max_edits", "gc", "forbid",
                                       "max_homopolymer", "require", "construct")}


def _corr(a, b) -> float | None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and a.std() > 0 and b.std() > 0 else None


def diversity(codes: np.ndarray) -> dict:
    """Pairwise Hamming distances of a set of sequences (mean, min, and as a fraction of the length)."""
    n, L = codes.shape
    if n < 2:
        return {"mean_hamming": 0.0, "min_hamming": 0, "mean_fraction": 0.0}
    onehot = np.eye(5, dtype=np.float32)[codes].reshape(n, -1)
    same = onehot @ onehot.T
    dist = L - same[np.triu_indices(n, 1)]
    return {"mean_hamming": float(dist.mean()), "min_hamming": int(dist.min()), "mean_fraction": float(dist.mean() / L)}


def _edits(codes: np.ndarray, start: np.ndarray) -> list[str]:
    letters = np.frombuffer(b"ACGTN", np.uint8)
    out = []
    for c, s in zip(codes, start, strict=True):
        pos = np.flatnonzero(c != s)
        out.append(";".join(f"{p}:{chr(letters[s[p]])}>{chr(letters[c[p]])}" for p in pos))
    return out


def _table(codes, start, ids, scorer: Scorer, oracle: SavedModel | None, constraints: Constraints) -> pd.DataFrame:
    pred = scorer.predictions(codes)
    table = pd.DataFrame({"id": [f"design{i}" for i in range(len(codes))], "start_id": ids,
                          "sequence": decode(codes), "design_score": scorer.score(pred, codes)})
    for k, name in enumerate(scorer.names):
        table[f"design_{name}"] = pred[:, k]
    if oracle is not None:
        opred = scorer.predictions(codes, [oracle])
        table["oracle_score"] = scorer.score(opred, codes)
        for k, name in enumerate(scorer.names):
            table[f"oracle_{name}"] = opred[:, k]
        # their usual disagreement: on the starting sequences
        base = scorer.predictions(start)[:, scorer.t] - scorer.predictions(start, [oracle])[:, scorer.t]
        usual = float(np.sqrt(np.mean(base ** 2))) if len(base) else 0.0
        table["disagree"] = np.abs(pred[:, scorer.t] - opred[:, scorer.t]) > 2 * max(usual, 1e-6)
    table["member_spread"] = scorer.spread(codes)  # NaN with one design member
    table["n_edits"] = (codes != start).sum(1)
    table["edits"] = _edits(codes, start)
    table["gc"] = constraints.gc_fraction(codes)
    viol = constraints.violations(codes, start)
    table["constraints_ok"] = [not v for v in viol]
    table["violations"] = ["; ".join(v) for v in viol]
    return table
