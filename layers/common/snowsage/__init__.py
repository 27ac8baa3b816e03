"""Snowsage core: the typed, tested logic behind the pipeline's Lambda handlers."""
