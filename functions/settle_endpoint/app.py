"""SettleEndpointFunction: what the endpoint's deployment came to (in service, rolled back, deleted),
recorded in ML_MODELS; endpoint configs and models no longer in service deleted."""

import boto3
from botocore.config import Config

from snowsage.endpoints import settle_endpoint
from snowsage.models import EndpointOutcome, SettleEndpointRequest
from snowsage.observability import lambda_entry, logger
from snowsage.settings import SettleEndpointSettings
from snowsage.snowflake.connection import connection_factory
from snowsage.snowflake.endpoint_records import EndpointRecorder

settings = SettleEndpointSettings.from_env()
sagemaker = boto3.client("sagemaker", config=Config(retries={"mode": "standard"}))
connect = connection_factory(settings)


@lambda_entry(SettleEndpointRequest)
def lambda_handler(request: SettleEndpointRequest) -> EndpointOutcome:
    records = EndpointRecorder(connect, query_tag=request.run_id)
    outcome = settle_endpoint(request, sagemaker, records, settings.resource_prefix)
    logger.info(
        outcome.reason or outcome.status, extra={"endpoint": outcome.endpoint_name, "status": outcome.status}
    )
    return outcome
