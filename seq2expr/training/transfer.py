"""Fine-tuning: a run that starts from a saved model (``train.init``: ``zoo:NAME`` or a model folder).

Three steps, each said once:

* :func:`resolve_parent` (before the data are read): the parent is loaded and the run inherits its contract: the
  architecture and its parameters (a ``model`` section that disagrees is one error line listing the differences),
  the sequence policy (the length too, unless the architecture takes any length), the strand handling and, for an
  ensemble parent fine-tuned member by member (``train.init_members: all``), the number of members.
* :func:`adapt` (once the data are read): the head is kept or replaced (``train.head``), the target transform is the
  parent's or refitted (``train.target_transform``), the sequence lengths are checked against the parent's, and a
  :class:`Transfer` holds the plan and the :class:`~seq2expr.inference.Lineage` the saved model carries.
* :meth:`Transfer.member` gives the member trainer a :class:`MemberInit`: the parent's weights (a strict name and
  shape check), the head's tensor names and what is frozen (:mod:`seq2expr.training.module`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from seq2expr.config import ModelConfig, RunConfig
from seq2expr.inference import Lineage, SavedModel, load_model, model_path, trained_construct
from seq2expr.models import (
    EnsembleAverage,
    build_model,
    freezes_trunk_by_default,
    get_model_class,
    head_names,
    is_head_tensor,
    new_head_params,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parent:
    """A loaded parent model, as ``train.init`` named it, with the sha256 of its weights file."""

    spec: str
    saved: SavedModel
    weights_sha256: str

    @property
    def members(self) -> list[nn.Module]:
        m = self.saved.model
        return list(m.members) if isinstance(m, EnsembleAverage) else [m]

    @property
    def name(self) -> str:
        """The card's name, else the folder's absolute path."""
        card = self.saved.config.card
        return card.name if card is not None else str(Path(self.saved.path or self.spec).resolve())

    @property
    def version(self) -> str | None:
        card = self.saved.config.card
        return card.version if card is not None else None

    def length_agnostic(self) -> bool:
        """Whether the parent's weights fit its architecture at another length (global pooling): built on the meta
        device at twice its length, every tensor has the same shape."""
        spec = self.saved.config.model
        try:
            with torch.device("meta"):
                other = build_model(spec.name, seq_len=2 * spec.seq_len, n_targets=spec.n_targets, **spec.params)
        except (ValueError, TypeError, KeyError, RuntimeError, NotImplementedError):
            return False
        own = self.members[0].state_dict()
        return all(k in own and tuple(v.shape) == tuple(own[k].shape) for k, v in other.state_dict().items())


def load_parent(spec: str | Path) -> Parent:
    """Load ``zoo:NAME`` or a model folder as a parent, hashing its weights file (the lineage's sha256)."""
    from seq2expr.inference.saved import WEIGHTS

    saved = load_model(str(spec))
    weights = model_path(str(spec)) / WEIGHTS
    h = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return Parent(str(spec), saved, h.hexdigest())


def _effective_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the constructor's defaults filled in, as JSON values (lists, not tuples)."""
    sig = inspect.signature(get_model_class(name).__init__)
    full = {k: p.default for k, p in sig.parameters.items()
            if p.default is not inspect.Parameter.empty and k not in ("seq_len", "n_targets")}
    full.update(params)
    return json.loads(json.dumps(full, default=list))


def _model_differences(cfg: RunConfig, parent: Parent) -> list[str]:
    """What a ``model`` section the user wrote says against the parent's architecture (empty: it agrees)."""
    spec = parent.saved.config.model
    if "model" not in cfg.model_fields_set:
        return []
    mine = cfg.model
    diffs = []
    if "name" in mine.model_fields_set and mine.name != spec.name:
        diffs.append(f"name {mine.name!r} (the parent's: {spec.name!r})")
        return diffs
    theirs = [_effective_params(spec.name, p) for p in (spec.params, new_head_params(spec.name, spec.params))]
    given = json.loads(json.dumps(mine.params, default=list))
    for key, value in given.items():
        if all(t.get(key, object()) != value for t in theirs):
            diffs.append(f"params.{key} {value!r} (the parent's: {theirs[0].get(key, 'not a parameter')!r})")
    return diffs


def resolve_parent(cfg: RunConfig) -> tuple[RunConfig, Parent | None]:
    """The run config inheriting the contract of the parent ``train.init`` names, and the parent (None without
    ``train.init``). See the module docstring for what is inherited and what is refused."""
    t = cfg.train
    if t.init is None:
        return cfg, None
    parent = load_parent(t.init)
    pc = parent.saved.config
    diffs = _model_differences(cfg, parent)
    if diffs:
        raise ValueError(f"train.init {t.init} is a {pc.model.name!r} model and the model section disagrees: "
                         f"{'; '.join(diffs)} (drop the model section: the architecture comes from the parent)")
    params = cfg.model.params if "model" in cfg.model_fields_set and cfg.model.params else pc.model.params
    model = ModelConfig(name=pc.model.name, params=dict(params), positions=cfg.model.positions or pc.model.positions)
    data = _inherit(cfg.data, {"policy": _policy(cfg, parent), "target": _target(cfg, parent)})
    strands = {k: getattr(pc.train, k) for k in ("rc_average", "rc_augment") if k not in t.model_fields_set}
    train = _inherit(t, {**strands, **_members(cfg, parent)})
    return cfg.model_copy(update={"model": model, "data": data, "train": train}), parent


def _inherit(obj: BaseModel, values: dict[str, Any]) -> Any:
    """``obj`` with ``values`` filled in as inherited from the parent: they do not count as set by the user
    (``model_fields_set``), so a later step still tells the user's own choices from the parent's."""
    return type(obj).model_construct(_fields_set=set(obj.model_fields_set) - set(values), **{**dict(obj), **values})


def _target(cfg: RunConfig, parent: Parent):
    """The target transform's kind (``transform``, ``standardize``) is the parent's unless the user set it, for a
    regression run from a regression parent; it is fitted on the new data, or replaced by the parent's fitted one
    (:func:`adapt`)."""
    mine, pc = cfg.data.target, parent.saved.config
    if cfg.train.task != "regression" or pc.task != "regression":
        return mine
    return _inherit(mine, {k: getattr(pc.data.target, k) for k in ("transform", "standardize")
                           if k not in mine.model_fields_set})


def _policy(cfg: RunConfig, parent: Parent):
    """The parent's sequence policy, with the fields the user set kept; N's one-hot value must be the parent's,
    and the length too unless the architecture takes any length (then the user's, or the data's)."""
    theirs = parent.saved.config.policy
    mine = cfg.data.policy
    given = mine.model_fields_set
    if "n_value" in given and mine.n_value != theirs.n_value:
        raise ValueError(f"data.policy.n_value {mine.n_value:g}: the parent {cfg.train.init} encodes N as "
                         f"{theirs.n_value:g} in every channel (drop the setting: the input contract is the parent's)")
    inherited = {k: getattr(theirs, k) for k in type(theirs).model_fields if k not in given}
    if "length" not in given:  # the model's length; any length the data share for one that takes any (adapt notes it)
        inherited["length"] = None if parent.length_agnostic() else parent.saved.config.seq_len
    return _inherit(mine, inherited)


def _members(cfg: RunConfig, parent: Parent) -> dict[str, Any]:
    """The ensemble a member-by-member fine-tune of an ensemble parent needs (``train.ensemble_seeds`` of the
    parent's size when the config sets none); a member count that differs, or a member index past the parent's, is
    refused."""
    t, k = cfg.train, len(parent.members)
    if t.init_members != "all":
        if t.init_members >= k:
            raise ValueError(f"train.init_members {t.init_members}: the parent {t.init} has {k} member(s) "
                             f"(0..{k - 1})")
        return {}
    if k == 1:
        return {}
    planned = len(t.ensemble_seeds or t.ensemble_folds or [])
    if planned == 0:
        seeds = [t.seed + i for i in range(k)]
        log.info("train.init %s is an ensemble of %d members; each is fine-tuned from its counterpart "
                 "(train.ensemble_seeds %s; train.init_members: I seeds every member from member I)", t.init, k, seeds)
        return {"ensemble_seeds": seeds}
    if planned != k:
        raise ValueError(f"train.init_members: all fine-tunes each of the parent's {k} members from its counterpart, "
                         f"but the run trains {planned}; train {k}, or set train.init_members to one member's index")
    return {}


@dataclass(frozen=True)
class MemberInit:
    """What one member starts from: the parent's weights, which tensors are the head, and what is frozen."""

    state: dict[str, torch.Tensor]
    parent_heads: tuple[str, ...]
    head: str  # keep | new
    freeze: str  # none | trunk
    unfreeze_after_epochs: int | None
    trunk_lr_factor: float
    fingerprint: dict[str, Any]

    def apply(self, model: nn.Module, where: str) -> tuple[str, ...]:
        """Load the parent's weights into ``model`` (a fresh build: a new head keeps its initialisation); a tensor
        missing, left over or of another shape is one error naming them. Returns ``model``'s head names."""
        heads = head_names(model)
        own = model.state_dict()
        need = [k for k in own if self.head == "keep" or not is_head_tensor(k, heads)]
        missing = [k for k in need if k not in self.state]
        shapes = [f"{k} {tuple(self.state[k].shape)} vs {tuple(own[k].shape)}" for k in need
                  if k in self.state and self.state[k].shape != own[k].shape]
        spare = [k for k in self.state if k not in need
                 and not (self.head == "new" and is_head_tensor(k, self.parent_heads))]
        problems = [f"{what} {_few(keys)}" for what, keys in
                    (("missing", missing), ("of another shape", shapes), ("not used", spare)) if keys]
        if problems:
            raise ValueError(f"{where}: the parent's weights do not fit this model: tensors {'; '.join(problems)}")
        model.load_state_dict({k: self.state[k].detach().clone() for k in need}, strict=False)
        return heads


def _few(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


@dataclass(frozen=True)
class Transfer:
    """The fine-tuning plan of a run, made by :func:`adapt`."""

    parent: Parent
    head: str  # keep | new
    head_reason: str
    target_transform: str  # parent | refit
    transform_reason: str
    freeze: str  # none | trunk
    unfreeze_after_epochs: int | None
    trunk_lr_factor: float
    init_members: str | int

    def member(self, index: int) -> MemberInit:
        """The start of the run's member ``index`` (its counterpart, or the one member chosen)."""
        k = len(self.parent.members)
        i = index if self.init_members == "all" else int(self.init_members)
        i = min(i, k - 1)  # a single parent seeds every member
        state = self.parent.members[i].state_dict()
        return MemberInit(state=state, parent_heads=head_names(self.parent.members[i]), head=self.head,
                          freeze=self.freeze, unfreeze_after_epochs=self.unfreeze_after_epochs,
                          trunk_lr_factor=self.trunk_lr_factor,
                          fingerprint={"parent": self.parent.weights_sha256, "member": i, "head": self.head})

    def lineage(self, cfg: RunConfig, bundle, model: nn.Module) -> Lineage:
        """The saved model's record of this plan; parameter counts from ``model`` (one member)."""
        total = sum(p.numel() for p in model.parameters())
        frozen = trunk_size(model, head_names(model)) if self.freeze == "trunk" else 0
        k = len(self.parent.members)
        members = (f"member i of the parent's {k} -> member i" if self.init_members == "all" and k > 1 else
                   f"member {0 if self.init_members == 'all' else self.init_members} of {k} -> every member")
        pc = self.parent.saved.config
        return Lineage(parent=self.parent.spec, name=self.parent.name, version=self.parent.version,
                       weights_sha256=self.parent.weights_sha256,
                       card=pc.card.brief() if pc.card is not None else None, architecture=pc.model.name,
                       members=members, head=self.head, head_reason=self.head_reason,
                       target_transform=self.target_transform, target_transform_reason=self.transform_reason,
                       freeze=self.freeze,
                       unfreeze_after_epochs=self.unfreeze_after_epochs, trunk_lr_factor=self.trunk_lr_factor,
                       trainable_parameters=total - frozen, frozen_parameters=frozen,
                       data=cfg.data.dataset or cfg.data.path or "?", data_hash=bundle.data_hash,
                       parent_lineage=pc.lineage)


def _head(cfg: RunConfig, parent: Parent, bundle) -> tuple[str, str]:
    """``train.head`` decided: (keep | new, the reason said in the log and the lineage)."""
    pc = parent.saved.config
    n, task = len(bundle.target_names), cfg.train.task
    same = n == pc.model.n_targets and task == pc.task
    theirs = f"{pc.model.n_targets} {pc.task} target(s) {pc.target_names}"
    mine = f"{n} {task} target(s) {list(bundle.target_names)}"
    if cfg.train.head == "keep":
        if not same:
            raise ValueError(f"train.head: keep needs the parent's outputs, but the parent {cfg.train.init} predicts "
                             f"{theirs} and the data have {mine}; set train.head: new")
        return "keep", f"kept as asked ({theirs})"
    if cfg.train.head == "new":
        return "new", f"new as asked (the parent's: {theirs}; this run's: {mine})"
    if same:
        return "keep", f"auto: kept, the data have the parent's number of targets and task ({mine})"
    return "new", f"auto: new, the parent predicts {theirs} and the data have {mine}"


def _transform(cfg: RunConfig, parent: Parent, head: str, bundle) -> tuple[str, str]:
    """``train.target_transform`` decided: (parent | refit, why). ``auto`` takes the parent's fitted transform when
    the head is kept, unless the user chose another kind of transform, or the data's targets are plainly in other
    units than the parent's (:func:`_other_units`): then it is refitted on the data, and the reason says so."""
    pc, t = parent.saved.config, cfg.train
    regression = t.task == "regression" and pc.task == "regression"
    if t.target_transform == "parent" and not regression:
        raise ValueError("train.target_transform: parent applies a regression parent's target transform to "
                         "regression targets; this run or its parent is a classifier")
    units = _other_units(parent, bundle) if regression else None
    if t.target_transform == "parent":
        if units:
            log.warning("train.init %s: %s; if they are in other units than the parent's, set "
                        "train.target_transform: refit", t.init, units)
        return "parent", "the parent's, as asked"
    if t.target_transform == "refit":
        return "refit", "fitted on this run's training rows, as asked"
    mine, theirs = cfg.data.target, pc.data.target
    if bool({"transform", "standardize"} & mine.model_fields_set) and \
            (mine.transform, mine.standardize) != (theirs.transform, theirs.standardize):
        return "refit", "fitted on this run's training rows (data.target sets another transform than the parent's)"
    if head != "keep" or not regression:
        return "refit", "fitted on this run's training rows (a new head)"
    if units:
        return "refit", f"fitted on this run's training rows: {units} (other units; train.target_transform: parent " \
                        "keeps the parent's)"
    return "parent", "the parent's (the head is kept)"


def _other_units(parent: Parent, bundle) -> str | None:
    """Why the data's training targets look like other units than the parent's (None: they do not): on the parent's
    standardised scale, their mean is more than 3 from 0 or their sd outside 1/3..3."""
    transform = parent.saved.config.target_transform
    if transform is None or not transform.standardize:
        return None
    y = transform.apply(bundle.raw_targets[np.asarray(bundle.splits["train"])])
    mean, sd = float(np.nanmean(y)), float(np.nanstd(y))
    if abs(mean) <= 3 and 1 / 3 <= sd <= 3:
        return None
    return f"on the parent's scale the training targets have mean {mean:.2f} and sd {sd:.2f} (the parent's: 0 and 1)"


def adapt(cfg: RunConfig, bundle, parent: Parent | None) -> tuple[RunConfig, Any, Transfer | None]:
    """The run config, data and fine-tuning plan once the data are read: the head and target transform decided, the
    lengths checked against the parent's, and what is frozen. Without a parent, everything as it was."""
    if parent is None:
        return cfg, bundle, None
    _check_lengths(cfg, parent, bundle)
    t, pc = cfg.train, parent.saved.config
    head, reason = _head(cfg, parent, bundle)
    log.info("train.init %s: head %s", t.init, reason)
    if head == "new":
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(
            update={"params": new_head_params(cfg.model.name, cfg.model.params)})})
    how, why = _transform(cfg, parent, head, bundle)
    if how == "parent":
        cfg, bundle = _parent_transform(cfg, parent, bundle)
    log.info("train.init %s: target transform %s", t.init, why)
    freeze = t.freeze if t.freeze != "auto" else ("trunk" if freezes_trunk_by_default(pc.model.name) else "none")
    if t.unfreeze_after_epochs is not None and freeze != "trunk":
        raise ValueError("train.unfreeze_after_epochs needs a frozen trunk (train.freeze: trunk)")
    return cfg, bundle, Transfer(parent=parent, head=head, head_reason=reason, target_transform=how,
                                 transform_reason=why, freeze=freeze,
                                 unfreeze_after_epochs=t.unfreeze_after_epochs, trunk_lr_factor=t.trunk_lr_factor,
                                 init_members=t.init_members)


def _parent_transform(cfg: RunConfig, parent: Parent, bundle):
    """The config and data with the parent's fitted target transform (the data's targets on the parent's scale)."""
    from seq2expr.data.targets import TargetTransform

    pc = parent.saved.config
    transform = pc.target_transform or TargetTransform("none", False)
    target = cfg.data.target.model_copy(update={"transform": pc.data.target.transform,
                                                "standardize": pc.data.target.standardize})
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"target": target})})
    targets = transform.apply(bundle.raw_targets).astype(np.float32)
    return cfg, dataclasses.replace(bundle, transform=transform, targets=targets)


def _check_lengths(cfg: RunConfig, parent: Parent, bundle) -> None:
    """The data's sequences against the parent's length: another length is refused for a fixed-length parent unless
    the config fits them on purpose (``data.policy.length``); a length-agnostic parent takes it with a note."""
    length = parent.saved.config.seq_len
    lo, hi = bundle.raw_lengths or (bundle.seq_len, bundle.seq_len)
    if bundle.seq_len != length:
        if parent.length_agnostic():
            fix = _fix(parent, lo, hi, length)
            flanks = "flanks" in fix  # the data lack the construct the parent was trained in: say so louder
            log.log(logging.WARNING if flanks else logging.INFO, "train.init %s: the parent was trained on %d nt%s and "
                    "takes any length (its weights do not depend on it); fine-tuning on %d nt%s", cfg.train.init,
                    length, _construct(parent), bundle.seq_len, f" (to keep its context: {fix})" if flanks else "")
            return
        raise ValueError(f"data.policy.length {bundle.seq_len}: the parent {cfg.train.init} takes {length} nt and its "
                         "weights fit no other length")
    set_length = "length" in cfg.data.policy.model_fields_set
    if (lo, hi) != (length, length) and not set_length:
        given = f"{lo} nt" if lo == hi else f"{lo} to {hi} nt"
        raise ValueError(f"the parent {cfg.train.init} expects {length} nt{_construct(parent)}; your sequences are "
                         f"{given}: {_fix(parent, lo, hi, length)}, or set data.policy.length: {length} (with "
                         "data.policy.pad / truncate) to fit them on purpose")


def _construct(parent: Parent) -> str:
    card = parent.saved.config.card
    context = card.input.context if card is not None else None
    return f" ({context})" if context else ""


def _fix(parent: Parent, lo: int, hi: int, length: int) -> str:
    """What to do about sequences of another length: add the parent's construct flanks when they would fit."""
    own = trained_construct(parent.saved)
    if own is not None:
        dataset, left, right = own
        if lo == hi and lo + len(left) + len(right) == length:
            return f"add the {dataset} construct's flanks to each sequence ({left} + your {lo} nt + {right})"
    return f"give sequences of {length} nt"


def trunk_size(model: nn.Module, heads: tuple[str, ...]) -> int:
    """Number of the model's parameters outside its head (the trunk)."""
    return sum(p.numel() for k, p in model.named_parameters() if not is_head_tensor(k, heads))
