"""Maintenance scripts, runnable as files (``python scripts/<name>.py``) and importable by the tests."""
