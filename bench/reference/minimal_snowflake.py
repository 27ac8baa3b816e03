"""Cold-start reference for the Snowflake functions: the minimal reference plus the connector."""

import boto3
import snowflake.connector
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()
client = boto3.client("s3")
CONNECT = snowflake.connector.connect


class Request(BaseModel):
    execution_name: str


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, object], context: object) -> dict[str, object]:
    request = parse(event=event, model=Request)
    return request.model_dump()
