"""PrepareRunFunction: validate the execution input and manifest, return the run plan."""

import boto3
from botocore.config import Config

from snowsage.lazy_client import LazyClient
from snowsage.models import PrepareRunRequest, RunPlan
from snowsage.observability import lambda_entry
from snowsage.prepare import prepare_run
from snowsage.s3 import S3ObjectStore, listing_client
from snowsage.settings import PrepareRunSettings
from snowsage.warm_start import SageMakerWarmStartSources

settings = PrepareRunSettings.from_env()
store = S3ObjectStore(listing_client())
# A tuning run with warm_start reads the champion and its tuning job (snowsage/warm_start.py): the
# SageMaker client is made then, not at init.
warm_start_sources = SageMakerWarmStartSources(
    LazyClient(lambda: boto3.client("sagemaker", config=Config(retries={"mode": "standard"})))
)


@lambda_entry(PrepareRunRequest)
def lambda_handler(request: PrepareRunRequest) -> RunPlan:
    return prepare_run(request, settings, store, warm_start_sources=warm_start_sources)
