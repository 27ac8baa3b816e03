"""The AWS stand-ins: moto with the project's patches, the template deployed into it, the Lambda runtime, executions."""
