"""RecordRunFunction: one ML_RUNS row per run (success or failure); returns the run notice."""

from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from snowsage.cost import FunctionMemory, HistoryCosting, TuningTrials, WarehouseRate
from snowsage.lazy_client import LazyClient
from snowsage.lease import PromotionLease
from snowsage.models import RecordRunRequest, RunRecord
from snowsage.observability import lambda_entry
from snowsage.run_metrics import RunMetric
from snowsage.runs import ExecutionHistory, record_run
from snowsage.settings import RecordRunSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.ml_runs import write_run

settings = RecordRunSettings.from_env()
connect = connection_factory(settings)
history = ExecutionHistory(boto3.client("stepfunctions"))
lambda_client = boto3.client("lambda")
lease = PromotionLease(boto3.client("dynamodb"), settings.promotion_lease_table)
# The region's prices (snowsage.prices): the function runs in the stack's region. A tuned run's
# training is the sum of its trials (TuningTrials reads them from SageMaker, with a client made
# on a tuned run's first read, not at init).
costing = HistoryCosting(
    lambda_client.meta.region_name,
    FunctionMemory(lambda_client),
    trials=TuningTrials(LazyClient(lambda: boto3.client("sagemaker"))),
    warehouse=WarehouseRate(
        size=settings.snowflake_warehouse_size, credit_price_usd=settings.snowflake_credit_price_usd
    ),
)


def write(record: RunRecord) -> None:
    write_run(record, connect)


def emit(found: list[RunMetric]) -> None:
    """One EMF document per metric (its own dimensions); the namespace is POWERTOOLS_METRICS_NAMESPACE."""
    for metric in found:
        with single_metric(name=metric.name, unit=MetricUnit(metric.unit), value=metric.value) as one:
            for name, value in metric.dimensions:
                one.add_dimension(name=name, value=value)


@lambda_entry(RecordRunRequest)
def lambda_handler(request: RecordRunRequest) -> RunRecord:
    # The run is over (the success or the failure branch): its dataset's next gate may start.
    if request.state.plan is not None:
        lease.release(request.state.plan.dataset, request.execution_arn)
    return record_run(
        request, history=history, write=write, now=datetime.now(UTC), costing=costing, emit=emit
    )
