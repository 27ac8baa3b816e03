"""The context object a Lambda handler receives: the one stand-in for every runner of handlers.

The sandbox's Lambda runtime builds it per invocation; the ``sam local invoke`` stand-in
(``sandbox.aws.local_invoke``) and the memory benchmark's child process build it from the
reserved environment variables Lambda sets. Standard library only: children that measure a
handler import this and nothing else of the project.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

SANDBOX_ACCOUNT = "123456789012"
SANDBOX_REGION = "us-east-1"


@dataclass
class LambdaContext:
    """The subset of the Python runtime's context object handlers use (python-context)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float = 3.0
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not self._deadline:
            self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    @classmethod
    def from_environment(cls, default_name: str = "function") -> LambdaContext:
        """A context from the reserved ``AWS_LAMBDA_FUNCTION_*`` variables (configuration-envvars)."""
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", default_name)
        region = os.environ.get("AWS_REGION", SANDBOX_REGION)
        return cls(
            function_name=name,
            function_version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            invoked_function_arn=f"arn:aws:lambda:{region}:{SANDBOX_ACCOUNT}:function:{name}",
            memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
            aws_request_id=str(uuid.uuid4()),
            log_group_name=os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}"),
            log_stream_name=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "$LATEST"),
            timeout_seconds=float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")),
        )
