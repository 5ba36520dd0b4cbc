"""File formats, read (and written) in one place: tables and FASTA of sequences and values (:mod:`.tables`), gene
annotations (GTF/GFF3) and TSS BED files (:mod:`.annotation`), variant files (VCF/BCF and variant tables,
:mod:`.vcf`), motif files (MEME, JASPAR; one ``(4, w)`` orientation, :mod:`.motifs`). Genomes are
:class:`seq2expr.data.genome.fasta.Genome` (pyfaidx). Every reader raises one :class:`~seq2expr.data.errors.DataError`
or :class:`~seq2expr.files.FileError` line naming the file and the record."""
