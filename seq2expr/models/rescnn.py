"""Model: rescnn (being written)."""
