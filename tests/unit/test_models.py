"""The contracts are strict: a value must already have its JSON type; only datetimes are parsed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from snowsage.models import ExecutionInput, Manifest, TrainingResult, Verdict
from tests.unit.builders import manifest_document

VERDICT: dict[str, Any] = {
    "promote": True,
    "approval_status": "Approved",
    "metric_name": "validation:auc",
    "metric_value": 0.9,
    "threshold": 0.75,
    "champion_metric": None,
    "champion_package_arn": None,
    "reason": "meets the threshold",
    "package_metadata": {"run_id": "r"},
}


def _with(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**document, **changes}


@pytest.mark.parametrize(
    ("model", "document", "field"),
    [
        (Manifest, _with(manifest_document(), version="1"), "version"),
        (Verdict, _with(VERDICT, promote="true"), "promote"),
        (Verdict, _with(VERDICT, promote=1), "promote"),
        (Verdict, _with(VERDICT, metric_value="0.9"), "metric_value"),
        (
            TrainingResult,
            {"job_name": "j", "model_data_url": "s3://b/k", "training_seconds": "12"},
            "training_seconds",
        ),
        (ExecutionInput, {"manifest": "s3://b/k", "evaluation_threshold": "0.8"}, "evaluation_threshold"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused(
    model: type[BaseModel], document: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        model.model_validate(document)
    assert [item["loc"][0] for item in error.value.errors()] == [field]


def test_a_manifest_row_count_given_as_text_is_refused() -> None:
    document = manifest_document()
    document["score"]["files"][0]["rows"] = "60"
    with pytest.raises(ValidationError, match="valid integer"):
        Manifest.model_validate(document)


def test_json_numbers_and_iso_datetimes_are_accepted() -> None:
    """An int where a float is expected is still a JSON number; a datetime arrives as ISO text."""
    verdict = Verdict.model_validate(_with(VERDICT, metric_value=1, threshold=0))
    assert (verdict.metric_value, verdict.threshold) == (1.0, 0.0)
    manifest = Manifest.model_validate(manifest_document())
    assert manifest.created_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
