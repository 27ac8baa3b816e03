"""TrainInSnowflakeFunction: TRAINING_ENGINE = SNOWFLAKE trains in the warehouse (CALL TRAIN_MODEL)."""

from snowsage.models import TrainingResult, TrainInSnowflakeRequest
from snowsage.observability import lambda_entry
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.training import train_in_snowflake

settings = SnowflakeSettings.from_env()
connect = connection_factory(settings)


@lambda_entry(TrainInSnowflakeRequest)
def lambda_handler(request: TrainInSnowflakeRequest) -> TrainingResult:
    return train_in_snowflake(request.plan, connect, settings.snowflake_stage)
