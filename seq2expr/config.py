"""Typed configuration, loaded from YAML with ``key.sub=value`` overrides; the bottom layer (imports only
:mod:`seq2expr.files`, the file-error helper, and :mod:`seq2expr.suggest`, the "did you mean" hint, below it).

One :class:`RunConfig` drives ``seq2expr train``: where the data is and how to read, encode, label and
split it (:class:`DataConfig`), which architecture (:class:`ModelConfig`) and how to train it
(:class:`TrainConfig`). The resolved config is written beside the outputs so a run can be repeated, and a
saved model keeps its ``data`` and ``train`` sections (:mod:`seq2expr.inference.saved`).
The sequence policy (:class:`SequencePolicy`) is defined here, once; :mod:`seq2expr.data.sequences` applies it.
Shipped run configs live in the package (``seq2expr/configs/*.yaml``): :func:`shipped_configs`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from seq2expr.files import FileError, problem, reading
from seq2expr.suggest import did_you_mean

Side = Literal["left", "right", "centre"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """An unknown key is named with the closest known one ("did you mean"), not only "extra inputs"."""
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and key not in cls.model_fields:
                    what = "top-level key" if cls.__name__ == "RunConfig" else "key"
                    raise ValueError(unknown_key(key, list(cls.model_fields), what))
        return data


def unknown_key(key: str, known: list[str], what: str = "key") -> str:
    """``unknown key 'x'; did you mean 'y'?`` (:func:`seq2expr.suggest.did_you_mean`) and the known ones."""
    return f"unknown {what} {key!r}{did_you_mean(key, known)} (known: {', '.join(known)})"


class SequencePolicy(_Strict):
    """How raw strings are validated, sized and one-hot encoded (see :mod:`seq2expr.data.sequences`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    length: int | None = Field(None, ge=1)  # None: all sequences must already share one length
    pad: Side = "right"  # where N padding goes when a sequence is short
    truncate: Side = "right"  # which end is cut when a sequence is long
    iupac: Literal["reject", "n"] = "reject"  # other IUPAC codes: rejected, or read as N
    n_value: float = 0.0  # one-hot value of N in each of the 4 channels (0 or 0.25)

    def to_dict(self) -> dict:
        return self.model_dump()

    @classmethod
    def from_dict(cls, d: dict | None) -> SequencePolicy:
        return cls.model_validate(d or {})


class TargetConfig(_Strict):
    """How measured values become training targets."""

    transform: Literal["none", "log1p", "log2p1", "log10p1"] = "none"
    standardize: bool = False  # z-score with the training split's mean/std (stored, inverted at predict)
    # classification labels from a continuous target: quantiles (DeepCRE: 0.25/0.75, middle dropped)
    # or a threshold; None keeps the column as is (already 0/1 for classification)
    label_quantiles: tuple[float, float] | None = None
    label_threshold: float | None = None

    @model_validator(mode="after")
    def _check_labels(self) -> TargetConfig:
        if self.label_quantiles is not None:
            lo, hi = self.label_quantiles
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"label_quantiles must be [lo, hi] with 0 <= lo <= hi <= 1, got "
                                 f"{list(self.label_quantiles)}")
            if self.label_threshold is not None:
                raise ValueError("set label_quantiles or label_threshold, not both")
        return self


class SplitConfig(_Strict):
    """Train/validation/test assignment; see :mod:`seq2expr.data.splits`."""

    method: Literal["random", "group", "ids", "column", "similarity", "predefined", "coordinates"] = "similarity"
    valid_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    seed: int = 0
    group_column: str | None = None  # method=group: e.g. chromosome, species, family
    valid_groups: list[str] | None = None  # explicit held-out groups (else drawn at random)
    test_groups: list[str] | None = None
    # method=group: draw validation (valid_groups, or folds) from this column's groups among the non-test rows,
    # e.g. test = another species (group_column=species) and validation = held-out chromosomes of the
    # training species (valid_group_column=chromosome), as DeepCRE's cross-species set-up
    valid_group_column: str | None = None
    split_column: str | None = None  # method=column: a column holding train/valid/test
    ids_files: dict[str, str] | None = None  # method=ids: {"valid": path, "test": path}
    # method=similarity: sequences sharing any k-mer minimiser signature are kept together
    similarity_k: int = Field(20, ge=1)
    max_mismatch_fraction: float = Field(0.1, ge=0.0, le=1.0)
    # method=coordinates: tiles (chrom/start/end columns) overlapping or closer than min_gap bp stay in one split
    min_gap: int = Field(0, ge=0)
    # k-fold: the non-test units of `method` (similarity clusters, groups or rows) are dealt into `folds`
    # balanced folds and fold `fold` validates (valid_fraction is then 1/folds); train.ensemble_folds
    # trains one member per fold so that the ensemble learns from every non-test row
    folds: int | None = None
    fold: int = 0

    @field_validator("valid_groups", "test_groups", mode="before")
    @classmethod
    def _group_names(cls, v: Any) -> Any:
        """Group values as the table holds them, numbers too (``test_groups: [9]``: chromosome 9); compared as text."""
        if isinstance(v, str | int | float):
            v = [v]
        if isinstance(v, list | tuple):
            return [str(g) if isinstance(g, int | float) and not isinstance(g, bool) else g for g in v]
        return v

    @model_validator(mode="after")
    def _check_folds(self) -> SplitConfig:
        if self.folds is not None:
            if self.folds < 2:
                raise ValueError(f"split.folds must be at least 2, got {self.folds}")
            if not 0 <= self.fold < self.folds:
                raise ValueError(f"split.fold must be in 0..{self.folds - 1}, got {self.fold}")
            if self.method not in ("similarity", "group", "random", "coordinates"):
                raise ValueError("split.folds works with methods similarity, group, random and coordinates, "
                                 f"not {self.method!r}")
            if self.valid_groups:
                raise ValueError("split.folds draws the validation groups itself: drop split.valid_groups")
        if self.valid_group_column and self.method != "group":
            raise ValueError("split.valid_group_column works with split.method=group")
        if self.min_gap and self.method != "coordinates":
            raise ValueError("split.min_gap works with split.method=coordinates")
        return self


class DataConfig(_Strict):
    """Where the sequences and targets come from."""

    dataset: str | None = None  # a registry entry (e.g. dream2022); else `path`
    path: str | None = None  # TSV/CSV(.gz), parquet, or FASTA
    values: str | None = None  # values table joined by ID when `path` is FASTA
    valid_path: str | None = None  # optional separate validation file (same format): the validation split
    test_path: str | None = None  # optional separate test file (same format): the test split
    id_column: str | None = None  # None: row number is the ID
    sequence_column: str = "sequence"
    target_columns: list[str] = Field(default_factory=lambda: ["expression"])
    group_columns: list[str] = Field(default_factory=list)  # kept for per-group metrics
    policy: SequencePolicy = Field(default_factory=SequencePolicy)
    target: TargetConfig = Field(default_factory=TargetConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    cache_dir: str | None = None  # encoded memmap cache (default: $SEQ2EXPR_CACHE/encoded)
    # a sequence (either strand) of test_path that is also in path/valid_path: an error, or with dedupe dropped
    # from the training side (counted in the log)
    dedupe: bool = False


class Positions(BaseModel):
    """How a track model's output along the window (``(B, P, T)``: ``T`` tracks in ``P`` bins) is read as one value
    per target: the ``bins`` kept and how they are joined (``aggregate``). ``bins``: ``centre:N`` (``N`` bins
    around the middle one: the TSS of a window centred on it), ``all``, or indices and inclusive ranges
    (``447,448,449``, ``447-449``). As text: ``[AGGREGATE:]BINS`` (``centre:3``, ``sum:447-449``). Applied by
    :mod:`seq2expr.inference.positions`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bins: str = "all"
    aggregate: Literal["mean", "sum", "max"] = "mean"

    @field_validator("bins")
    @classmethod
    def _bins(cls, text: str) -> str:
        parse_bins(text)
        return text.strip().lower()

    @classmethod
    def parse(cls, text: str) -> Positions:
        """``[AGGREGATE:]BINS`` (``centre:3``, ``sum:447-449``, ``max:all``)."""
        head, sep, rest = text.strip().partition(":")
        if sep and head in get_args(cls.model_fields["aggregate"].annotation):
            return cls(bins=rest, aggregate=head)
        return cls(bins=text)

    def text(self) -> str:
        """The text :meth:`parse` reads back."""
        return self.bins if self.aggregate == "mean" else f"{self.aggregate}:{self.bins}"


def parse_bins(text: str) -> tuple[str, int | tuple[int, ...] | None]:
    """``("all", None)``, ``("centre", N)`` or ``("list", indices)`` from a :class:`Positions` ``bins`` text."""
    t = text.strip().lower()
    if t == "all":
        return "all", None
    head, sep, rest = t.partition(":")
    if sep and head in ("centre", "center"):
        if not rest.isdigit() or int(rest) < 1:
            raise ValueError(f"positions {text!r}: centre:N needs a whole number of bins N >= 1")
        return "centre", int(rest)
    picked: list[int] = []
    for part in t.split(","):
        a, dash, b = part.strip().partition("-")
        if not a.isdigit() or (dash and not b.isdigit()) or (dash and int(b) < int(a)):
            raise ValueError(f"positions {text!r}: give centre:N, all, or bins like 447,448 or 447-449")
        picked.extend(range(int(a), int(b) + 1) if dash else [int(a)])
    return "list", tuple(picked)


class ModelConfig(_Strict):
    name: str = "legnet"
    params: dict[str, Any] = Field(default_factory=dict)
    positions: Positions | None = None  # a track model (B, P, T): the bins read as its outputs (training included)


class TrainConfig(_Strict):
    task: Literal["regression", "classification"] = "regression"
    loss: Literal["mse", "l1", "huber", "bce"] = "mse"
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(3e-3, ge=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    grad_clip: float | None = 1.0
    rc_augment: bool = True  # random reverse complement of training batches
    shift_augment: int = Field(0, ge=0)  # random shift of up to this many bases (N fill)
    rc_average: bool = True  # average forward and reverse-complement predictions at eval/predict
    early_stopping_patience: int | None = Field(5, ge=0)  # on validation Pearson r (regression) or AUROC
    # the weights kept: the epoch with the best validation score, or the last epoch. With a one-cycle schedule and
    # a fixed number of epochs the last weights are the annealed ones; on a small validation set "best" can pick a
    # mid-schedule spike (a DREAM member chosen at epoch 8 of 20 scored 0.79 private r^2, its last epoch 0.84)
    keep: Literal["best", "last"] = "best"
    # batch-norm statistics of the best weights recomputed on this many training sequences (0: keep the
    # training-time running averages); see seq2expr.training.precise_bn
    precise_bn: int = Field(20000, ge=0)
    seed: int = 0
    num_workers: int = Field(0, ge=0)
    # a wall-clock cap per member (Lightning's Timer). Off by default and in every shipped config: a run it cuts
    # trains fewer steps on a slower or busier machine. A cut run is marked truncated (finished.json,
    # metrics.json, the saved model's fit record); a member cut before one epoch is an error, not a model
    max_time_minutes: float | None = Field(None, gt=0)
    threads: int | None = Field(None, ge=1)  # torch intra-op threads (None: torch default)
    ensemble_seeds: list[int] | None = None  # train one model per seed and average
    # cross-validation ensemble: one member per listed fold of data.split.folds (validated on that fold,
    # seed = seed + fold); validation metrics are then out-of-fold
    ensemble_folds: list[int] | None = None
    # where and how Lightning trains (passed to lightning.Trainer): numeric precision ("auto": bf16-mixed where the
    # device runs bf16 natively - a GPU that supports it, a CPU with AVX512-BF16 or AMX - else "32"; or "32",
    # "bf16-mixed", "16-mixed"; weights stay fp32), accelerator ("auto", "cpu", "gpu"...), devices per node
    # ("auto", 1, 4, "0,1"), strategy ("auto" or "ddp": one process per device, each with its share of every
    # epoch's batches) and nodes. Several processes multiply the effective batch size by their number.
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = "auto"
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    # fine-tuning (seq2expr.training.transfer): start from a saved model (zoo:NAME or a model folder), whose
    # architecture, sequence policy and strand handling the run inherits. init_members: for an ensemble parent,
    # "all" fine-tunes member i from the parent's member i (the ensemble keeps its size), an index seeds every
    # member from that one. head: keep the parent's output head (same number of targets and task), or a new one
    # freshly initialised; auto decides. target_transform: the parent's fitted transform, or refit on the new data
    # (auto: the parent's when the head is kept). freeze: the trunk (every tensor but the head) frozen, its batch
    # norms in eval mode, until unfreeze_after_epochs epochs have passed (None: for good); auto freezes where the
    # architecture asks for it (Enformer, Borzoi). trunk_lr_factor scales the trunk's learning rate.
    init: str | None = None
    init_members: Literal["all"] | Annotated[int, Field(ge=0)] = "all"
    head: Literal["auto", "keep", "new"] = "auto"
    target_transform: Literal["auto", "parent", "refit"] = "auto"
    freeze: Literal["auto", "none", "trunk"] = "auto"
    unfreeze_after_epochs: int | None = Field(None, ge=1)
    trunk_lr_factor: float = Field(1.0, gt=0.0)

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_name(cls, v: Any) -> Any:
        """YAML's ``32`` is an int; ``bf16``/``16`` are the usual short names of the mixed modes."""
        v = str(v)
        return {"32-true": "32", "fp32": "32", "bf16": "bf16-mixed", "16": "16-mixed"}.get(v, v)

    @model_validator(mode="after")
    def _check_transfer(self) -> TrainConfig:
        """Fine-tuning settings mean nothing without a parent: name them, not ignore them."""
        if self.init is None:
            defaults = {"init_members": "all", "head": "auto", "target_transform": "auto", "freeze": "auto",
                        "unfreeze_after_epochs": None, "trunk_lr_factor": 1.0}
            stray = [k for k, v in defaults.items() if getattr(self, k) != v]
            if stray:
                raise ValueError(f"{', '.join(f'train.{k}' for k in stray)} set without train.init (the saved model "
                                 "to fine-tune: zoo:NAME or a model folder)")
        if self.unfreeze_after_epochs is not None and self.freeze == "none":
            raise ValueError("train.unfreeze_after_epochs needs a frozen trunk (train.freeze: trunk)")
        return self

    @model_validator(mode="after")
    def _check_ensembles(self) -> TrainConfig:
        if self.ensemble_seeds and self.ensemble_folds:
            raise ValueError("set train.ensemble_seeds or train.ensemble_folds, not both")
        for name in ("ensemble_seeds", "ensemble_folds"):
            v = getattr(self, name)
            if v is not None and (not v or len(set(v)) != len(v)):
                raise ValueError(f"train.{name} must list distinct values, got {v}")
        return self


class TuneConfig(_Strict):
    """Hyper-parameter search (``seq2expr tune``); see :mod:`seq2expr.training.tune` for the space syntax."""

    params: dict[str, str] = Field(default_factory=dict)  # e.g. {"train.lr": "log:1e-4:1e-2"}
    trials: int = Field(20, ge=1)  # in all, counting those already in the study
    timeout_minutes: float | None = None  # stop starting new trials after this long (this call)
    prune: bool = True  # stop trials whose validation metric falls below the median of earlier trials
    prune_after_trials: int = Field(3, ge=0)  # ... once this many trials have finished
    prune_after_epochs: int = Field(2, ge=0)  # ... and not before this epoch


class InterpretConfig(_Strict):
    """Defaults of ``seq2expr interpret`` for this run's model (kept in the saved model's ``config.json``)."""

    # JASPAR CORE taxonomic groups searched for matches: one ("plants"), several ("plants,vertebrates" or a
    # list) or "all"; None: all. The names are checked when interpreting (seq2expr.interpret.motifs.TAXA).
    taxon: str | list[str] | None = None


class RunConfig(_Strict):
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    interpret: InterpretConfig = Field(default_factory=InterpretConfig)
    output_dir: str = "runs/default"
    _source: str | None = PrivateAttr(None)  # the file it was read from (load_config), for messages

    @property
    def source(self) -> str | None:
        """The config file this config was read from (None when built in code)."""
        return self._source

    @model_validator(mode="after")
    def _check_fold_ensemble(self) -> RunConfig:
        folds = self.train.ensemble_folds
        if folds:
            k = self.data.split.folds
            if not k:
                raise ValueError("train.ensemble_folds needs data.split.folds (the number of folds)")
            bad = [f for f in folds if not 0 <= f < k]
            if bad:
                raise ValueError(f"train.ensemble_folds {bad} outside 0..{k - 1} (data.split.folds={k})")
        return self


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"override value {text!r}: {problem(err)}") from None


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key.sub=value")
        key, value = item.split("=", 1)
        node = raw
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {p!r} is not a section")
        node[parts[-1]] = _parse_value(value)
    return raw


def shipped_configs() -> dict[str, Path]:
    """The run configs shipped inside the package, by name (``dream2022`` -> ``.../configs/dream2022.yaml``)."""
    folder = resources.files("seq2expr") / "configs"
    if not folder.is_dir():
        return {}
    return {Path(f.name).stem: Path(str(f)) for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith(".yaml")}


def config_path(name_or_path: str | Path) -> Path:
    """A config file: the path when it exists, else the shipped config of that name (``dream2022``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.is_dir():
        raise FileError(path, "is a folder, not a config file: give a run config YAML (or a shipped config's "
                              "name: seq2expr configs list)")
    shipped = shipped_configs()
    key = path.name.removesuffix(".yaml") if path.parent == Path(".") or path.parent.name == "configs" else None
    if key in shipped:
        return shipped[key]
    raise FileNotFoundError(f"{name_or_path}: no such config file, and no shipped config of that name "
                            f"(shipped: {', '.join(shipped) or 'none'})")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config (a path, or a shipped config's name; defaults when None) and apply overrides."""
    raw: dict = {}
    if path is not None:
        path = config_path(path)
        with reading(path):  # unreadable, binary, or not YAML: one line naming the file
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if raw is None:
            raise FileError(path, "empty config: it sets nothing (a run config needs at least data.path or "
                                  "data.dataset; `seq2expr configs show table` is an example)")
        if not isinstance(raw, dict):
            raise FileError(path, "the top level of a config must be a mapping (key: value lines)")
    apply_overrides(raw, overrides or [])
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as err:
        if path is None:
            raise
        raise FileError(path, validation_message(err)) from None
    cfg._source = None if path is None else str(path)
    return cfg


def validation_message(err: ValidationError) -> str:
    """One line for a pydantic validation error: its first problem, where it is (``data.split``), and how many
    more there are."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    text = first["msg"].removeprefix("Value error, ")
    if first["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        text += f" (got {first.get('input')!r})"  # the value beside the range it breaks
    return f"{where}: {text}{more}" if where else f"{text}{more}"


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
