"""The local sandbox: one room per stand-in, and what ties them together.

``sandbox.aws`` (moto, the template deployed into it, the Lambda runtime, executions),
``sandbox.snowflake`` (fakesnow over HTTP, the setup SQL, EXPORT_DATASET) and
``sandbox.sagemaker`` (the emulator that trains with the real xgboost). At the top: the CLI
(``python -m sandbox``), ``services.Sandbox`` (every stand-in started and the stack deployed),
``pipeline_run`` (one export through the whole loop), the sample data, the reports.
"""
