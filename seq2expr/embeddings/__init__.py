"""DNA embeddings: k-mer word2vec tables (DeepLncLoc) and pretrained DNA language models (DNABERT family)."""

from seq2expr.embeddings.kmer import KmerEmbedding, kmer_ids, train_kmer_word2vec

__all__ = ["KmerEmbedding", "kmer_ids", "train_kmer_word2vec"]
