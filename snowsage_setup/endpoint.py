"""Delete a dataset's real-time endpoint by hand, with its rollback alarms, configs and models.

    python -m snowsage_setup.endpoint delete --dataset <dataset> [--prefix snowsage] [--region R]

What a run with ML_DATASETS.ENDPOINT = 'NONE' does (RemoveEndpoint), without waiting for a run: for
an endpoint that is Failed, say, before the next promoted run creates it again. The run that deletes
it records DELETED in ML_RUNS and ML_MODELS; this command does not write to Snowflake
(docs/operations.md, "Real-time endpoint").
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import boto3

from snowsage.endpoints import remove_endpoint
from snowsage.models import DeployEndpointRequest, EndpointPlan
from snowsage.names import endpoint_name
from snowsage.settings import DeployEndpointSettings


def delete(dataset: str, prefix: str, region: str | None = None) -> str:
    """Delete the endpoint if there is one; the action taken ('delete' or 'none')."""
    session = boto3.Session(region_name=region)
    return delete_with(session.client("sagemaker"), session.client("cloudwatch"), dataset, prefix)


def delete_with(sagemaker: Any, cloudwatch: Any, dataset: str, prefix: str) -> str:
    """``delete`` with the caller's clients (the smoke's teardown)."""
    name = endpoint_name(prefix, dataset)
    request = DeployEndpointRequest(
        execution_name="by-hand",
        action="remove",
        dataset=dataset,
        run_id="by-hand",
        endpoint=EndpointPlan(kind="NONE", name=name, config_name=f"{name}-by-hand"),
    )
    settings = DeployEndpointSettings(resource_prefix=prefix, notification_topic_arn="")
    return remove_endpoint(request, sagemaker, cloudwatch, settings).action


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m snowsage_setup.endpoint", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    removing = commands.add_parser("delete", help="delete the dataset's endpoint, alarms, configs and models")
    removing.add_argument("--dataset", required=True)
    removing.add_argument("--prefix", default="snowsage", help="the stack's ResourcePrefix")
    removing.add_argument("--region")
    arguments = parser.parse_args(argv)
    action = delete(arguments.dataset, arguments.prefix, arguments.region)
    print(
        f"{endpoint_name(arguments.prefix, arguments.dataset)}:"
        f" {'deleted' if action == 'delete' else 'no endpoint'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
