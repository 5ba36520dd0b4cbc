"""seq2expr: predict gene expression from DNA sequence and explain it as CREs and motifs.

The public API, one function per task (``import seq2expr as s2e``)::

    cfg = s2e.load_config("table", ["data.path=my.tsv"])      # a YAML file or a shipped config's name
    model_dir = s2e.train(cfg)                                # -> runs/.../model (safetensors + JSON)
    model = s2e.load_model(model_dir)
    y = s2e.predict(model, ["ACGT...", ...])                  # original scale (probabilities: classification)
    report = s2e.evaluate(model, "test.tsv")                  # metrics, per group, bootstrap CI
    attr, hyp = s2e.attribute(model, ["ACGT...", ...])         # DeepLIFT-SHAP, ISM, saliency or IG
    s2e.explain(model, "test.tsv", "report/")                 # attributions -> TF-MoDISco -> JASPAR, HTML
    s2e.export(model_dir, "exported/")                        # ONNX + contract.json + golden outputs

Names are imported on first use, so ``import seq2expr`` stays cheap (no torch until a model is needed). A verb
never shares its name with a layer (``seq2expr.interpret`` is the package, ``s2e.explain`` its report;
``s2e.design_sequences`` is ``seq2expr.design.design``).
"""

from __future__ import annotations

from importlib import import_module

from seq2expr.version import __version__

# public name -> module that defines it (the layer's own public module)
_API: dict[str, str] = {
    "RunConfig": "seq2expr.config", "load_config": "seq2expr.config", "shipped_configs": "seq2expr.config",
    "SequencePolicy": "seq2expr.config",
    "Records": "seq2expr.data.records", "read_records": "seq2expr.data.io.tables",
    "load_dataset": "seq2expr.data.registry", "write_synthetic": "seq2expr.data.synthetic",
    "build_model": "seq2expr.models", "list_models": "seq2expr.models",
    "SavedModel": "seq2expr.inference", "load_model": "seq2expr.inference", "save_model": "seq2expr.inference",
    "predict": "seq2expr.inference", "predict_file": "seq2expr.inference", "Readout": "seq2expr.inference",
    "Compute": "seq2expr.inference",
    "evaluate": "seq2expr.evaluation",
    "train": "seq2expr.training", "tune": "seq2expr.training",
    "attribute": "seq2expr.interpret.attribute", "saliency": "seq2expr.interpret.gradients",
    "integrated_gradients": "seq2expr.interpret.gradients", "deep_lift_shap": "seq2expr.interpret.gradients",
    "ism": "seq2expr.interpret.ism", "grad_cam": "seq2expr.interpret.gradcam",
    "attention_maps": "seq2expr.interpret.attention", "run_modisco": "seq2expr.interpret.modisco",
    "jaspar_motifs": "seq2expr.interpret.motifs", "match_motifs": "seq2expr.interpret.motifs",
    "motif_effect": "seq2expr.interpret.global_importance", "explain": "seq2expr.interpret.report",
    "ReportOptions": "seq2expr.interpret.report",
    "score_variants": "seq2expr.variants", "score_pairs": "seq2expr.variants", "ScoreOptions": "seq2expr.variants",
    "design_sequences": "seq2expr.design", "Constraints": "seq2expr.design", "Objective": "seq2expr.design",
    "export": "seq2expr.convert.export", "verify_export": "seq2expr.convert.export",
}
# public name -> the defining module's name
_RENAMED = {"explain": "write_report", "design_sequences": "design", "export": "export_model"}
__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'seq2expr' has no attribute {name!r}")
    value = getattr(import_module(_API[name]), _RENAMED.get(name, name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

