"""One decorator gives every handler the same logging, tracing, metrics and parsing.

Handlers stay thin: ``@lambda_entry(RequestModel)`` parses the event into the model (a
validation error becomes ``InvalidExecutionInput`` with the fields at fault), sets the
execution name as the log correlation id, traces, flushes metrics, and returns the output
model as JSON-ready data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic import BaseModel, ValidationError

from snowsage.errors import InvalidExecutionInput
from snowsage.models import validation_problems

logger = Logger()
tracer = Tracer()
metrics = Metrics()

RequestT = TypeVar("RequestT", bound=BaseModel)
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def parse_event(model: type[RequestT], event: dict[str, Any]) -> RequestT:
    try:
        return model.model_validate(event)
    except ValidationError as error:
        problems = validation_problems(error, root="event")
        raise InvalidExecutionInput(f"{model.__name__} rejected the event: {problems}") from None


def lambda_entry(
    model: type[RequestT], *, correlation_id_path: str = "execution_name"
) -> Callable[[Callable[[RequestT], BaseModel]], Handler]:
    def decorate(core: Callable[[RequestT], BaseModel]) -> Handler:
        @functools.wraps(core)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            request = parse_event(model, event)
            result = core(request)
            logger.info("done", extra={"result_type": type(result).__name__})
            return result.model_dump(mode="json", by_alias=True)

        traced = tracer.capture_lambda_handler(capture_response=False)(handler)
        with_metrics = metrics.log_metrics(traced)
        return logger.inject_lambda_context(correlation_id_path=correlation_id_path, log_event=False)(
            with_metrics
        )

    return decorate
