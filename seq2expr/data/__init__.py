"""seq2expr.data layer."""
