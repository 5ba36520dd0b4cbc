"""Which architectures export, and why one does not: ``seq2expr models list --exportable`` and the docs read this
table; ``tests/test_export.py`` exports every architecture it calls exportable and checks it names every one."""

from __future__ import annotations

# registry name -> what exporting it gives (an architecture whose prediction needs more than its weights says so)
ARCHITECTURES: dict[str, tuple[str, str]] = {
    "cnn": ("yes", "exports"),
    "rescnn": ("yes", "exports"),
    "legnet": ("yes", "exports"),
    "linear": ("yes", "exports"),
    "camformer": ("yes", "exports"),
    "legnet2022": ("yes", "exports: the published construct context and its own strand average are in the graph"),
    "hybrid": ("yes", "exports: the Transformer encoder's attention is in the graph"),
    "dual": ("yes", "exports: one input holding segment 1, the spacer and segment 2; contract.json names the "
                    "segments"),
    "lm_cnn": ("mode kmer only", "mode 'kmer' exports (the k-mer table is in the graph); mode 'lm' does not: its "
                                 "DNA language model (a Python tokenizer and a transformer) runs outside the saved "
                                 "weights"),
    "enformer": ("torch only", "--format torch exports; ONNX is refused in one line naming lgamma, which its gamma "
                               "positional features call and ONNX lacks (the published TensorFlow gammas, a constant "
                               "table for the full 196,608-nt model, are not tried here); needs seq2expr[human]; "
                               "tested on a reduced configuration where it is installed"),
    "borzoi": ("yes", "exports; needs seq2expr[human]; tested on a reduced configuration where it is installed"),
}


def exportable_architectures() -> list[tuple[str, str, str]]:
    """``(architecture, exports, note)`` for every registered architecture: ``exports`` is ``yes``, the
    configurations that do, or ``no`` (one missing from the table: ``unchecked``)."""
    from seq2expr.models import list_models

    return [(name, *ARCHITECTURES.get(name, ("unchecked", "not yet checked for export"))) for name in list_models()]
