"""Which architectures export, and why one does not: ``seq2expr models list --exportable`` and the docs read this
table; ``tests/test_export.py`` exports every architecture it calls exportable and checks it names every one."""

from __future__ import annotations

# registry name -> what exporting it gives, where there is more to say than "exports" (an architecture whose
# prediction needs more than its weights says so); a built-in architecture not named here exports (tests/test_export.py
# exports every registered one at its example size), one another package added is "unchecked"
ARCHITECTURES: dict[str, tuple[str, str]] = {
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
    configurations that do, ``no``, or ``unchecked`` (an architecture another package added)."""
    from seq2expr.models import get_model_class, list_models

    def status(name: str) -> tuple[str, str]:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
        built_in = get_model_class(name).__module__.startswith("seq2expr.")
        return ("yes", "exports") if built_in else ("unchecked", "not checked for export (a plug-in architecture)")

    return [(name, *status(name)) for name in list_models()]
