"""Gene-level data sets from a genome: annotation, FASTA access, expression tables, windows, the builder."""

from seq2expr.data.genome.build import GeneOptions, build_gene_dataset, concat_gene_datasets, load_gene_dataset
from seq2expr.data.genome.windows import WindowSpec

__all__ = ["GeneOptions", "WindowSpec", "build_gene_dataset", "concat_gene_datasets", "load_gene_dataset"]
