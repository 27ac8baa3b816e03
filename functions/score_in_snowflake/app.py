"""ScoreInSnowflakeFunction: SCORING_ENGINE = SNOWFLAKE scores the scoring view with ML_PREDICT_<DATASET>."""

from aws_lambda_powertools.metrics import MetricUnit

from snowsage.models import LoadResult, ScoreInSnowflakeRequest
from snowsage.observability import lambda_entry, metrics
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.scoring import score_in_snowflake

settings = SnowflakeSettings.from_env()
connect = connection_factory(settings)


@lambda_entry(ScoreInSnowflakeRequest)
def lambda_handler(request: ScoreInSnowflakeRequest) -> LoadResult:
    result = score_in_snowflake(request, connect)
    metrics.add_metric(name="PredictionsLoaded", unit=MetricUnit.Count, value=result.rows_loaded)
    return result
