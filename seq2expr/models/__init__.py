"""The architectures, one module each. Importing this package imports every module in it, and each registers its
architecture with ``@register("name")``: a new architecture is a new module, with no list to edit (other packages
add theirs through the ``seq2expr.models`` entry point). The pretrained models by name are :mod:`seq2expr.zoo`."""

from seq2expr.models.ensemble import EnsembleAverage
from seq2expr.models.registry import (
    build_model,
    check_params,
    freezes_trunk_by_default,
    get_model_class,
    head_names,
    input_segments,
    is_head_tensor,
    list_models,
    model_parameters,
    new_head_params,
    register,
)
from seq2expr.plugins import discover

__all__ = ["EnsembleAverage", "build_model", "check_params", "freezes_trunk_by_default", "get_model_class",
           "head_names", "input_segments", "is_head_tensor", "list_models", "model_parameters", "new_head_params",
           "register"]

discover(__name__, __path__)
