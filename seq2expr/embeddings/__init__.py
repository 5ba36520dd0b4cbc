"""DNA embeddings: k-mer word2vec tables (DeepLncLoc) and pretrained DNA language models (DNABERT family).

Language models are only ever loaded from a local folder (importing this package sets ``HF_HUB_OFFLINE``).
"""

from seq2expr.embeddings.kmer import KmerEmbedding, genome_kmer_embedding, kmer_ids, train_kmer_word2vec
from seq2expr.embeddings.lm import DNALanguageModel, LMOptions, embed_sequences, make_tiny_bert, make_tiny_lm

__all__ = ["DNALanguageModel", "KmerEmbedding", "LMOptions", "embed_sequences", "genome_kmer_embedding", "kmer_ids",
           "make_tiny_bert", "make_tiny_lm", "train_kmer_word2vec"]
