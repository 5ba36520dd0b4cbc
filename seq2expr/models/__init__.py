"""The architectures. Importing this package registers every one (the pretrained models by name are
:mod:`seq2expr.zoo`)."""

from seq2expr.models import (  # noqa: F401  (registration)
    camformer,
    cnn,
    dual,
    hybrid,
    legnet,
    legnet2022,
    linear,
    lm_cnn,
    rescnn,
    tracks,
)
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

__all__ = ["EnsembleAverage", "build_model", "check_params", "freezes_trunk_by_default", "get_model_class",
           "head_names", "input_segments", "is_head_tensor", "list_models", "model_parameters", "new_head_params",
           "register"]
