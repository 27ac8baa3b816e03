"""The model registry calls: valid requests by construction, and no decision on an error name."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import regex
from botocore.exceptions import ClientError, EndpointConnectionError

from snowsage.errors import RegistrationRefused, RegistryUnavailable
from snowsage.evaluation import approve_published, evaluate_model, judge, register_model
from snowsage.gate_metrics import ChampionOnExport, ChampionQuestion
from snowsage.models import EvaluateModelRequest, PublishModelRequest, RegisterModelRequest
from snowsage.registry import (
    ModelPackage,
    SageMakerModelRegistry,
    client_token,
    customer_metadata,
    description,
    metadata_key,
    metadata_value,
)
from tests.unit.botocore_shapes import operation, request_problems

GROUP = "snowsage-merchant-risk"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
CHAMPION_ARN = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/1"


def _shape_pattern(name: str) -> Any:
    input_shape = operation("sagemaker", "CreateModelPackage").input_shape
    metadata = input_shape.members["CustomerMetadataProperties"]
    shape = metadata.key if name == "key" else metadata.value
    return shape, regex.compile(shape.metadata["pattern"])


def _valid(name: str, text: str) -> bool:
    shape, pattern = _shape_pattern(name)
    return bool(pattern.fullmatch(text)) and shape.metadata["min"] <= len(text) <= shape.metadata["max"]


def _champion(metric: float = 0.8) -> ModelPackage:
    return ModelPackage(
        arn=CHAMPION_ARN,
        group=GROUP,
        version=1,
        approval_status="Approved",
        image_uri=IMAGE,
        model_data_url="s3://b/models/1/model.tar.gz",
        metadata={"metric_name": "validation:auc", "metric_value": repr(metric)},
    )


class _Registry:
    def __init__(self, champion: ModelPackage | None) -> None:
        self.champion = champion

    def latest_approved(self, group: str) -> ModelPackage | None:
        return self.champion

    def get(self, arn: str) -> ModelPackage:
        raise AssertionError("not used")


class _OnThisExport:
    """The champion scored on this export's rows in Snowflake: 0.79."""

    def measure(self, question: ChampionQuestion) -> ChampionOnExport:
        return ChampionOnExport(0.79, rows=400)


class _NoLease:
    def acquire(self, dataset: str, holder: str, now: datetime, seconds: int) -> None:
        return None


def _verdict(value: float, champion: ModelPackage | None) -> Any:
    request = EvaluateModelRequest(
        execution_name="merchant_risk-20261126t030000z",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:snowsage-pipeline:merchant_risk-20261126t030000z",
        dataset="merchant_risk",
        model={},
        features=["TXN_COUNT"],
        image_uri=IMAGE,
        transform_timeout_seconds=3600,
        evaluation={"metric_name": "validation:auc", "threshold": 0.75},
        model_package_group=GROUP,
        run_id="merchant-risk-20261126-h0ea49c7cba172b3c",
        export_id="20261126t030000z",
        training={
            "job_name": "snowsage-merchant-risk-20261126-h0ea49c7cba172b3c-train-0",
            "model_data_url": "s3://b/models/m.tar.gz",
            "final_metrics": [{"MetricName": "validation:auc", "Value": value}],
        },
    )
    return evaluate_model(request, _Registry(champion), _OnThisExport(), _NoLease(), datetime.now(UTC))  # type: ignore[arg-type]


# --- item 1: metadata valid by construction ------------------------------------------------------


@pytest.mark.parametrize("value", [0.9, 0.78])
def test_second_run_metadata_matches_the_api_patterns(value: float) -> None:
    """The second run of a dataset: a champion exists and the gate reason names it, "(0.8)"."""
    verdict = _verdict(value, _champion())
    assert "champion v1" in verdict.reason and "(" in verdict.reason
    for key, item in verdict.package_metadata.items():
        assert _valid("key", key), key
        assert _valid("value", item), item
    assert "validation rows 0.79 on 400 rows recorded 0.8" in verdict.package_metadata["gate"]
    assert verdict.package_metadata["champion_metric_recorded"] == "0.8"


def _texts() -> Iterator[str]:
    alphabet = string.printable + "éß€中🙂\u00a0\u2028\u0301\x00\x7f;()[]{},'\"<>|\\"
    yield from ["", " ", ";", "()", "a" * 1000, "\n\t", "\u0301" * 3, "🙂" * 300]
    for start in range(0, len(alphabet), 7):
        yield alphabet[start : start + 40] * 9
    for a in alphabet:
        yield f"{a}x{a}"


def test_any_text_maps_to_a_valid_metadata_key_and_value() -> None:
    for text in _texts():
        assert _valid("key", metadata_key(text)), repr(text)
        assert _valid("value", metadata_value(text)), repr(text)


def test_valid_text_is_kept_as_it_is() -> None:
    text = "validation:auc 0.91 meets the threshold 0.75 = ok @ run/1_a-b+c é 5"
    assert metadata_value(text) == text
    assert metadata_value(metadata_value("a;b (c)")) == metadata_value("a;b (c)") == "a b c"


def test_metadata_map_is_bounded() -> None:
    values = {f"k{i}": ";" * 300 for i in range(60)}
    assert len(customer_metadata(values)) == 50


def test_any_text_maps_to_a_valid_description() -> None:
    shape = operation("sagemaker", "CreateModelPackage").input_shape.members["ModelPackageDescription"]
    for text in _texts():
        result = description(text * 3)
        assert regex.fullmatch(shape.metadata["pattern"], result), repr(text)
        assert len(result) <= shape.metadata["max"]


# --- a recording SageMaker client ----------------------------------------------------------------


def _error(code: str, status: int = 400, operation_name: str = "CreateModelPackageGroup") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation_name,
    )


class _Paginator:
    def __init__(self, client: FakeSageMaker) -> None:
        self.client = client

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.client.record("ListModelPackageGroups", kwargs)
        if self.client.list_error:
            raise self.client.list_error
        names = [g for g in self.client.groups if kwargs["NameContains"] in g]
        # Two pages: the exact name may be on any page.
        yield {"ModelPackageGroupSummaryList": [{"ModelPackageGroupName": f"{n}-other"} for n in names]}
        yield {"ModelPackageGroupSummaryList": [{"ModelPackageGroupName": n} for n in names]}


class FakeSageMaker:
    """Records every request; groups appear as a concurrent creator would make them."""

    def __init__(self, groups: set[str] | None = None) -> None:
        self.groups = set(groups or ())
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.list_error: Exception | None = None
        self.create_group_error: Exception | None = None
        self.created_by_someone_else = False
        self.packages_error: Exception | None = None

    def record(self, operation_name: str, request: dict[str, Any]) -> None:
        self.calls.append((operation_name, request))

    def get_paginator(self, name: str) -> _Paginator:
        assert name == "list_model_package_groups"
        return _Paginator(self)

    def create_model_package_group(self, **request: Any) -> dict[str, Any]:
        self.record("CreateModelPackageGroup", request)
        if self.created_by_someone_else:
            self.groups.add(request["ModelPackageGroupName"])
        if self.create_group_error:
            raise self.create_group_error
        self.groups.add(request["ModelPackageGroupName"])
        return {"ModelPackageGroupArn": "arn"}

    def create_model_package(self, **request: Any) -> dict[str, Any]:
        self.record("CreateModelPackage", request)
        if self.packages_error:
            raise self.packages_error
        return {"ModelPackageArn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/2"}

    def update_model_package(self, **request: Any) -> dict[str, Any]:
        self.record("UpdateModelPackage", request)
        if self.packages_error:
            raise self.packages_error
        return {"ModelPackageArn": request["ModelPackageArn"]}

    def list_model_packages(self, **request: Any) -> dict[str, Any]:
        self.record("ListModelPackages", request)
        if self.packages_error:
            raise self.packages_error
        return {"ModelPackageSummaryList": []}

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


def _register_request(value: float = 0.9) -> RegisterModelRequest:
    verdict = _verdict(value, _champion())
    return RegisterModelRequest(
        execution_name="merchant_risk-20261126t030000z",
        dataset="merchant_risk",
        run_id="merchant-risk-20261126-h0ea49c7cba172b3c",
        model_package_group=GROUP,
        image_uri=IMAGE,
        training={"job_name": "snowsage-x-train-0", "model_data_url": "s3://b/models/x/model.tar.gz"},
        evaluation=verdict,
    )


# --- item 2: every request valid; "the group exists" without an error name -----------------------


def test_every_registry_request_matches_botocores_model() -> None:
    client = FakeSageMaker()
    register_model(_register_request(), SageMakerModelRegistry(client))
    assert client.operations() == ["ListModelPackageGroups", "CreateModelPackageGroup", "CreateModelPackage"]
    for operation_name, request in client.calls:
        assert request_problems("sagemaker", operation_name, request) == [], operation_name


def test_the_reason_of_a_second_run_is_a_valid_description() -> None:
    client = FakeSageMaker({GROUP})
    register_model(_register_request(0.78), SageMakerModelRegistry(client))
    (request,) = [r for name, r in client.calls if name == "CreateModelPackage"]
    assert request["ModelApprovalStatus"] == "Rejected"
    assert "champion v1" in request["ModelPackageDescription"]
    assert request_problems("sagemaker", "CreateModelPackage", request) == []


def test_a_promoted_candidate_is_registered_pending_until_published() -> None:
    """The champion is the latest Approved package: a promoted one is pending until its function serves it."""
    client = FakeSageMaker({GROUP})
    register_model(_register_request(0.9), SageMakerModelRegistry(client))
    (request,) = [r for name, r in client.calls if name == "CreateModelPackage"]
    assert request["ModelApprovalStatus"] == "PendingManualApproval"


PUBLISH_EVENT = Path(__file__).resolve().parents[2] / "events" / "publish_model" / "promoted.json"


def _publish_request(promoted: bool) -> PublishModelRequest:
    document = json.loads(PUBLISH_EVENT.read_text())
    document["plan"]["selection"]["promoted"] = promoted
    return PublishModelRequest.model_validate(document)


def test_publication_approves_the_package_this_run_promoted_and_only_that() -> None:
    client = FakeSageMaker({GROUP})
    assert approve_published(_publish_request(promoted=True), SageMakerModelRegistry(client)) is True
    (request,) = [r for name, r in client.calls if name == "UpdateModelPackage"]
    assert request == {
        "ModelPackageArn": _publish_request(True).model.model_package_arn,
        "ModelApprovalStatus": "Approved",
    }
    assert request_problems("sagemaker", "UpdateModelPackage", request) == []
    untouched = FakeSageMaker({GROUP})  # a champion selected by name or as the latest Approved
    assert approve_published(_publish_request(promoted=False), SageMakerModelRegistry(untouched)) is False
    assert untouched.calls == []


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (_error("ThrottlingException"), RegistryUnavailable),
        (_error("ValidationException"), RegistrationRefused),
    ],
)
def test_a_failed_approval_is_transient_or_refused(error: Exception, raised: type[Exception]) -> None:
    client = FakeSageMaker({GROUP})
    client.packages_error = error
    with pytest.raises(raised, match="cannot approve model package"):
        approve_published(_publish_request(promoted=True), SageMakerModelRegistry(client))


def test_an_existing_group_is_not_created_again() -> None:
    client = FakeSageMaker({GROUP})
    register_model(_register_request(), SageMakerModelRegistry(client))
    assert client.operations() == ["ListModelPackageGroups", "CreateModelPackage"]


@pytest.mark.parametrize("code", ["ValidationException", "ResourceInUse", "SomethingNew"])
def test_a_group_created_meanwhile_is_fine_whatever_the_error_says(code: str) -> None:
    client = FakeSageMaker()
    client.created_by_someone_else = True
    client.create_group_error = _error(code)
    register_model(_register_request(), SageMakerModelRegistry(client))
    assert client.operations()[-1] == "CreateModelPackage"


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (_error("ValidationException"), RegistrationRefused),
        (_error("AccessDeniedException"), RegistrationRefused),
        (_error("ResourceLimitExceeded"), RegistrationRefused),
        (_error("ThrottlingException"), RegistryUnavailable),
        (_error("InternalFailure", 500), RegistryUnavailable),
        (_error("Whatever", 503), RegistryUnavailable),
        (EndpointConnectionError(endpoint_url="https://api.sagemaker"), RegistryUnavailable),
    ],
)
def test_a_failed_create_of_an_absent_group_fails_the_run(error: Exception, raised: type[Exception]) -> None:
    client = FakeSageMaker()
    client.create_group_error = error
    with pytest.raises(raised):
        register_model(_register_request(), SageMakerModelRegistry(client))
    assert "CreateModelPackage" not in client.operations()


def test_a_refused_package_fails_the_run() -> None:
    client = FakeSageMaker({GROUP})
    client.packages_error = _error("ValidationException", operation_name="CreateModelPackage")
    with pytest.raises(RegistrationRefused, match="ValidationException"):
        register_model(_register_request(), SageMakerModelRegistry(client))


def test_a_retried_registration_reuses_its_idempotency_token() -> None:
    first, second = FakeSageMaker({GROUP}), FakeSageMaker({GROUP})
    register_model(_register_request(), SageMakerModelRegistry(first))
    register_model(_register_request(), SageMakerModelRegistry(second))
    tokens = [r["ClientToken"] for c in (first, second) for n, r in c.calls if n == "CreateModelPackage"]
    assert tokens[0] == tokens[1] == client_token(GROUP, "snowsage-x-train-0")


def test_no_champion_when_the_group_does_not_exist() -> None:
    client = FakeSageMaker()
    assert SageMakerModelRegistry(client).latest_approved(GROUP) is None
    assert client.operations() == ["ListModelPackageGroups"]


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (_error("ValidationException", operation_name="ListModelPackages"), RegistrationRefused),
        (_error("ThrottlingException", operation_name="ListModelPackages"), RegistryUnavailable),
    ],
)
def test_errors_listing_an_existing_group_are_not_swallowed(
    error: Exception, raised: type[Exception]
) -> None:
    """Before: any message with "does not exist" / "not found" meant "no champion"."""
    client = FakeSageMaker({GROUP})
    client.packages_error = error
    with pytest.raises(raised):
        SageMakerModelRegistry(client).latest_approved(GROUP)


def test_an_unreadable_group_list_is_transient_or_refused() -> None:
    client = FakeSageMaker()
    client.list_error = _error("ThrottlingException", operation_name="ListModelPackageGroups")
    with pytest.raises(RegistryUnavailable):
        SageMakerModelRegistry(client).latest_approved(GROUP)


def test_judge_reason_is_unchanged_for_people() -> None:
    """ML_RUNS and the notice keep the reason as written; only the metadata is mapped."""
    judgement = judge("validation:auc", 0.9, 0.75, _champion())
    assert judgement.reason.endswith("champion v1 (0.8, as recorded: not scored on this export)")
