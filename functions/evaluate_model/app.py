"""EvaluateModelFunction: the training metric against the threshold and the champion."""

import boto3
from botocore.config import Config

from snowsage.evaluation import evaluate_model
from snowsage.models import EvaluateModelRequest, Verdict
from snowsage.observability import lambda_entry, logger
from snowsage.registry import SageMakerModelRegistry

# botocore retries throttling and 5xx first; what still fails is RegistryUnavailable (retried by the ASL).
registry = SageMakerModelRegistry(boto3.client("sagemaker", config=Config(retries={"mode": "standard"})))


@lambda_entry(EvaluateModelRequest)
def lambda_handler(request: EvaluateModelRequest) -> Verdict:
    verdict = evaluate_model(request, registry)
    logger.info(verdict.reason, extra={"promote": verdict.promote, "metric_value": verdict.metric_value})
    return verdict
