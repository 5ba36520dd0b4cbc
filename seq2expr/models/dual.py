"""Model: dual (being written)."""
