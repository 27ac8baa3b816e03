"""StalenessCheckFunction: every hour, count the datasets ML_STALE_DATASETS names (DatasetStaleAlarm)."""

from aws_lambda_powertools.metrics import MetricUnit

from snowsage.models import ScheduledEvent, StalenessReport
from snowsage.observability import lambda_entry, logger, metrics
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.staleness import stale_datasets

settings = SnowflakeSettings.from_env()
connect = connection_factory(settings)


@lambda_entry(ScheduledEvent, correlation_id_path="id")
def lambda_handler(event: ScheduledEvent) -> StalenessReport:
    report = StalenessReport(stale=stale_datasets(connect))
    for item in report.stale:
        logger.warning("dataset is stale", extra=item.model_dump(mode="json"))
    metrics.add_metric(name="StaleDatasets", unit=MetricUnit.Count, value=len(report.stale))
    return report
