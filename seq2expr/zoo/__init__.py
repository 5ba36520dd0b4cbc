"""The model zoo: pretrained models by name (``zoo:NAME``), each with a typed card and checksummed files.

Below :mod:`seq2expr.inference`: the zoo finds, checks and downloads an entry's files and says where its saved-model
folder is (:func:`model_dir`), and :func:`seq2expr.inference.load_model` loads it like any folder; the zoo never
builds a model. Converting the authors' checkpoints (``seq2expr models import``) lives above inference, in
:mod:`seq2expr.convert`.
"""

from seq2expr.zoo.card import (
    CardFile,
    GenomeRules,
    HeldOutMetrics,
    InputContract,
    ModelCard,
    TargetInfo,
    TrainingData,
    card_data,
    named_metrics,
)
from seq2expr.zoo.catalogue import PREFIX, entry_name, get_card, is_zoo_name, list_cards, package_dir
from seq2expr.zoo.store import (
    MODELS_MIRROR_ENV,
    cache_dir,
    cache_root,
    candidates,
    check,
    converted_dir,
    fetch_files,
    first_step,
    locate,
    model_dir,
)

__all__ = ["MODELS_MIRROR_ENV", "PREFIX", "CardFile", "GenomeRules", "HeldOutMetrics", "InputContract", "ModelCard",
           "TargetInfo", "TrainingData", "cache_dir", "cache_root", "candidates", "card_data", "check",
           "converted_dir", "entry_name", "fetch_files", "first_step", "get_card", "is_zoo_name", "list_cards",
           "locate", "model_dir", "named_metrics", "package_dir"]
