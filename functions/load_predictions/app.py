"""LoadPredictionsFunction: COPY the transform output into Snowflake, once per export."""

from aws_lambda_powertools.metrics import MetricUnit

from snowsage.models import LoadPredictionsRequest, LoadResult
from snowsage.observability import lambda_entry, metrics
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.loading import load_predictions

settings = SnowflakeSettings.from_env()
connect = connection_factory(settings)


@lambda_entry(LoadPredictionsRequest)
def lambda_handler(request: LoadPredictionsRequest) -> LoadResult:
    result = load_predictions(request, connect, settings.snowflake_stage)
    metrics.add_metric(name="PredictionsLoaded", unit=MetricUnit.Count, value=result.rows_loaded)
    return result
