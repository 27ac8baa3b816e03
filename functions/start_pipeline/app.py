"""StartPipelineFunction: S3 "Object Created" (EventBridge) for a manifest -> one execution."""

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from snowsage.models import StartResult
from snowsage.observability import lambda_entry, logger, metrics
from snowsage.settings import StartPipelineSettings
from snowsage.start import ObjectCreatedEvent, StepFunctionsStarter, start_for_event

settings = StartPipelineSettings.from_env()
starter = StepFunctionsStarter(boto3.client("stepfunctions"), settings.state_machine_arn)


@lambda_entry(ObjectCreatedEvent, correlation_id_path="detail.object.key")
def lambda_handler(event: ObjectCreatedEvent) -> StartResult:
    result = start_for_event(event, starter)
    logger.info(result.reason, extra={"status": result.status, "execution_name": result.execution_name})
    metrics.add_metric(name=f"Executions{result.status.capitalize()}", unit=MetricUnit.Count, value=1)
    return result
