"""Answering: hybrid retrieval, quote extraction, abstention."""
