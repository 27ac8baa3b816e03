"""Snowsage benchmarks: ``make bench`` (``python -m bench``) writes docs/benchmarks.md.

Every goal is a ratio of two things measured side by side in the same run (the machine is
shared and noisy); nothing here is a timed assertion in a test.
"""
