"""EvaluateModelFunction: under the dataset's promotion lease, the training metric against the
threshold and the champion, the champion scored on this export's validation rows in Snowflake."""

from datetime import UTC, datetime

import boto3
from botocore.config import Config

from snowsage.evaluation import evaluate_model
from snowsage.lease import PromotionLease
from snowsage.models import EvaluateModelRequest, Verdict
from snowsage.observability import lambda_entry, logger
from snowsage.registry import SageMakerModelRegistry
from snowsage.settings import EvaluateModelSettings
from snowsage.snowflake.champion import SnowflakeChampionScorer
from snowsage.snowflake.connection import connection_factory

settings = EvaluateModelSettings.from_env()
# botocore retries throttling and 5xx first; what still fails is RegistryUnavailable (retried by the ASL).
retrying = Config(retries={"mode": "standard"})
registry = SageMakerModelRegistry(boto3.client("sagemaker", config=retrying))
lease = PromotionLease(boto3.client("dynamodb", config=retrying), settings.promotion_lease_table)
# The connector is imported on the first connect: a run with no champion never loads it.
scorer = SnowflakeChampionScorer(connection_factory(settings))


@lambda_entry(EvaluateModelRequest)
def lambda_handler(request: EvaluateModelRequest) -> Verdict:
    verdict = evaluate_model(request, registry, scorer, lease, datetime.now(UTC))
    logger.info(verdict.reason, extra={"promote": verdict.promote, "metric_value": verdict.metric_value})
    return verdict
