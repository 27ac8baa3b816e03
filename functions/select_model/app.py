"""SelectModelFunction: the model package to score with."""

import boto3
from botocore.config import Config

from snowsage.models import ModelSelection, SelectModelRequest
from snowsage.observability import lambda_entry
from snowsage.registry import SageMakerModelRegistry
from snowsage.selection import select_model

# botocore retries throttling and 5xx first; what still fails is RegistryUnavailable (retried by the ASL).
registry = SageMakerModelRegistry(boto3.client("sagemaker", config=Config(retries={"mode": "standard"})))


@lambda_entry(SelectModelRequest)
def lambda_handler(request: SelectModelRequest) -> ModelSelection:
    return select_model(request, registry)
