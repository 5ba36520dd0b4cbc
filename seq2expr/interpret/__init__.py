"""seq2expr.interpret layer."""
