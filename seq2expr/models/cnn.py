"""Model: cnn (being written)."""
