"""PrepareRunFunction: validate the execution input and manifest, return the run plan."""

from snowsage.models import PrepareRunRequest, RunPlan
from snowsage.observability import lambda_entry
from snowsage.prepare import prepare_run
from snowsage.s3 import S3ObjectStore, listing_client
from snowsage.settings import PrepareRunSettings

settings = PrepareRunSettings.from_env()
store = S3ObjectStore(listing_client())


@lambda_entry(PrepareRunRequest)
def lambda_handler(request: PrepareRunRequest) -> RunPlan:
    return prepare_run(request, settings, store)
