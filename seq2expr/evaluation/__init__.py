"""Evaluation: metrics, plots, data-set scorers and the one evaluation path (:func:`evaluate` / :func:`score`)."""

from seq2expr.evaluation import dream  # noqa: F401  (registers the dream2022 scorer)
from seq2expr.evaluation.evaluate import evaluate, model_notes, model_scale_targets, read_labelled, score
from seq2expr.evaluation.metrics import evaluate_predictions
from seq2expr.evaluation.report import read_metrics, write_metrics
from seq2expr.evaluation.scorers import get_scorer, register_scorer, scorer_for

__all__ = ["evaluate", "evaluate_predictions", "get_scorer", "model_notes", "model_scale_targets", "read_labelled",
           "read_metrics", "register_scorer", "score", "scorer_for", "write_metrics"]
