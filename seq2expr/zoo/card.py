"""The model card: what a pretrained model is, where its files come from and how to feed it, in one typed record.

Every zoo entry has one (``seq2expr/zoo/cards/<name>.json``); a saved model carries it in ``config.json`` (the
``card`` field of :class:`~seq2expr.inference.SavedModelConfig`), so a model folder says where it came from
wherever it is copied. ``seq2expr models info NAME`` prints it and every HTML report names the model by it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from seq2expr.download import Pin

# one naming for metrics, ``seq2expr evaluate``'s: a card keeps the names its source used (the DREAM challenge's
# ``spearman``), shown under these
METRIC_NAMES = {"spearman": "spearman_rho", "score_spearman": "score_spearman_rho", "pearson": "pearson_r2"}


def named_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics`` under one naming (``pearson_r``, ``spearman_rho``, ``pearson_r2`` = r^2), ``pearson_r`` first:
    from a published r^2 it is its positive square root."""
    out = {METRIC_NAMES.get(k, k): v for k, v in metrics.items()}
    if "pearson_r2" in out and "pearson_r" not in out:
        out = {"pearson_r": math.sqrt(max(out["pearson_r2"], 0.0)), **out}
    first = [k for k in ("pearson_r", "spearman_rho") if k in out]
    return {**{k: out[k] for k in first}, **{k: v for k, v in out.items() if k not in first}}


class _Card(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CardFile(_Card):
    """One file: its name (in the model folder, or of the original checkpoint), URL, size and checksum. A file
    pinned by a repository commit whose sha256 was never published carries its git blob id instead."""

    name: str
    url: str | None = None
    size: int | None = Field(None, ge=0)
    sha256: str | None = None
    git_blob: str | None = None

    @property
    def pin(self) -> Pin:
        return Pin(sha256=self.sha256, size=self.size, git_blob=self.git_blob)

    @property
    def pinned(self) -> bool:
        return self.pin.pinned


class InputContract(_Card):
    """What the saved model takes: a one-hot ``(B, 4, length)`` batch in ``alphabet`` channel order, N as
    ``n_value`` in every channel, inside a fixed ``context`` (flanks the sequence must carry, or that the model
    adds itself), with strands handled as ``strands`` says."""

    length: int = Field(ge=1)
    alphabet: str = "ACGT"
    n_value: float = 0.0
    context: str | None = None  # the fixed construct around the sequence: flanks it carries, or that the model adds
    strands: str
    notes: str | None = None


class TargetInfo(_Card):
    """One output: its name, units and what ``predict`` returns for it (the original scale); ``range``: ``[lo, hi]``
    that its predictions on held-out data fall in (``None``: unbounded on that side; tested against the model's own
    predictions), ``classes``: a classifier's ``[class 0, class 1]`` (``predict`` gives P(class 1))."""

    name: str
    units: str
    scale: str
    range: list[float | None] | None = Field(None, min_length=2, max_length=2)
    classes: list[str] | None = Field(None, min_length=2, max_length=2)

    def predicts(self) -> str:
        """What the output is, in a few words: ``expression in [-2, 2]``, ``probability of high (vs low), column
        label in [0, 1]``."""
        lo, hi = self.range or (None, None)
        span = f" in [{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]" \
            if self.range else ""
        if self.classes:
            return f"probability of {self.classes[1]} (vs {self.classes[0]}), column {self.name}{span}"
        return f"{self.name}{span}"


class TrainingData(_Card):
    """The data the weights were fitted on and how they were split."""

    data: str
    split: str
    n_sequences: int | None = None


class HeldOutMetrics(_Card):
    """Metrics on data the model never saw, and the command that produced them (``source`` says whether the
    project measured them or the authors reported them)."""

    data: str
    metrics: dict[str, float]
    command: str
    source: Literal["project", "published"] = "project"
    n: int | None = None


class GenomeRules(_Card):
    """For gene-window models: the genome build, the annotation and how each gene's window is cut."""

    build: str
    annotation: str
    windows: str
    tss: str


class ModelCard(_Card):
    """A pretrained model's card. ``source``: ``project`` (trained by seq2expr on public data; its weights ship in
    the package) or ``published`` (the authors' weights, converted by ``seq2expr models import <importer>``)."""

    name: str
    version: str
    summary: str
    source: Literal["project", "published"]
    licence: str
    citation: str
    architecture: str
    parameters: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    input: InputContract
    targets: list[TargetInfo]
    training: TrainingData
    metrics: list[HeldOutMetrics] = Field(default_factory=list)
    genome: GenomeRules | None = None
    files: list[CardFile] = Field(default_factory=list)
    storage: str | None = None  # how the shipped weights are stored, e.g. float16 and how close they predict
    importer: str | None = None  # the `models import` KIND that converts the original checkpoint
    requires: str | None = None  # an optional extra the architecture needs (e.g. seq2expr[human])

    @property
    def origin(self) -> str:
        """Who trained the weights, in words that cannot be confused: a published import or project-trained."""
        return "published import (the authors' weights)" if self.source == "published" else \
            "project-trained (seq2expr, public data)"

    @property
    def title(self) -> str:
        return f"{self.name} {self.version}"

    def brief(self) -> dict[str, str]:
        """Name, version, licence and citation: what a result or a report says about its model."""
        return {"name": self.name, "version": self.version, "licence": self.licence, "citation": self.citation}

    def lines(self) -> list[tuple[str, str]]:
        """``(field, text)`` rows for ``seq2expr models info``."""
        inp = self.input
        rows = [("summary", self.summary), ("version", self.version), ("origin", self.origin),
                ("licence", self.licence), ("citation", self.citation),
                ("architecture", self.architecture + (f" ({self.parameters:,} parameters)" if self.parameters else "")),
                ("params", ", ".join(f"{k}={v}" for k, v in self.params.items()) or "-"),
                ("input", f"{inp.length} nt one-hot, channels {inp.alphabet}, N = {inp.n_value:g}"),
                ("context", inp.context or "-"), ("strands", inp.strands)]
        if inp.notes:
            rows.append(("input notes", inp.notes))
        rows += [(f"target {t.name}", f"{t.predicts()}: {t.units}; {t.scale}") for t in self.targets]
        rows.append(("training", f"{self.training.data}; split: {self.training.split}"
                     + (f"; {self.training.n_sequences:,} sequences" if self.training.n_sequences else "")))
        for m in self.metrics:
            vals = ", ".join(f"{k} {v:.4g}" for k, v in named_metrics(m.metrics).items())
            rows.append((f"held out ({m.source})", f"{m.data}: {vals}" + (f" (n={m.n:,})" if m.n else "")))
            rows.append(("  command", m.command))
        if self.genome:
            g = self.genome
            rows += [("genome", f"{g.build}; annotation {g.annotation}"), ("windows", g.windows), ("TSS", g.tss)]
        for f in self.files:
            check = f"sha256 {f.sha256}" if f.sha256 else (f"git blob {f.git_blob}" if f.git_blob else "no checksum")
            size = f"{f.size:,} bytes" if f.size is not None else "size unknown"
            rows.append((f"file {f.name}", f"{f.url or '-'} ({size}; {check})"))
        if self.storage:
            rows.append(("weights", self.storage))
        if self.importer:
            rows.append(("convert", f"seq2expr models import {self.importer} WEIGHTS -o DIR"))
        if self.requires:
            rows.append(("requires", f"pip install '{self.requires}'"))
        return rows


def card_data(card: ModelCard | dict | None, lineage: Any = None) -> dict:
    """What a report shows of its model: ``card`` (name, version, licence, citation) and, for a fine-tuned model,
    ``lineage`` (its parent: a saved model's lineage or its dict); each None when absent."""
    brief = None if card is None else card.brief() if isinstance(card, ModelCard) else dict(card)
    lin = None
    if lineage is not None:
        lin = lineage if isinstance(lineage, dict) else lineage.model_dump()
        lin = {k: lin.get(k) for k in ("name", "version", "parent", "weights_sha256", "head", "freeze", "data")}
        lin["weights_sha256"] = str(lin["weights_sha256"] or "")
    return {"card": brief, "lineage": lin}
