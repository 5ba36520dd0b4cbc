"""seq2expr.training layer."""
