"""seq2expr: predict gene expression from DNA sequence and explain it as CREs and motifs."""

__version__ = "0.1.0"
