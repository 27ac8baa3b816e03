"""The ASL states the core reads from an execution's history, by name (statemachines/pipeline.asl.json).

tests/statemachine/test_asl.py derives each set from the ASL and compares: renaming a state there
without renaming it here fails that test.
"""

from __future__ import annotations

RECORD_RUN = "RecordRun"
NOTIFY = "Notify"
RECORD_FAILURE = "RecordFailure"  # every Task's Catch leads here
NOTIFY_FAILURE = "NotifyFailure"
RUN_FAILED = "RunFailed"

# The failure branch, in the order an execution enters it.
FAILURE_PATH = (RECORD_FAILURE, NOTIFY_FAILURE, RUN_FAILED)
FAILURE_BRANCH_STATES = frozenset(FAILURE_PATH)
# The states that write the ML_RUNS row (the RecordRun function) and that publish the run notice (SNS).
RECORDING_STATES = frozenset({RECORD_RUN, RECORD_FAILURE})
ANNOUNCING_STATES = frozenset({NOTIFY, NOTIFY_FAILURE})
# The states whose functions write the predictions table (LoadPredictions, ScoreInSnowflake): the
# safety net reads the predictions table from the run plan either received.
LOADING_STATES = frozenset({"LoadPredictions", "ScoreInSnowflake"})
