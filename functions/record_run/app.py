"""RecordRunFunction: one ML_RUNS row per run (success or failure); returns the run notice."""

from datetime import UTC, datetime

import boto3

from snowsage.models import RecordRunRequest, RunRecord
from snowsage.observability import lambda_entry
from snowsage.runs import ExecutionHistory, build_run_record, failed_state
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.runs import write_run

settings = SnowflakeSettings.from_env()
connect = connection_factory(settings)
history = ExecutionHistory(boto3.client("stepfunctions"))


@lambda_entry(RecordRunRequest)
def lambda_handler(request: RecordRunRequest) -> RunRecord:
    failed = None
    if request.status == "FAILED":
        failed = failed_state(history.events(request.execution_arn))
    record = build_run_record(request, now=datetime.now(UTC), failed_state_name=failed)
    write_run(record, connect)
    return record
