"""The inference layer: load a saved model and predict with it, the one way every other layer does.

Below training, evaluation, interpretation (and variant scoring and design): each of them loads models,
encodes sequences and predicts through these functions, so one model gives one answer everywhere.
"""

from seq2expr.inference.compute import Compute, compute_of
from seq2expr.inference.construct import (
    Construct,
    ConstructSpec,
    construct_spec,
    dataset_construct,
    resolve_construct,
    trained_construct,
)
from seq2expr.inference.contract import contract_module
from seq2expr.inference.device import (
    autocast,
    available_devices,
    check_accelerator,
    check_device,
    check_precision,
    device_list,
    model_state,
    resolve_device,
    resolve_precision,
    training_precision,
)
from seq2expr.inference.engine import ENGINES, engine_setup, onnxruntime_forward
from seq2expr.inference.fold import fold_batchnorm, folded
from seq2expr.inference.inputs import as_array, as_module, as_onehot, batch_onehot, check_length, encode_for
from seq2expr.inference.parallel import predict_on_devices
from seq2expr.inference.predict import (
    CPU_FORWARD_ROWS,
    CPU_PASS_BYTES,
    UniqueIds,
    check_sizes,
    column_options,
    cpu_forward_rows,
    forward_in_parts,
    input_columns,
    predict,
    predict_file,
    write_prediction_table,
)
from seq2expr.inference.readout import (
    BoundReadout,
    Readout,
    ReadoutModule,
    as_readout,
    model_scale_label,
    rc_forward,
    scale_label,
    target_index,
    to_scale,
)
from seq2expr.inference.saved import (
    FORMAT_VERSION,
    FitRecord,
    Lineage,
    ModelSpec,
    SavedModel,
    SavedModelConfig,
    Scale,
    default_target_names,
    load_model,
    migrate_config,
    model_path,
    read_config,
    save_model,
    training_hashes,
    training_overlap,
)
from seq2expr.inference.shard import Shard, merge_tables

__all__ = ["BoundReadout", "CPU_FORWARD_ROWS", "CPU_PASS_BYTES", "Compute", "Construct", "ConstructSpec", "ENGINES",
           "FORMAT_VERSION", "FitRecord", "Lineage", "ModelSpec", "Readout", "ReadoutModule", "SavedModel",
           "SavedModelConfig", "Scale", "Shard", "UniqueIds", "as_array", "as_module", "as_onehot", "as_readout",
           "autocast", "available_devices", "batch_onehot", "check_accelerator", "check_device", "check_length",
           "check_precision", "check_sizes", "column_options", "compute_of", "construct_spec", "contract_module",
           "cpu_forward_rows", "dataset_construct", "default_target_names", "device_list", "encode_for",
           "engine_setup", "fold_batchnorm", "folded", "forward_in_parts", "input_columns", "load_model",
           "merge_tables", "migrate_config", "model_path", "model_scale_label", "model_state", "onnxruntime_forward",
           "predict", "predict_file", "predict_on_devices", "rc_forward", "read_config", "resolve_construct",
           "resolve_device", "resolve_precision", "save_model", "scale_label", "target_index", "to_scale",
           "trained_construct", "training_hashes", "training_overlap", "training_precision",
           "write_prediction_table"]
