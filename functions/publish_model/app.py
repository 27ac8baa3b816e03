"""PublishModelFunction: a promoted model becomes the Snowflake function ML_PREDICT_<DATASET>."""

from snowsage.models import PublishedModel, PublishModelRequest
from snowsage.observability import lambda_entry
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.publishing import publish_model

settings = SnowflakeSettings.from_env()
connect = connection_factory(settings)


@lambda_entry(PublishModelRequest)
def lambda_handler(request: PublishModelRequest) -> PublishedModel:
    return publish_model(request, connect, settings.snowflake_stage)
