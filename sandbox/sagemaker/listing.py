"""ListTrainingJobs, ListTransformJobs, ListHyperParameterTuningJobs and ListModels over the emulator's
records: the filters, sort orders and pages of each API reference page (sagemaker/latest/APIReference/
API_ListTrainingJobs, API_ListTransformJobs, API_ListHyperParameterTuningJobs, API_ListModels).

Members and enums are botocore's service model's (``sandbox.aws.aws_validation`` has already checked
the request against it when it came through the API).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.sagemaker.errors import validation_error

# ASSUMPTION: the API reference gives MaxResults' range (1-100) but not its default; 10 is what the
# paginated CLI and SDKs cope with either way.
DEFAULT_MAX_RESULTS = 10
MAX_RESULTS = 100


@dataclass(frozen=True)
class Listing:
    """One List* API: its summaries' key, the name and status members, what SortBy may name, the
    default order (each page's "SortOrder ... The default is ..."), and which members a summary keeps."""

    result_key: str
    name_key: str
    status_key: str | None
    summary_keys: tuple[str, ...]
    default_order: str
    # ListTrainingJobs: "the MaxResults number of training jobs are first retrieved ignoring the
    # StatusEquals parameter and then they are filtered by the StatusEquals parameter".
    status_after_page: bool = False


TRAINING_JOBS = Listing(
    result_key="TrainingJobSummaries",
    name_key="TrainingJobName",
    status_key="TrainingJobStatus",
    summary_keys=(
        "TrainingJobName",
        "TrainingJobArn",
        "CreationTime",
        "TrainingEndTime",
        "LastModifiedTime",
        "TrainingJobStatus",
        "SecondaryStatus",
    ),
    default_order="Ascending",
    status_after_page=True,
)
TRANSFORM_JOBS = Listing(
    result_key="TransformJobSummaries",
    name_key="TransformJobName",
    status_key="TransformJobStatus",
    summary_keys=(
        "TransformJobName",
        "TransformJobArn",
        "CreationTime",
        "TransformEndTime",
        "LastModifiedTime",
        "TransformJobStatus",
        "FailureReason",
    ),
    default_order="Descending",
)
TUNING_JOBS = Listing(
    result_key="HyperParameterTuningJobSummaries",
    name_key="HyperParameterTuningJobName",
    status_key="HyperParameterTuningJobStatus",
    summary_keys=(
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobArn",
        "HyperParameterTuningJobStatus",
        "Strategy",
        "CreationTime",
        "HyperParameterTuningEndTime",
        "LastModifiedTime",
        "TrainingJobStatusCounters",
        "ObjectiveStatusCounters",
        "ResourceLimits",
    ),
    default_order="Ascending",
)
MODELS = Listing(
    result_key="Models",
    name_key="ModelName",
    status_key=None,
    summary_keys=("ModelName", "ModelArn", "CreationTime"),
    default_order="Descending",
)


def _time(value: Any, member: str) -> datetime:
    """A request timestamp: a datetime (in process), epoch seconds or ISO 8601 (the JSON protocol)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return _time(float(value), member)
    except ValueError:
        pass
    try:
        return _time(datetime.fromisoformat(str(value)), member)
    except ValueError:
        raise validation_error(f"Value {value!r} at '{member}' is not a timestamp") from None


def _milliseconds(value: datetime) -> datetime:
    """The precision the API returns (and so a client sends back): a job is not "after" its own time."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise validation_error(f"Invalid pagination token {token!r}") from None
    return max(0, offset)


def _matches(record: Mapping[str, Any], request: Mapping[str, Any], listing: Listing) -> bool:
    if request.get("NameContains") and str(request["NameContains"]) not in str(record[listing.name_key]):
        return False
    bounds: list[tuple[str, str, Callable[[datetime, datetime], bool]]] = [
        ("CreationTimeAfter", "CreationTime", lambda value, bound: value > bound),
        ("CreationTimeBefore", "CreationTime", lambda value, bound: value < bound),
        ("LastModifiedTimeAfter", "LastModifiedTime", lambda value, bound: value > bound),
        ("LastModifiedTimeBefore", "LastModifiedTime", lambda value, bound: value < bound),
    ]
    for member, field_name, holds in bounds:
        if request.get(member) is None:
            continue
        value = record.get(field_name) or record.get("CreationTime")
        if value is None or not holds(
            _milliseconds(_time(value, field_name)), _time(request[member], member)
        ):
            return False
    return True


def _sort_key(listing: Listing, sort_by: str) -> Callable[[Mapping[str, Any]], Any]:
    if sort_by == "Name":
        return lambda record: str(record[listing.name_key])
    if sort_by == "Status" and listing.status_key is not None:
        status_key = listing.status_key
        return lambda record: (str(record[status_key]), record["CreationTime"])
    return lambda record: record["CreationTime"]


def list_records(
    records: Iterable[Mapping[str, Any]], request: Mapping[str, Any], listing: Listing
) -> dict[str, Any]:
    """One page of summaries and, when more follow, its NextToken."""
    limit = int(request.get("MaxResults") or DEFAULT_MAX_RESULTS)
    if not 1 <= limit <= MAX_RESULTS:
        raise validation_error(
            f"Value {limit} at 'maxResults' failed to satisfy constraint: Member must have value between "
            f"1 and {MAX_RESULTS}"
        )
    status = request.get("StatusEquals")
    chosen = [
        record
        for record in records
        if _matches(record, request, listing)
        and (listing.status_after_page or not status or record.get(listing.status_key or "") == status)
    ]
    descending = (request.get("SortOrder") or listing.default_order) == "Descending"
    chosen.sort(key=_sort_key(listing, str(request.get("SortBy") or "CreationTime")), reverse=descending)
    start = _offset(request.get("NextToken"))
    page = chosen[start : start + limit]
    if listing.status_after_page and status:
        page = [record for record in page if record.get(listing.status_key or "") == status]
    result: dict[str, Any] = {
        listing.result_key: [
            {key: record[key] for key in listing.summary_keys if record.get(key) is not None}
            for record in page
        ]
    }
    if start + limit < len(chosen):
        result["NextToken"] = _token(start + limit)
    return result
