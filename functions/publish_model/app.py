"""PublishModelFunction: a promoted model becomes the Snowflake function ML_PREDICT_<DATASET>, then
its model package is approved (the champion is always the model the function serves)."""

import boto3
from botocore.config import Config

from snowsage.evaluation import approve_published
from snowsage.models import PublishedModel, PublishModelRequest
from snowsage.observability import lambda_entry, logger
from snowsage.registry import SageMakerModelRegistry
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.publishing import publish_model

settings = SnowflakeSettings.from_env()
connect = connection_factory(settings)
# botocore retries throttling and 5xx first; what still fails is RegistryUnavailable (retried by the ASL).
registry = SageMakerModelRegistry(boto3.client("sagemaker", config=Config(retries={"mode": "standard"})))


@lambda_entry(PublishModelRequest)
def lambda_handler(request: PublishModelRequest) -> PublishedModel:
    published = publish_model(request, connect, settings.snowflake_stage)
    if approve_published(request, registry):
        logger.info("model package approved", extra={"model_package_arn": request.model.model_package_arn})
    return published
