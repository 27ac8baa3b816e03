"""``make smoke``: prove the pipeline on a real AWS account and a real Snowflake account, in one pass.

The plan (``smoke.plan``) creates a throwaway stack, Snowflake database and pipeline secret,
runs one good export and one bad manifest through the pipeline, checks what they left, and tears
down everything it created, also after a failure. Where it runs is a ``Platform``: the real
clouds (``smoke.real``) or the sandbox (``smoke.sandboxed``), so ``make test`` runs the very same
plan, waits and teardown on every change. ``smoke.errors`` asks Step Functions' TestState API
which error names AWS really gives for the states whose Retry or Catch depend on them.
See docs/smoke.md.
"""
