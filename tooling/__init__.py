"""Tooling the sandbox, bench, smoke and tests share (sample data, the functions as deployed)."""
