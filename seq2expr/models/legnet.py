"""Model: legnet (being written)."""
