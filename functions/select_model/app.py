"""SelectModelFunction: the model package to score with."""

import boto3

from snowsage.evaluation import select_model
from snowsage.models import ModelSelection, SelectModelRequest
from snowsage.observability import lambda_entry
from snowsage.registry import SageMakerModelRegistry

registry = SageMakerModelRegistry(boto3.client("sagemaker"))


@lambda_entry(SelectModelRequest)
def lambda_handler(request: SelectModelRequest) -> ModelSelection:
    return select_model(request, registry)
