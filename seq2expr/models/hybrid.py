"""Model: hybrid (being written)."""
