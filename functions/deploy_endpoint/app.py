"""DeployEndpointFunction: the promoted model behind the dataset's endpoint (blue/green, auto-rollback),
or, for ENDPOINT 'NONE', the endpoint deleted."""

import boto3
from botocore.config import Config

from snowsage.endpoints import deploy_endpoint, remove_endpoint
from snowsage.models import DeployEndpointRequest, EndpointDeployment
from snowsage.observability import lambda_entry, logger
from snowsage.settings import DeployEndpointSettings

settings = DeployEndpointSettings.from_env()
# botocore retries throttling and 5xx first; what still fails is EndpointUnavailable (retried by the ASL).
retrying = Config(retries={"mode": "standard"})
sagemaker = boto3.client("sagemaker", config=retrying)
cloudwatch = boto3.client("cloudwatch", config=retrying)


@lambda_entry(DeployEndpointRequest)
def lambda_handler(request: DeployEndpointRequest) -> EndpointDeployment:
    change = deploy_endpoint if request.action == "deploy" else remove_endpoint
    deployment = change(request, sagemaker, cloudwatch, settings)
    logger.info("endpoint change", extra={"endpoint": deployment.endpoint_name, "action": deployment.action})
    return deployment
