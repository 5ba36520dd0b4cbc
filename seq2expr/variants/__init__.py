"""Variant effects from a VCF/BCF or a variant table and a genome (gene or centred windows), or from sequence
pairs; every prediction goes through :mod:`seq2expr.inference`."""

from seq2expr.data.io.vcf import SKIP_REASONS, allele_kind, read_variants
from seq2expr.variants.merge import merge_variant_outputs
from seq2expr.variants.output import write_pair_outputs, write_variant_outputs
from seq2expr.variants.place import CentredWindows, GeneWindows, edited_part, load_genes
from seq2expr.variants.score import ScoreOptions, VariantScorer, score_pairs, score_variants
from seq2expr.variants.strategy import CentredStrategy, GeneStrategy

__all__ = ["SKIP_REASONS", "CentredStrategy", "CentredWindows", "GeneStrategy", "GeneWindows", "ScoreOptions",
           "VariantScorer", "allele_kind", "edited_part",
           "load_genes", "merge_variant_outputs", "read_variants", "score_pairs", "score_variants",
           "write_pair_outputs", "write_variant_outputs"]
