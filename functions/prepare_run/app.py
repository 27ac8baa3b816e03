"""PrepareRunFunction: validate the execution input and manifest, return the run plan."""

import boto3

from snowsage.models import PrepareRunRequest, RunPlan
from snowsage.observability import lambda_entry
from snowsage.prepare import prepare_run
from snowsage.s3 import S3ObjectStore
from snowsage.settings import PrepareRunSettings

settings = PrepareRunSettings.from_env()
store = S3ObjectStore(boto3.client("s3"))


@lambda_entry(PrepareRunRequest)
def lambda_handler(request: PrepareRunRequest) -> RunPlan:
    return prepare_run(request, settings, store)
