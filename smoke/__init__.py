"""``make smoke``: prove the pipeline on a real AWS account and a real Snowflake account, in one pass.

Details: docs/smoke.md, "smoke/__init__.py".
"""
