"""snowsage.lazy_client: a client only some invocations need is made on its first use, once."""

from __future__ import annotations

import importlib.util
from typing import Any

import boto3
import pytest

from snowsage.lazy_client import LazyClient
from tooling.lambda_functions import functions, handler_env


class Client:
    def describe_hyper_parameter_tuning_job(self, **request: str) -> dict[str, str]:
        return dict(request)


def test_the_client_is_made_on_the_first_call_and_only_once() -> None:
    made: list[Client] = []

    def factory() -> Client:
        made.append(Client())
        return made[-1]

    client = LazyClient(factory)
    assert made == []  # nothing at init
    assert client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="p") == {
        "HyperParameterTuningJobName": "p"
    }
    client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="q")
    assert len(made) == 1


# PrepareRun needs SageMaker only for a warm-starting tuning run, RecordRun only for a tuned run's
# trials: a SageMaker client at their init would load SageMaker's service model on every cold start
# (docs/benchmarks.md, section 1).
ONLY_SOMETIMES_SAGEMAKER = ("PrepareRunFunction", "RecordRunFunction")


def clients_made_at_init(logical_id: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The services of the boto3 clients the handler module makes when imported with its environment."""
    function = next(f for f in functions() if f.logical_id == logical_id)
    for name, value in handler_env(function).items():
        monkeypatch.setenv(name, value)
    made: list[str] = []
    real_client = boto3.client

    def recording_client(service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return real_client(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", recording_client)
    spec = importlib.util.spec_from_file_location(f"init_of_{logical_id}", function.code_dir / "app.py")
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return made


@pytest.mark.parametrize("logical_id", ONLY_SOMETIMES_SAGEMAKER)
def test_their_init_makes_no_sagemaker_client(logical_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made = clients_made_at_init(logical_id, monkeypatch)
    assert "sagemaker" not in made, f"{logical_id} makes these clients at init: {made}"


def test_the_probe_sees_a_sagemaker_client_made_at_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: EvaluateModel reads the registry on every call, so it makes its client at init."""
    assert "sagemaker" in clients_made_at_init("EvaluateModelFunction", monkeypatch)
