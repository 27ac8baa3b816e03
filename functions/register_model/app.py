"""RegisterModelFunction: the candidate into the model registry, its group created on first use."""

import boto3
from botocore.config import Config

from snowsage.evaluation import register_model
from snowsage.models import RegisteredModel, RegisterModelRequest
from snowsage.observability import lambda_entry, logger
from snowsage.registry import SageMakerModelRegistry

# botocore retries throttling and 5xx first (standard mode); what still fails is RegistryUnavailable,
# which the state machine retries, or RegistrationRefused, which fails the run.
registry = SageMakerModelRegistry(boto3.client("sagemaker", config=Config(retries={"mode": "standard"})))


@lambda_entry(RegisterModelRequest)
def lambda_handler(request: RegisterModelRequest) -> RegisteredModel:
    registered = register_model(request, registry)
    logger.info("model package registered", extra={"model_package_arn": registered.model_package_arn})
    return registered
