"""Evaluation: metrics, plots, data-set scorers and the one evaluation path (:func:`evaluate` / :func:`score`)."""

from seq2expr.evaluation.evaluate import (
    evaluate,
    evaluation_readout,
    model_notes,
    model_scale_targets,
    read_labelled,
    score,
)
from seq2expr.evaluation.metrics import evaluate_predictions
from seq2expr.evaluation.report import read_metrics, write_metrics
from seq2expr.evaluation.scorers import scorer_for

__all__ = ["evaluate", "evaluate_predictions", "evaluation_readout", "model_notes", "model_scale_targets",
           "read_labelled", "read_metrics", "score", "scorer_for", "write_metrics"]
