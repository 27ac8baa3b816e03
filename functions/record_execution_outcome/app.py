"""RecordExecutionOutcomeFunction: the ML_RUNS row and notice of a run the pipeline did not record.

EventBridge invokes it for "Step Functions Execution Status Change" events of this state
machine (FAILED, TIMED_OUT, ABORTED); ``snowsage.outcome`` decides from the execution history
what the failure branch left undone.
"""

from datetime import UTC, datetime
from functools import partial

import boto3

from snowsage.lease import PromotionLease
from snowsage.models import ExecutionStatusChange, OutcomeResult
from snowsage.observability import lambda_entry, logger
from snowsage.outcome import RunNotifier, settle_outcome
from snowsage.runs import ExecutionHistory
from snowsage.settings import ExecutionOutcomeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.ml_runs import write_unsuccessful_run

settings = ExecutionOutcomeSettings.from_env()
connect = connection_factory(settings)
history = ExecutionHistory(boto3.client("stepfunctions"))
notifier = RunNotifier(boto3.client("sns"), settings.notification_topic_arn)
lease = PromotionLease(boto3.client("dynamodb"), settings.promotion_lease_table)


@lambda_entry(ExecutionStatusChange, correlation_id_path="detail.name")
def lambda_handler(change: ExecutionStatusChange) -> OutcomeResult:
    result = settle_outcome(
        change,
        history=partial(history.events, include_data=True),
        write=partial(write_unsuccessful_run, factory=connect),
        announce=notifier.publish,
        now=datetime.now(UTC),
        release=lease.release,
    )
    logger.info(result.reason, extra={"action": result.action, "status": result.status})
    return result
