"""RecordRunFunction: one ML_RUNS row per run (success or failure); returns the run notice."""

import os
from datetime import UTC, datetime

import boto3

from snowsage.cost import FunctionMemory, HistoryCosting
from snowsage.models import RecordRunRequest, RunRecord
from snowsage.observability import lambda_entry
from snowsage.runs import ExecutionHistory, record_run
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.ml_runs import write_run

settings = SnowflakeSettings.from_env()
connect = connection_factory(settings)
history = ExecutionHistory(boto3.client("stepfunctions"))
costing = HistoryCosting(os.environ["AWS_REGION"], FunctionMemory(boto3.client("lambda")))


def write(record: RunRecord) -> None:
    write_run(record, connect)


@lambda_entry(RecordRunRequest)
def lambda_handler(request: RecordRunRequest) -> RunRecord:
    return record_run(request, history=history, write=write, now=datetime.now(UTC), costing=costing)
