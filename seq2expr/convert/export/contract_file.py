"""``contract.json``: everything a user without seq2expr needs to feed an exported graph and read its output.

The input (length, alphabet order, N value, case and IUPAC rules, padding and truncation, the construct's fixed
flanks, a two-segment model's segments), the output (targets with units and scale, strand handling, the inverse
transform the graph applies), the golden outputs and their tolerance, and the lineage (the card, the sha256 of the
saved model's files and of every exported file). ``docs/tutorials/export.md`` holds a 20-line numpy encoder that
reads only this file (tested against seq2expr's own encoding).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from seq2expr.config import Side
from seq2expr.inference import SavedModel
from seq2expr.zoo import ModelCard

CONTRACT = "contract.json"
CONTRACT_VERSION = 1


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Segment(_Spec):
    """A part of the input: a two-segment model (``dual``) reads ``segment_1`` and ``segment_2``, skipping the
    ``spacer`` (filled with N)."""

    name: str
    start: int = Field(ge=0)
    length: int = Field(ge=0)


class InputSpec(_Spec):
    """The graph's one input and how a sequence becomes it (seq2expr's sequence policy, stated in full)."""

    name: str
    shape: list[str | int]  # ["batch", 4, length]
    dtype: str = "float32"
    length: int
    alphabet: str = "ACGT"  # channel order
    n_value: float  # N (and any base read as N): this value in all four channels
    lowercase: str = "read as uppercase"
    iupac: Literal["reject", "n"]  # other IUPAC codes (RYSWKMBDHV): an error, or read as N
    fit_length: int | None  # None: a sequence must be exactly `length` long; else padded/truncated to it
    pad: Side  # where N padding goes when a sequence is short
    truncate: Side  # which end is cut when a sequence is long
    flanks: tuple[str, str] | None = None  # fixed left and right sequence every input carries (the construct)
    context: str | None = None  # the card's words on the construct
    segments: list[Segment] | None = None


class TargetSpec(_Spec):
    name: str
    units: str
    scale: str


class OutputSpec(_Spec):
    """The graph's output: what ``seq2expr predict`` returns for the same sequences."""

    name: str
    shape: list[str | int]  # ["batch", K]
    dtype: str = "float32"
    task: str
    scale: Literal["original", "model"]
    strands: str
    ensemble_size: int
    targets: list[TargetSpec]
    inverse_transform: dict[str, Any] | None = None  # the fitted target transform the graph inverts (float64)
    positions: dict[str, Any] | None = None  # a track model: the output bins the graph reads and how it joins them


class GoldenSpec(_Spec):
    """The golden vectors: inputs, expected outputs and the tolerance an exported copy must meet."""

    file: str = "golden.npz"  # arrays `onehot` (n, 4, L) float32 and `expected` (n, K) float32
    table: str = "golden.tsv"  # id, sequence, expected value per target (%.9g)
    n: int
    precision: str = "32"
    tolerance: float
    metric: str = "max over rows and targets of |got - expected| / max(1, |expected|)"
    sequences: str  # how they were drawn


class Lineage(_Spec):
    """Where the exported weights come from: the model argument, the saved files' sha256, the card, and for a
    fine-tuned model its parent (the saved model's lineage)."""

    source: str
    weights_sha256: str | None = None
    config_sha256: str | None = None
    library_version: str | None = None
    card: ModelCard | None = None
    fine_tuned_from: dict[str, Any] | None = None  # a fine-tuned model's parent and how it was fine-tuned
    files: dict[str, str] = Field(default_factory=dict)  # exported file -> sha256


class ExportContract(_Spec):
    """The whole of ``contract.json``."""

    contract_version: int = CONTRACT_VERSION
    format: str
    file: str
    runtime: str
    architecture: str
    params: dict[str, Any]
    input: InputSpec
    output: OutputSpec
    golden: GoldenSpec
    lineage: Lineage
    exported_with: dict[str, str]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def input_spec(saved: SavedModel, name: str, flanks: tuple[str, str] | None) -> InputSpec:
    """The input section for ``saved`` (a dual model's segments from its branch lengths and spacer)."""
    cfg = saved.config
    pol = cfg.policy
    inner = saved.members[0].model
    segments = None
    if hasattr(inner, "branch_lengths") and hasattr(inner, "spacer"):
        first, second = inner.branch_lengths
        segments = [Segment(name="segment_1", start=0, length=first),
                    Segment(name="spacer", start=first, length=inner.spacer),
                    Segment(name="segment_2", start=first + inner.spacer, length=second)]
    card = cfg.card
    return InputSpec(name=name, shape=["batch", 4, cfg.seq_len], length=cfg.seq_len, n_value=pol.n_value,
                     iupac=pol.iupac, fit_length=pol.length, pad=pol.pad, truncate=pol.truncate, flanks=flanks,
                     context=card.input.context if card is not None else None, segments=segments)


def output_spec(saved: SavedModel, name: str, scale: str, names: list[str]) -> OutputSpec:
    """The output section: targets (units and scale from the card when it names them), strands, transform and a
    track model's positions."""
    cfg = saved.config
    card_targets = {t.name: t for t in cfg.card.targets} if cfg.card is not None else {}
    classifier = cfg.task == "classification"
    default_scale = ("probability of class 1" if classifier else "measured scale (the target transform inverted)") \
        if scale == "original" else ("logit" if classifier else "the network's own (transformed) scale")
    targets = []
    for n in names:
        t = card_targets.get(n)
        units = t.units if t is not None else ("probability" if classifier and scale == "original" else
                                               "the training data's units")
        targets.append(TargetSpec(name=n, units=units, scale=t.scale if t is not None and scale == "original"
                                  else default_scale))
    inner = saved.members[0].model
    own = getattr(type(inner), "registry_name", "") == "legnet2022" and getattr(inner, "rc_average", False)
    strands = ("averaged in the graph: the mean of the sequence and its reverse complement (before any sigmoid)"
               if cfg.rc_average or own else "forward strand only")
    tr = cfg.target_transform
    inverse = tr.to_dict() if tr is not None and scale == "original" and not classifier else None
    positions = cfg.model.positions.model_dump() if cfg.model.positions is not None else None
    return OutputSpec(name=name, shape=["batch", len(names)], task=cfg.task, scale=scale, strands=strands,
                      ensemble_size=cfg.ensemble_size or 1, targets=targets, inverse_transform=inverse,
                      positions=positions)
