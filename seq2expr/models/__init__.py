"""Model zoo. Importing this package registers every architecture."""

from seq2expr.models import cnn, dual, hybrid, legnet, linear, lm_cnn, rescnn  # noqa: F401  (registration)
from seq2expr.models.ensemble import EnsembleAverage
from seq2expr.models.registry import build_model, check_params, get_model_class, list_models, model_parameters, register

__all__ = ["EnsembleAverage", "build_model", "check_params", "get_model_class", "list_models", "model_parameters",
           "register"]
