"""DNA embeddings: k-mer word2vec tables (DeepLncLoc) and pretrained DNA language models (DNABERT family).

Language models are only ever loaded from a local folder (importing this package sets ``HF_HUB_OFFLINE``).
"""

from seq2expr.embeddings.kmer import KmerEmbedding, kmer_ids, train_kmer_word2vec
from seq2expr.embeddings.lm import DNALanguageModel, LMOptions, embed_sequences, make_tiny_bert

__all__ = ["DNALanguageModel", "KmerEmbedding", "LMOptions", "embed_sequences", "kmer_ids", "make_tiny_bert",
           "train_kmer_word2vec"]
