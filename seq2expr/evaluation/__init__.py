"""seq2expr.evaluation layer."""
