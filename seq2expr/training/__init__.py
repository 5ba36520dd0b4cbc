"""The training layer: a thin Lightning layer around any registry model, runs, ensembles and searches.

:mod:`~seq2expr.training.member` trains one model in its folder (trainer, checkpoints, resume);
:mod:`~seq2expr.training.run` orchestrates a run (members, shards, devices) and :mod:`~seq2expr.training.assemble`
evaluates and exports it; :mod:`~seq2expr.training.tune` searches hyper-parameters with the member trainer.
"""

from seq2expr.training.member import fit_member, is_global_zero
from seq2expr.training.run import check_run, finished_members, train
from seq2expr.training.tune import parse_params, tune

__all__ = ["check_run", "finished_members", "fit_member", "is_global_zero", "parse_params", "train", "tune"]
