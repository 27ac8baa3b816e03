"""Cold-start reference for the Snowflake functions: the minimal reference, the driver and a connect.

At init: the minimal reference's imports plus ``import snowflake.connector`` (the driver import a
handler written the obvious way does at module level). First invocation: parse the event, read the
key-pair secret from Secrets Manager, connect with the function's Snowflake settings (its
environment: account, user from the secret, warehouse, database, schema, role and, in the sandbox,
host/port/protocol) and run ``SELECT 1``: the floor for init + first invocation of a function that
talks to Snowflake.
"""

import json
import os

import boto3
import snowflake.connector
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, parse
from cryptography.hazmat.primitives import serialization

logger = Logger()
tracer = Tracer()
metrics = Metrics()
secrets = boto3.client("secretsmanager")


class Request(BaseModel):
    execution_name: str


def connect() -> snowflake.connector.SnowflakeConnection:
    document = json.loads(
        secrets.get_secret_value(SecretId=os.environ["SNOWFLAKE_SECRET_ARN"])["SecretString"]
    )
    key = serialization.load_pem_private_key(document["private_key"].encode(), password=None)
    extra: dict[str, object] = {
        name: os.environ[f"SNOWFLAKE_{name.upper()}"]
        for name in ("host", "protocol")
        if os.environ.get(f"SNOWFLAKE_{name.upper()}")
    }
    if os.environ.get("SNOWFLAKE_PORT"):
        extra["port"] = int(os.environ["SNOWFLAKE_PORT"])
    return snowflake.connector.connect(
        account=os.environ["SNOWFLAKE_ACCOUNT"],
        user=document["user"],
        private_key=key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        warehouse=os.environ["SNOWFLAKE_WAREHOUSE"],
        database=os.environ["SNOWFLAKE_DATABASE"],
        schema=os.environ["SNOWFLAKE_SCHEMA"],
        role=os.environ["SNOWFLAKE_ROLE"],
        **extra,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, object], context: object) -> dict[str, object]:
    request = parse(event=event, model=Request)
    with connect() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchall()
    return request.model_dump()
