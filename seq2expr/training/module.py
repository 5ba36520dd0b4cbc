"""The thin Lightning layer: a ``LightningModule`` around any registry model.

It owns the loss, the optimiser (AdamW) and its schedule, and validation metrics (Pearson/Spearman per
target averaged; AUROC/accuracy for classification) logged as ``val_pearson`` / ``val_auroc`` /
``val_loss`` for early stopping and checkpointing. The wrapped ``model`` stays a plain ``nn.Module`` so it
is exported without Lightning.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import lightning as L
import torch
import torchmetrics
from torch import nn

from seq2expr.inference import rc_forward
from seq2expr.inference.positions import Positions, along
from seq2expr.models import is_head_tensor

log = logging.getLogger(__name__)
REGRESSION_LOSSES = {"mse": nn.MSELoss, "l1": nn.L1Loss, "huber": nn.HuberLoss}


def make_loss(task: str, loss: str) -> nn.Module:
    """Loss for a task; classification always uses BCE on logits (``loss`` must be ``bce``)."""
    if task == "classification":
        if loss != "bce":
            raise ValueError(f"classification trains with loss 'bce', not {loss!r}")
        return nn.BCEWithLogitsLoss()
    if loss not in REGRESSION_LOSSES:
        raise ValueError(f"regression loss must be one of {sorted(REGRESSION_LOSSES)}, not {loss!r}")
    return REGRESSION_LOSSES[loss]()


def monitor_metric(task: str) -> str:
    """The validation metric early stopping and 'best' checkpoints follow (higher is better)."""
    return "val_auroc" if task == "classification" else "val_pearson"


class SeqModule(L.LightningModule):
    """Train ``model`` on ``(x (B, 4, L), y (B, T))`` batches.

    Fine-tuning (:mod:`seq2expr.training.transfer`) names the output head's modules (``head``); everything else is
    the trunk. The trunk learns at ``lr * trunk_lr_factor`` (a second optimiser group), and with ``freeze_trunk`` its
    parameters get no gradient (AdamW then leaves them bitwise as they were, weight decay included) and its modules
    stay in eval mode (batch norm uses its running statistics, dropout is off: the frozen trunk computes what it
    computes at inference) until ``unfreeze_after_epochs`` epochs have passed (None: for good). The state follows
    the epoch, so a resumed run freezes exactly as an uninterrupted one.
    """

    def __init__(self, model: nn.Module, *, n_targets: int, task: str = "regression", loss: str = "mse",
                 lr: float = 3e-3, weight_decay: float = 0.01, schedule: str = "onecycle", rc_average: bool = True,
                 head: Sequence[str] | None = None, trunk_lr_factor: float = 1.0, freeze_trunk: bool = False,
                 unfreeze_after_epochs: int | None = None, positions: str | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        self.model = model
        self.positions = None if positions is None else Positions.parse(positions)  # a track model's bins read
        self.task = task
        heads = tuple(head or ())
        in_trunk = (lambda k: not is_head_tensor(k, heads)) if heads else (lambda k: False)
        self._trunk_params = [p for k, p in model.named_parameters() if in_trunk(k)]
        self._head_params = [p for k, p in model.named_parameters() if not in_trunk(k)]
        self._trunk_leaves = [m for k, m in model.named_modules() if in_trunk(k) and not list(m.children())]
        self._frozen = False
        self.loss_fn = make_loss(task, loss)
        if task == "classification":
            kind = dict(task="binary") if n_targets == 1 else dict(task="multilabel", num_labels=n_targets)
            self.val_auroc = torchmetrics.AUROC(**kind)
            self.val_accuracy = torchmetrics.Accuracy(**kind)
        else:
            self.val_pearson = torchmetrics.PearsonCorrCoef(num_outputs=n_targets)
            with warnings.catch_warnings():  # it buffers the validation set: known and small enough
                warnings.filterwarnings("ignore", message=".*will save all targets and predictions.*")
                self.val_spearman = torchmetrics.SpearmanCorrCoef(num_outputs=n_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return along(self.model(x), self.positions)

    def trunk_frozen_at(self, epoch: int) -> bool:
        hp = self.hparams
        return bool(hp.freeze_trunk) and (hp.unfreeze_after_epochs is None or epoch < hp.unfreeze_after_epochs)

    def set_trunk_frozen(self, frozen: bool) -> None:
        """Freeze or unfreeze the trunk (no gradients; its modules in eval mode while frozen)."""
        self._frozen = frozen
        for p in self._trunk_params:
            p.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> SeqModule:
        super().train(mode)
        if mode and self._frozen:
            for m in self._trunk_leaves:
                m.eval()
        return self

    def on_train_epoch_start(self) -> None:
        frozen = self.trunk_frozen_at(self.current_epoch)
        if frozen != self._frozen:
            if not frozen:
                log.info("epoch %d: the trunk is unfrozen (train.unfreeze_after_epochs=%d)", self.current_epoch + 1,
                         self.hparams.unfreeze_after_epochs)
            self.set_trunk_frozen(frozen)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        out = self(x)
        loss = self.masked_loss(out, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(x))
        return loss

    def masked_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss over the known targets only: a NaN target (a missing value of a multi-target table) is left
        out, not counted as an error; the training and validation steps' loss."""
        y = y.to(out.dtype)
        mask = torch.isfinite(y)  # multi-target tables may have missing values
        if bool(mask.all()):
            return self.loss_fn(out, y)
        return self.loss_fn(out[mask], y[mask])

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        out = rc_forward(self.model, x, self.hparams.rc_average, self.positions)
        self.log("val_loss", self.masked_loss(out, y), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(x), sync_dist=True)  # under DDP: the mean over every process's batches
        out, y = out.float(), y.float()
        if self.task == "classification":
            prob, labels = torch.sigmoid(out).squeeze(-1), y.squeeze(-1).round().long()
            self.val_auroc.update(prob, labels)
            self.val_accuracy.update(prob, labels)
        else:
            pred, target = (out.squeeze(-1), y.squeeze(-1)) if out.shape[-1] == 1 else (out, y)
            self.val_pearson.update(pred, target)
            self.val_spearman.update(pred, target)

    def on_validation_epoch_end(self) -> None:
        if self.task == "classification":
            pairs = {"val_auroc": self.val_auroc, "val_accuracy": self.val_accuracy}
        else:
            pairs = {"val_pearson": self.val_pearson, "val_spearman": self.val_spearman}
        for name, metric in pairs.items():
            # NaN (e.g. constant predictions early on) becomes 0 so early stopping and checkpointing see a number
            value = torch.nan_to_num(metric.compute().float().mean(), nan=0.0)
            self.log(name, value, prog_bar=name in ("val_pearson", "val_auroc"))
            metric.reset()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # the global RNG drives dropout: store it so a resumed run continues exactly as an uninterrupted one
        checkpoint["rng_torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            checkpoint["rng_cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_torch" in checkpoint:
            torch.set_rng_state(checkpoint["rng_torch"])
        if "rng_cuda" in checkpoint and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["rng_cuda"])

    def configure_optimizers(self):
        hp = self.hparams
        groups = [{"params": self._head_params, "lr": hp.lr}]
        if self._trunk_params:  # fine-tuning: the trunk in a group of its own, at its own rate
            groups.append({"params": self._trunk_params, "lr": hp.lr * hp.trunk_lr_factor})
        opt = torch.optim.AdamW(groups, lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.schedule == "constant":
            return opt
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        if hp.schedule == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups], total_steps=steps)
        elif hp.schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        else:
            raise ValueError(f"unknown schedule {hp.schedule!r}")
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class EpochLines(L.Callback):
    """One plain log line per epoch where no progress bar is drawn (a batch job's log, ``--quiet``): the epoch, the
    losses and the validation metrics, so a long run is never silent until it ends."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        shown = {k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if v.numel() == 1}
        log.info("epoch %d/%d: %s", trainer.current_epoch + 1, self.epochs,
                 ", ".join(f"{k} {v:.4g}" for k, v in shown.items()) or "no metrics yet")


class SamplerEpochSync(L.Callback):
    """Keep the batch sampler's shuffle/augmentation epoch equal to the trainer's epoch.

    :class:`~seq2expr.data.dataset.BatchIndexSampler` counts epochs itself; after a resume it would
    start again at 0, so a resumed run would see other batches than an uninterrupted one. Also set on
    checkpoint load (our checkpoints are written at epoch ends): worker processes fetch their first
    batches before ``on_train_epoch_start``. With ``num_workers=0`` (and the RNG state stored by
    :class:`SeqModule`) a resumed run gives the same weights as an uninterrupted one.
    """

    def __init__(self, loader):
        self.loader = loader

    def _set(self, epoch: int) -> None:
        sampler = getattr(self.loader, "sampler", None)
        if sampler is not None and hasattr(sampler, "epoch"):
            sampler.epoch = int(epoch)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._set(checkpoint["epoch"] + 1)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._set(trainer.current_epoch)
