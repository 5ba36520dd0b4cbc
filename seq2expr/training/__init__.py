"""The training layer: a thin Lightning layer around any registry model, runs, ensembles and searches."""

from seq2expr.training.fit import check_run, finished_members, fit_member, is_global_zero, train
from seq2expr.training.tune import parse_params, tune

__all__ = ["check_run", "finished_members", "fit_member", "is_global_zero", "parse_params", "train", "tune"]
