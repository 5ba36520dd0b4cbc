"""Model: lm_cnn (being written)."""
