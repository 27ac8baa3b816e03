"""Snowflake account setup: render, split and apply the SQL under snowflake/ (``-m snowsage_setup.apply``).

A package of its own name: Python under a top-level ``snowflake/`` folder would merge into the
driver's ``snowflake`` namespace package.
"""
