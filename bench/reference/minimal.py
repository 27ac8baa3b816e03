"""Cold-start reference: the libraries every handler uses, and nothing of the project.

powertools Logger, Tracer, Metrics and the parser utility (pydantic), one boto3 client, a
decorated handler whose first invocation parses its event and makes one AWS call (S3
ListBuckets, to the endpoint the function's environment names): the floor a thin handler on the
common layer can reach for init + first invocation.
"""

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()
client = boto3.client("s3")


class Request(BaseModel):
    execution_name: str


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, object], context: object) -> dict[str, object]:
    request = parse(event=event, model=Request)
    client.list_buckets()
    return request.model_dump()
